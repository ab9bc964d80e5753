//! `sfu` is the facade over the project's crates: link it to embed a WebRTC
//! Selective Forwarding Unit in your own process, or link the crates one by
//! one when you need only part of it.
//!
//! - [`router`] ([`sfu_core`]): the sans-IO packet router — sessions, tracks,
//!   subscriptions, simulcast, RTP rewriting, RTCP termination.
//! - [`nack`] ([`sfu_nack`]): the NACK shield — retransmission cache, loss
//!   detection, NACK/RTX, per-hop recovery.
//! - [`net`] ([`sfu_net`]): one UDP port for every peer — ICE-lite, DTLS-SRTP,
//!   SDP and a mio driver.
//! - [`e2ee`] ([`sfu_e2ee`]): the frame encryption clients link — SFrame with
//!   MLS keying.
//!
//! The reference servers live in `examples/`, the benchmarks in `benches/`.

pub use sfu_core as router;
pub use sfu_e2ee as e2ee;
pub use sfu_nack as nack;
pub use sfu_net as net;
