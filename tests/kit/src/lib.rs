//! The shared test kit of the workspace (not published): everything a test
//! needs to stand in for the world around an SFU, in one place.
//!
//! - [`rng`]: a seeded generator, so every failure reproduces from its seed;
//! - [`rtp`]: RTP and RTCP packet builders;
//! - [`netem`]: a network emulator for one direction of a link (seeded loss,
//!   burst loss, delay, jitter, reordering, duplication);
//! - [`peer`]: a stand-in WebRTC client (SDP offers and answers, ICE checks,
//!   a DTLS client, SRTP) built only on implementations we did not write;
//! - [`alloc`]: a per-thread counting allocator for no-allocation tests;
//! - [`forged`]: datagrams a stranger builds to make an SFU work;
//! - [`use_srtp`]: the SRTP profiles a DTLS hello offers or selects, and a
//!   ClientHello rewritten to offer others.
//!
//! It depends on none of the project's crates, so any of them can use it.
#![allow(missing_docs)]

pub mod alloc;
pub mod forged;
pub mod netem;
pub mod peer;
pub mod rng;
pub mod rtp;
pub mod use_srtp;
