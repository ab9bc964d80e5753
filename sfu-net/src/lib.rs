//! `sfu-net` puts the router on the wire through one UDP port for every
//! peer: each datagram is classified by its first byte (RFC 7983), STUN
//! binding requests are answered ICE-lite style and routed by the ufrag in
//! USERNAME, and DTLS and SRTP are routed only by a 5-tuple a verified
//! check bound to a session; a DTLS 1.2 server checks the client's
//! certificate against the fingerprint from its offer and keys SRTP/SRTCP
//! (replay protection on, only negotiated SSRCs decrypted); consent
//! freshness (RFC 7675) and close_notify end sessions. It deliberately
//! does not route media (that is `sfu-core`'s job), open sockets, read the
//! clock or draw randomness per packet: the [`Endpoint`] is sans-IO.
//!
//! # Run-loop contract
//!
//! One [`Endpoint`] per UDP socket. For each received datagram call
//! [`Endpoint::handle_datagram`] with the current `Instant`, the peer's
//! address and the local address it arrived on; when the deadline from
//! [`Endpoint::poll_timeout`] passes call [`Endpoint::handle_timeout`].
//! After every such call, drain [`Endpoint::poll_transmit`] (send each
//! datagram from `source` to `destination`) and [`Endpoint::poll_event`]
//! until both return `None`, then sleep until the next datagram or the new
//! `poll_timeout`. Queues are bounded: a driver that does not drain loses
//! datagrams and events (counted in [`EndpointStats`]). Sessions are added
//! with [`Endpoint::add_session`] before the peer's first check; media is
//! sent with [`Endpoint::send_rtp`] / [`Endpoint::send_rtcp`] once
//! [`EndpointEvent::Connected`] arrived. A session ends with exactly one
//! [`EndpointEvent::Closed`].
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod demux;
pub mod driver;
pub mod dtls;
mod endpoint;
mod error;
mod event;
pub mod ice;
pub mod node;
pub mod sdp;
mod session;
pub mod srtp;
mod stats;
pub mod stun;
mod transport;

pub use dtls::{Certificate, Fingerprint};
pub use endpoint::{Endpoint, EndpointConfig};
pub use error::Error;
pub use event::{CloseReason, EndpointEvent, Transmit};
pub use ice::IceCredentials;
pub use node::{
    Negotiated, Node, NodeConfig, NodeEvent, NodeStats, PullTrack, PushTrack, RelayKeys,
    RelayTrack, SdpType, SessionDescription, TrackOutcome, TrackState,
};
pub use session::{SessionKey, TransportConfig};
/// Sessions are named by the router's id in every layer.
pub use sfu_core::SessionId;
pub use srtp::SrtpProfile;
pub use stats::EndpointStats;
