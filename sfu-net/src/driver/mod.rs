//! The mio driver: one thread owning the UDP socket, the sans-IO
//! [`Endpoint`](crate::Endpoint) and an `sfu-core` router, turning commands
//! from application threads (publish, view, attach, layer preference, close)
//! into sessions and tracks, and reporting what happens on a channel.
//!
//! Anything that wants another loop (tokio, io_uring, a test harness) can
//! drive `Endpoint` and `Router` itself: this module is one thin loop
//! around them, not the only way in.

mod event_loop;
mod relay;
mod signaling;
mod udp;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sdp::{Capabilities, MediaKind};
use crate::{Certificate, EndpointConfig};
use crossbeam_channel::{Receiver, Sender};
use mio::Waker;
use sfu_core::{EndReason, RouterConfig, SessionId, ShieldConfig, SubscriptionId};

pub use relay::{RelayKeys, RelayOffer, RelayTrack};
pub use udp::{BATCH, MAX_DATAGRAM};

/// How long a request waits for the driver thread before giving up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the driver needs to start.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The UDP address every peer talks to (one port for everyone).
    pub bind: SocketAddr,
    /// The IP announced in SDP candidates, when the bind address is not
    /// reachable as is (NAT, containers). Defaults to the bind IP.
    pub public_ip: Option<IpAddr>,
    /// A second socket for the other address family (e.g. `[::]:8443` next
    /// to an IPv4 `bind`), announced as a second candidate.
    pub bind_other_family: Option<SocketAddr>,
    /// The IP announced for the second socket, like `public_ip`.
    pub public_ip_other_family: Option<IpAddr>,
    /// Router settings.
    pub router: RouterConfig,
    /// NACK shield settings.
    pub shield: ShieldConfig,
    /// Endpoint limits and timers.
    pub endpoint: EndpointConfig,
    /// Codecs, feedback and extensions the SFU negotiates.
    pub capabilities: Capabilities,
    /// The DTLS certificate; generated at start when `None`.
    pub certificate: Option<Certificate>,
    /// Kernel receive and send buffer asked for each UDP socket.
    pub socket_buffer: usize,
}

impl DriverConfig {
    /// Defaults for everything but the address.
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            public_ip: None,
            bind_other_family: None,
            public_ip_other_family: None,
            router: RouterConfig::default(),
            shield: ShieldConfig::default(),
            endpoint: EndpointConfig::default(),
            capabilities: Capabilities::default(),
            certificate: None,
            socket_buffer: 4 * 1024 * 1024,
        }
    }
}

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The offer is not one we can answer; the message names why.
    #[error("unsupported offer: {0}")]
    Sdp(#[from] crate::sdp::SdpError),
    /// The endpoint refused (limits, duplicate ufrag, bad fingerprint...).
    #[error("transport: {0}")]
    Net(#[from] crate::Error),
    /// The router refused (limits, unknown session or track...).
    #[error("router: {0}")]
    Router(#[from] sfu_core::Error),
    /// No such session in the driver.
    #[error("unknown session {0}")]
    UnknownSession(SessionId),
    /// The session is not a viewer (or not a publisher) as the request needs.
    #[error("session {0} has the wrong role for this request")]
    WrongRole(SessionId),
    /// Both sockets would be of the same address family.
    #[error("bind_other_family must be of the other address family than bind")]
    SameFamily,
    /// The socket could not be opened.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The driver thread is gone or did not answer in time.
    #[error("the driver thread is not running")]
    Stopped,
}

/// The channel [`DriverEvent`]s arrive on (clone it to read from several threads).
pub type Events = Receiver<DriverEvent>;

/// A published session.
#[derive(Debug, Clone)]
pub struct Publication {
    /// The session id (use it for `attach`, `close`).
    pub session: SessionId,
    /// The SDP answer for the client.
    pub answer: String,
    /// The tracks it publishes: `(name, kind, simulcast rids)`.
    pub tracks: Vec<(String, MediaKind, Vec<String>)>,
}

/// A viewing session.
#[derive(Debug, Clone)]
pub struct Viewing {
    /// The session id.
    pub session: SessionId,
    /// The SDP answer for the client.
    pub answer: String,
}

/// What the driver reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverEvent {
    /// ICE and DTLS completed: media can flow.
    Connected {
        /// The session.
        session: SessionId,
    },
    /// A session ended (consent expired, close_notify, failure, or closed
    /// by the application); its tracks ended with it.
    Closed {
        /// The session.
        session: SessionId,
        /// Why, in words.
        reason: String,
    },
    /// A viewer stopped receiving a track.
    SubscriptionEnded {
        /// The viewer.
        subscriber: SessionId,
        /// The subscription.
        subscription: SubscriptionId,
        /// Why.
        reason: EndReason,
    },
}

/// Counters of the endpoint and router, as a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverStats {
    /// The endpoint's counters.
    pub endpoint: crate::EndpointStats,
    /// The router's counters.
    pub router: sfu_core::RouterStats,
    /// Live sessions.
    pub sessions: usize,
    /// Datagrams the socket refused (send buffer full).
    pub send_dropped: u64,
}

pub(crate) enum Command {
    Publish(String, Sender<Result<Publication, DriverError>>),
    View {
        offer: String,
        source: Option<SessionId>,
        layer: Option<String>,
        reply: Sender<Result<Viewing, DriverError>>,
    },
    Attach {
        viewer: SessionId,
        source: SessionId,
        reply: Sender<Result<(), DriverError>>,
    },
    PreferLayer {
        viewer: SessionId,
        rid: Option<String>,
        reply: Sender<Result<(), DriverError>>,
    },
    Close(SessionId, Sender<Result<(), DriverError>>),
    Pull {
        session: SessionId,
        source: SessionId,
        reply: Sender<Result<String, DriverError>>,
    },
    Answer {
        session: SessionId,
        answer: String,
        reply: Sender<Result<(), DriverError>>,
    },
    RelayOut {
        source: SessionId,
        bind: SocketAddr,
        keys: Option<RelayKeys>,
        reply: Sender<Result<RelayOffer, DriverError>>,
    },
    RelayIn {
        offer: RelayOffer,
        bind: SocketAddr,
        keys: Option<RelayKeys>,
        reply: Sender<Result<(SessionId, SocketAddr), DriverError>>,
    },
    RelayConnect {
        session: SessionId,
        remote: SocketAddr,
        reply: Sender<Result<(), DriverError>>,
    },
    Stats(Sender<Result<DriverStats, DriverError>>),
    Shutdown,
}

/// A cheap, clonable handle for application threads.
#[derive(Clone)]
pub struct DriverHandle {
    commands: Sender<Command>,
    waker: Arc<Waker>,
}

impl std::fmt::Debug for DriverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DriverHandle")
    }
}

impl DriverHandle {
    fn request<T>(
        &self,
        make: impl FnOnce(Sender<Result<T, DriverError>>) -> Command,
    ) -> Result<T, DriverError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.commands
            .send(make(tx))
            .map_err(|_| DriverError::Stopped)?;
        self.waker.wake().map_err(|_| DriverError::Stopped)?;
        rx.recv_timeout(REQUEST_TIMEOUT)
            .map_err(|_| DriverError::Stopped)?
    }

    /// A client publishes (WHIP): answers its offer and publishes each of
    /// its sending sections as a track named by its mid.
    pub fn publish(&self, offer: &str) -> Result<Publication, DriverError> {
        self.request(|reply| Command::Publish(offer.to_owned(), reply))
    }

    /// A client views (WHEP): answers its receive-only offer with our
    /// SSRCs and, when `source` is given, pulls that session's tracks into
    /// its sections (by kind, in order). `layer` is the preferred RID of a
    /// simulcast video track (`None`: the highest).
    pub fn view(
        &self,
        offer: &str,
        source: Option<SessionId>,
        layer: Option<String>,
    ) -> Result<Viewing, DriverError> {
        self.request(|reply| Command::View {
            offer: offer.to_owned(),
            source,
            layer,
            reply,
        })
    }

    /// Pulls `source`'s tracks into a viewer's idle sections (a viewer that
    /// arrived first, or whose publisher restarted). Sequence numbers and
    /// timestamps continue where the previous source left them.
    pub fn attach(&self, viewer: SessionId, source: SessionId) -> Result<(), DriverError> {
        self.request(|reply| Command::Attach {
            viewer,
            source,
            reply,
        })
    }

    /// Changes a viewer's preferred simulcast layer (switches at the next
    /// keyframe of that layer).
    pub fn prefer_layer(&self, viewer: SessionId, rid: Option<String>) -> Result<(), DriverError> {
        self.request(|reply| Command::PreferLayer { viewer, rid, reply })
    }

    /// `session` pulls every track of `source` through renegotiation: the
    /// returned SDP is the SFU's offer, adding one `sendonly` section per
    /// track (existing sections and mids stay as they are). Give the client's
    /// answer to [`DriverHandle::answer`]; media flows from then on.
    pub fn pull(&self, session: SessionId, source: SessionId) -> Result<String, DriverError> {
        self.request(|reply| Command::Pull {
            session,
            source,
            reply,
        })
    }

    /// The client's answer to the SFU's offer from [`DriverHandle::pull`].
    pub fn answer(&self, session: SessionId, answer: &str) -> Result<(), DriverError> {
        self.request(|reply| Command::Answer {
            session,
            answer: answer.to_owned(),
            reply,
        })
    }

    /// Ends a session (sends DTLS close_notify).
    pub fn close(&self, session: SessionId) -> Result<(), DriverError> {
        self.request(|reply| Command::Close(session, reply))
    }

    /// Starts a cascade link on this node: a session that pulls every track
    /// of `source` and sends it, over a socket bound to `bind`, to the node
    /// that accepts the returned offer with [`DriverHandle::relay_in`].
    /// With `keys`, the link is SRTP-protected; the other node needs the same.
    pub fn relay_out(
        &self,
        source: SessionId,
        bind: SocketAddr,
        keys: Option<RelayKeys>,
    ) -> Result<RelayOffer, DriverError> {
        self.request(|reply| Command::RelayOut {
            source,
            bind,
            keys,
            reply,
        })
    }

    /// Accepts a cascade link on this node: publishes the offered tracks in
    /// a new session (pull them, or `view`/`attach` it, like any other) and
    /// returns it with the local address to pass to
    /// [`DriverHandle::relay_connect`] on the sending node.
    pub fn relay_in(
        &self,
        offer: RelayOffer,
        bind: SocketAddr,
        keys: Option<RelayKeys>,
    ) -> Result<(SessionId, SocketAddr), DriverError> {
        self.request(|reply| Command::RelayIn {
            offer,
            bind,
            keys,
            reply,
        })
    }

    /// Completes a cascade link on the sending node.
    pub fn relay_connect(&self, session: SessionId, remote: SocketAddr) -> Result<(), DriverError> {
        self.request(|reply| Command::RelayConnect {
            session,
            remote,
            reply,
        })
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Result<DriverStats, DriverError> {
        self.request(Command::Stats)
    }
}

/// The running driver: its thread, handle and event channel.
#[derive(Debug)]
pub struct Driver {
    handle: DriverHandle,
    events: Receiver<DriverEvent>,
    local_addr: SocketAddr,
    local_addr_other: Option<SocketAddr>,
    thread: Option<JoinHandle<()>>,
}

impl Driver {
    /// Binds the socket and starts the driver thread.
    pub fn spawn(config: DriverConfig) -> Result<Self, DriverError> {
        let mut sockets = Vec::new();
        let binds = std::iter::once((config.bind, config.public_ip)).chain(
            config
                .bind_other_family
                .map(|b| (b, config.public_ip_other_family)),
        );
        for (bind, public_ip) in binds {
            if sockets
                .iter()
                .any(|m: &event_loop::MediaSocket| m.local.is_ipv4() == bind.is_ipv4())
            {
                return Err(DriverError::SameFamily);
            }
            let socket = UdpSocket::bind(bind)?;
            socket.set_nonblocking(true)?;
            udp::set_buffer_sizes(&socket, config.socket_buffer);
            let local = socket.local_addr()?;
            let announced = SocketAddr::new(public_ip.unwrap_or(local.ip()), local.port());
            sockets.push(event_loop::MediaSocket {
                socket,
                local,
                announced,
            });
        }
        let local_addr = sockets
            .first()
            .map(|m| m.local)
            .ok_or(DriverError::Stopped)?;
        let local_addr_other = sockets.get(1).map(|m| m.local);
        let poll = mio::Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), event_loop::WAKER)?);
        let (commands_tx, commands_rx) = crossbeam_channel::unbounded();
        let (events_tx, events_rx) = crossbeam_channel::unbounded();
        let mut core = event_loop::Core::new(config, sockets, events_tx)?;
        let thread = std::thread::Builder::new()
            .name("sfu-driver".into())
            .spawn(move || core.run(poll, commands_rx))?;
        Ok(Self {
            handle: DriverHandle {
                commands: commands_tx,
                waker,
            },
            events: events_rx,
            local_addr,
            local_addr_other,
            thread: Some(thread),
        })
    }

    /// A handle for sending requests (clone it freely).
    pub fn handle(&self) -> DriverHandle {
        self.handle.clone()
    }

    /// Events, in order.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The UDP address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The other address family's socket, when configured.
    pub fn local_addr_other_family(&self) -> Option<SocketAddr> {
        self.local_addr_other
    }

    /// Closes every session and stops the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.handle.commands.send(Command::Shutdown);
        let _ = self.handle.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop();
    }
}
