//! `sfu-e2ee` is the crate clients link for end-to-end encrypted calls through
//! an SFU: SFrame (RFC 9605) encryption of whole media frames, codec-aware clear
//! bytes so packetizers and the SFU still find keyframes and NAL/OBU
//! boundaries, per-sender SFrame keys from an MLS (RFC 9420) group, a safety
//! number for humans to compare, and the designated-committer join/leave
//! protocol as a sans-IO state machine. It deliberately does not touch RTP,
//! sockets, the SFU (which never links it and only ever sees ciphertext), or
//! the application server beyond the shape of the messages it must broadcast
//! in one total order.
//!
//! Run-loop contract: a [`committer::CallMember`] is fed every message of the
//! application server's broadcast channel, in the server's order, with
//! `handle_broadcast(bytes)`; after each call drain `poll_transmit()`
//! (messages for the server, in order: a Welcome always precedes its Commit)
//! and `poll_event()` until both return `None`. On
//! [`committer::CallEvent::EpochChanged`] take the epoch's SFrame keys from
//! [`mls::MlsKeying::epoch_keys`] and install them in the
//! [`frame::FrameEncryptor`] and the [`frame::FrameDecryptor`]'s key ring with
//! the current time; call the ring's `handle_timeout(now)` when its
//! `poll_timeout()` deadline passes so previous-epoch keys expire. The
//! protocol state machine needs no clock; only the grace period is timed, and
//! time is always an argument. Randomness is drawn only by the openmls
//! provider (fresh HPKE and signature keys); SFrame and the state machine
//! take none. The server side is [`relay::CallRelay`]: it sequences, stamps
//! senders and designates a founder, and holds no keys.

#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod codec;
pub mod committer;
pub mod error;
pub mod frame;
pub mod mls;
pub mod relay;
pub mod safety;
pub mod sframe;
pub mod wire;

pub use error::Error;
