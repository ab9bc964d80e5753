//! `sfu-net` is a whole WebRTC SFU without I/O: the [`Node`] takes
//! datagrams, time and commands and gives back datagrams and events. It
//! owns one UDP port's worth of transport (the [`Endpoint`]: RFC 7983
//! demux, ICE-lite routed by ufrag, a DTLS 1.2 server that checks the
//! client's certificate against its offer, SRTP/SRTCP with replay
//! protection, consent freshness), the `sfu-core` router with its NACK
//! shield, the SDP offer/answer of every session ([`sdp`]), relay links
//! to other nodes, direct sessions for participants inside the
//! application's process ([`Node::open_direct`]; their pulls come out of
//! [`Node::poll_direct`], drained like the other queues) and sessions the
//! node offers toward a third party that only answers, such as another
//! SFU or a realtime AI endpoint ([`Node::open_third_party`], then
//! [`Node::accept_answer`]: a full controlling ICE agent of [`ice`], and
//! the DTLS client when the answer asks for it). [`datachannel`] holds
//! the data-channel engine (SCTP over DTLS, DCEP, fan-out), not yet wired
//! into sessions. It deliberately opens no socket, starts no thread,
//! reads no clock and draws no randomness of its own (the node's comes
//! from the seed in its [`NodeConfig`]; the one exception is the SCTP
//! stack under [`datachannel`], which draws its verification tags and
//! initial TSNs from the thread's RNG, so its packets, not its timing,
//! differ between runs). The [`driver`] runs a node on a mio thread
//! with real sockets; any other loop can drive it instead.
//!
//! # Run-loop contract
//!
//! > After every input — a datagram, a timeout or a command — drain
//! > [`Node::poll_transmit`] and [`Node::poll_event`] until both return
//! > `None`, then wait for the next datagram or [`Node::poll_timeout`],
//! > whichever comes first.
//!
//! 1. A datagram arrives on a media socket: [`Node::handle_datagram`] with
//!    the time, the sender's address and the local address it arrived on.
//! 2. The deadline from [`Node::poll_timeout`] passes: [`Node::handle_timeout`].
//! 3. The application asks for something: a command such as
//!    [`Node::create_session`], [`Node::push_tracks`], [`Node::pull_tracks`],
//!    [`Node::apply_answer`], [`Node::close_tracks`], [`Node::set_layer`],
//!    [`Node::open_relay`] or [`Node::open_third_party`] (results come back
//!    at once; errors per track).
//! 4. Send every [`Transmit`] from `source` to `destination`; act on every
//!    [`NodeEvent`]. Most datagrams answer one that came in; the node also
//!    sends on its own from timers (DTLS retransmissions, reports, and the
//!    connectivity and consent checks of third-party sessions, sent from
//!    the announced candidate addresses, so those must be addresses the
//!    socket can send from).
//!
//! Queues are bounded: a loop that does not drain loses datagrams and
//! events (counted in [`NodeStats`]). A complete loop on one socket:
//!
//! ```
//! use std::net::UdpSocket;
//! use std::time::{Duration, Instant};
//! use sfu_net::{Certificate, Node, NodeConfig, NodeEvent};
//!
//! let socket = UdpSocket::bind("0.0.0.0:8443")?;
//! # let socket = UdpSocket::bind("127.0.0.1:0")?; // a free port for the doctest
//! let local = socket.local_addr()?;
//! let seed = [7u8; 32]; // in production: 32 bytes from the OS generator
//! let mut node = Node::new(
//!     NodeConfig::new(Certificate::generate()?, seed)
//!         .with_candidates(vec!["192.0.2.1:8443".parse()?]),
//! )?;
//! // 3. A command: a WHIP publisher's offer, answered at once.
//! # let offer = include_str!("../tests/fixtures/chromium156_publish_offer.sdp");
//! let publication = node.publish(Instant::now(), &offer)?;
//! println!("answer for the client:\n{}", publication.answer);
//! let mut buf = [0u8; 2048];
//! # let mut turns = 0;
//! loop {
//! #   turns += 1;
//! #   if turns > 3 { break; } // the doctest stops; a server loops for good
//!     // 4. Drain everything the last input produced.
//!     while let Some(t) = node.poll_transmit() {
//!         socket.send_to(&t.contents, t.destination)?;
//!     }
//!     while let Some(event) = node.poll_event() {
//!         if let NodeEvent::Closed { session, reason } = event {
//!             println!("{session} closed: {reason:?}");
//!         }
//!     }
//!     // Wait for a datagram or the node's next deadline.
//!     let wait = node
//!         .poll_timeout()
//!         .map(|t| t.saturating_duration_since(Instant::now()))
//!         .unwrap_or(Duration::from_secs(1));
//!     socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
//!     match socket.recv_from(&mut buf) {
//!         // 1. A datagram.
//!         Ok((n, from)) => node.handle_datagram(Instant::now(), from, local, &buf[..n]),
//!         // 2. The deadline.
//!         Err(_) => node.handle_timeout(Instant::now()),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/std_loop` is this loop with WHIP/WHEP over HTTP around it,
//! and whole calls run in simulated time the same way in `tests/node_*`.
//! The [`Endpoint`] alone keeps the same contract one layer down: one per
//! socket, sessions keyed by the caller, [`EndpointEvent`]s out.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod cluster;
pub mod datachannel;
pub mod demux;
pub mod driver;
pub mod dtls;
mod endpoint;
mod error;
mod event;
pub mod ice;
pub mod node;
mod pool;
pub mod sdp;
mod session;
pub mod srtp;
mod stats;
pub mod stun;
mod timers;
mod transport;

pub use dtls::{Certificate, Fingerprint};
pub use endpoint::{Endpoint, EndpointConfig};
pub use error::Error;
pub use event::{CloseReason, EndpointEvent, Transmit};
pub use ice::IceCredentials;
pub use node::{
    DirectPacket, DirectPull, DirectTrack, Negotiated, Node, NodeConfig, NodeEvent, NodeStats,
    PullTrack, PushTrack, ReceiveTrack, RelayKeys, RelayLayer, RelayTrack, SdpType,
    SessionDescription, ThirdPartyOffer, TrackEndReason, TrackInfo, TrackLocation, TrackOutcome,
    TrackState, TrackStatus,
};
pub use session::{SessionKey, TransportConfig};
/// Sessions are named by the router's id in every layer.
pub use sfu_core::SessionId;
pub use srtp::SrtpProfile;
pub use stats::EndpointStats;
