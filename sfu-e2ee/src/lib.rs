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
//! Run-loop contract: a [`committer::CallMember`] is driven by
//! `handle_broadcast(now, bytes)` for every message of the application
//! server's broadcast channel, in the server's order, and `handle_timeout(now)`
//! when the deadline from `poll_timeout()` passes; after each call drain
//! `poll_transmit()` (messages to send to the server, in order: a Welcome always
//! precedes its Commit) and `poll_event()` until they return `None`. Media goes
//! through [`frame::FrameEncryptor`]/[`frame::FrameDecryptor`] with keys the
//! member installs on every epoch change. No call reads a clock or a random
//! source except through the MLS provider the caller constructs.

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

pub use error::E2eeError;
