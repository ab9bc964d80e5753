//! The mio driver: one thread that owns the media sockets (one per address
//! family, `recvmmsg`/`sendmmsg`) and a [`Node`], and runs the node's
//! contract — datagrams in, timers, commands from application threads,
//! transmits out, events onto a channel. It makes no protocol decision:
//! everything it does to media and sessions is a node call.
//!
//! Another loop (tokio, io_uring, a test harness) drives the [`Node`]
//! itself instead; `examples/std_loop` does it on `std::net` in 56 lines.

mod run;
mod udp;

pub use udp::{BATCH, MAX_DATAGRAM};

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::Waker;
use sfu_core::{RouterConfig, SessionId, ShieldConfig};

use crate::node::{Negotiated, Node, NodeConfig, NodeEvent, NodeStats, Publication, Viewing};
use crate::sdp::Capabilities;
use crate::{Certificate, EndpointConfig, Error};

/// How long a request waits for the driver thread before giving up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many commands wait for the driver thread; beyond it a
/// request fails at once with [`Error::DriverBusy`] rather than queueing
/// without bound.
const MAX_QUEUED_COMMANDS: usize = 4096;

/// At most this many events wait on the channel for the application.
const MAX_QUEUED_EVENTS: usize = 65_536;

/// What the driver needs to start. `#[non_exhaustive]`: build it with
/// [`DriverConfig::new`] or [`DriverConfig::all_interfaces`], then set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DriverConfig {
    /// The media sockets: at most one per address family, every peer
    /// talks to them (one port for everyone). A wildcard address listens
    /// on every interface of its family.
    pub sockets: Vec<SocketAddr>,
    /// The IPs announced as ICE host candidates (a public IP behind NAT,
    /// say). Empty: a socket bound to one address announces it; a wildcard
    /// socket announces every non-loopback interface address of its
    /// family (IPv6 link-local excluded), or its family's loopback when
    /// the machine has no other.
    pub announce: Vec<IpAddr>,
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
    /// A client's published track that receives no RTP for this long is
    /// closed ([`NodeConfig::track_idle_timeout`]); must be more than zero.
    pub track_idle_timeout: Duration,
}

impl DriverConfig {
    /// One media socket on `bind`, defaults for the rest.
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            sockets: vec![bind],
            announce: Vec::new(),
            router: RouterConfig::default(),
            shield: ShieldConfig::default(),
            endpoint: EndpointConfig::default(),
            capabilities: Capabilities::default(),
            certificate: None,
            socket_buffer: 4 * 1024 * 1024,
            track_idle_timeout: Duration::from_secs(30),
        }
    }

    /// Media on `port` of every interface, IPv4 (`0.0.0.0`) and IPv6
    /// (`[::]`), announcing the interface addresses browsers use.
    pub fn all_interfaces(port: u16) -> Self {
        let mut config = Self::new(SocketAddr::from(([0, 0, 0, 0], port)));
        config.sockets.push(SocketAddr::from(([0u16; 8], port)));
        config
    }
}

type Call = Box<dyn FnOnce(&mut Node, Instant) + Send>;

/// The channel [`NodeEvent`]s arrive on (clone it to read from several threads).
pub type Events = Receiver<NodeEvent>;

/// What the driver thread and its handles share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Set to stop the thread.
    pub stop: AtomicBool,
    /// Datagrams the kernel refused.
    pub send_refused: AtomicU64,
    /// Datagrams dropped on a full send buffer.
    pub send_dropped: AtomicU64,
    /// Loop turns (one per return from `poll`).
    pub turns: AtomicU64,
    /// Nanoseconds spent working, from each wake-up to the next `poll`.
    pub busy_nanos: AtomicU64,
    /// The longest turn so far, in nanoseconds.
    pub longest_turn_nanos: AtomicU64,
}

impl Shared {
    /// Counts one loop turn that worked for `busy`. Three relaxed atomics
    /// per turn (a turn is a batch of datagrams, not one), read only by
    /// [`DriverHandle::stats`].
    pub fn count_turn(&self, busy: Duration) {
        let nanos = u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX);
        self.turns.fetch_add(1, Ordering::Relaxed);
        self.busy_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.longest_turn_nanos.fetch_max(nanos, Ordering::Relaxed);
    }
}

/// A cheap, clonable handle for application threads: every method runs
/// one node command on the driver thread and waits for its result, except
/// [`DriverHandle::submit`], which only queues it.
#[derive(Clone)]
pub struct DriverHandle {
    calls: Sender<Call>,
    waker: Arc<Waker>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DriverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DriverHandle")
    }
}

impl DriverHandle {
    /// Queues `command` to run on the node, on the driver thread, with the
    /// current time, and returns at once without waiting for it: for
    /// callers that must not block (an async server hands over a closure
    /// that sends its result through the caller's own channel, e.g. a
    /// oneshot). Commands run in the order they were submitted; the media
    /// plane waits while one runs, so keep it to node calls.
    ///
    /// Fails with [`Error::DriverBusy`] when the driver's bounded queue is
    /// full (nothing is queued; try again later or shed the request) and
    /// with [`Error::DriverStopped`] when the thread is gone. `Ok` means
    /// queued: a command still queued when the driver shuts down is
    /// dropped without running.
    pub fn submit(
        &self,
        command: impl FnOnce(&mut Node, Instant) + Send + 'static,
    ) -> Result<(), Error> {
        self.calls
            .try_send(Box::new(command))
            .map_err(|e| match e {
                TrySendError::Full(_) => Error::DriverBusy,
                TrySendError::Disconnected(_) => Error::DriverStopped,
            })?;
        self.waker.wake().map_err(|_| Error::DriverStopped)
    }

    /// Runs `command` on the node, on the driver thread, with the current
    /// time, and waits for what it returned: [`DriverHandle::submit`] and a
    /// wait. Every other method is this. The media plane waits while it
    /// runs: keep it to node calls.
    pub fn call<T: Send + 'static>(
        &self,
        command: impl FnOnce(&mut Node, Instant) -> T + Send + 'static,
    ) -> Result<T, Error> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.submit(move |node, now| {
            let _ = tx.send(command(node, now));
        })?;
        rx.recv_timeout(REQUEST_TIMEOUT)
            .map_err(|_| Error::DriverStopped)
    }

    /// [`Node::publish`]: WHIP.
    pub fn publish(&self, offer: &str) -> Result<Publication, Error> {
        let offer = offer.to_owned();
        self.call(move |n, now| n.publish(now, &offer))?
    }

    /// [`Node::view`] (WHEP) of every track of `source`, if given.
    pub fn view(
        &self,
        offer: &str,
        source: Option<SessionId>,
        layer: Option<String>,
    ) -> Result<Viewing, Error> {
        let offer = offer.to_owned();
        self.call(move |n, now| {
            let pulls = source.map(|s| n.source_pulls(s)).unwrap_or_default();
            n.view(now, &offer, &pulls, layer)
        })?
    }

    /// [`Node::attach`] of every track of `source`.
    pub fn attach(&self, viewer: SessionId, source: SessionId) -> Result<(), Error> {
        self.call(move |n, now| {
            let pulls = n.source_pulls(source);
            n.attach(now, viewer, &pulls)
        })?
    }

    /// [`Node::set_layer`] on every section of the viewer.
    pub fn prefer_layer(&self, viewer: SessionId, rid: Option<String>) -> Result<(), Error> {
        self.call(move |n, _| n.set_layer(viewer, None, rid))?
    }

    /// [`Node::pull_tracks`] of every track of `source`, in an offer of the
    /// node's: returns the offer (answer it with [`DriverHandle::answer`]).
    pub fn pull(&self, session: SessionId, source: SessionId) -> Result<String, Error> {
        let negotiated: Negotiated = self.call(move |n, now| {
            let pulls = n.source_pulls(source);
            if pulls.is_empty() {
                return Err(Error::TrackNotPublished(source.to_string()));
            }
            n.pull_tracks(now, session, &pulls, None)
        })??;
        match negotiated.description {
            Some(d) => Ok(d.sdp),
            None => Err(Error::NotNegotiated),
        }
    }

    /// [`Node::apply_answer`].
    pub fn answer(&self, session: SessionId, answer: &str) -> Result<(), Error> {
        let answer = answer.to_owned();
        self.call(move |n, now| n.apply_answer(now, session, &answer))?
    }

    /// [`Node::close_session`].
    pub fn close(&self, session: SessionId) -> Result<(), Error> {
        self.call(move |n, now| n.close_session(now, session))?
    }

    /// A snapshot of the node's counters, with the driver's own.
    pub fn stats(&self) -> Result<DriverStats, Error> {
        let node = self.call(|n, _| n.stats())?;
        Ok(DriverStats {
            node,
            send_refused: self.shared.send_refused.load(Ordering::Relaxed),
            send_dropped: self.shared.send_dropped.load(Ordering::Relaxed),
            turns: self.shared.turns.load(Ordering::Relaxed),
            busy: Duration::from_nanos(self.shared.busy_nanos.load(Ordering::Relaxed)),
            longest_turn: Duration::from_nanos(
                self.shared.longest_turn_nanos.load(Ordering::Relaxed),
            ),
        })
    }
}

/// Counters of the node and of the driver's sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverStats {
    /// The node's counters.
    pub node: NodeStats,
    /// Datagrams the kernel refused (bad destination): skipped, the rest of
    /// their batch sent.
    pub send_refused: u64,
    /// Datagrams dropped because a socket's send buffer was full.
    pub send_dropped: u64,
    /// Turns of the driver loop: one per wake-up (datagrams, a command, a
    /// timer), so `busy / turns` is the mean cost of a turn.
    pub turns: u64,
    /// Time the driver thread spent working, from each wake-up until it
    /// went back to wait: reading, node calls, timers, sending. Its rate
    /// against wall time is how loaded the media thread is.
    pub busy: Duration,
    /// The longest single turn since the driver started: how long media
    /// and commands waited behind one turn at worst.
    pub longest_turn: Duration,
}

/// One bound media socket.
pub(crate) struct MediaSocket {
    pub socket: UdpSocket,
    pub local: SocketAddr,
}

/// The running driver: its thread, handle and event channel.
#[derive(Debug)]
pub struct Driver {
    handle: DriverHandle,
    events: Receiver<NodeEvent>,
    local_addrs: Vec<SocketAddr>,
    candidates: Vec<SocketAddr>,
    thread: Option<JoinHandle<()>>,
}

impl Driver {
    /// Binds the sockets, builds the node and starts the driver thread.
    pub fn spawn(config: DriverConfig) -> Result<Self, Error> {
        let mut sockets: Vec<MediaSocket> = Vec::new();
        for &bind in &config.sockets {
            if sockets.iter().any(|m| m.local.is_ipv4() == bind.is_ipv4()) {
                return Err(Error::SameFamily);
            }
            let socket = udp::bind(bind, config.socket_buffer)?;
            let local = socket.local_addr()?;
            sockets.push(MediaSocket { socket, local });
        }
        let candidates = announced(&sockets, &config.announce)?;
        let certificate = match config.certificate {
            Some(c) => c,
            None => Certificate::generate()?,
        };
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::Io(std::io::Error::other(format!("no OS randomness: {e}"))))?;
        let mut node_config =
            NodeConfig::new(certificate, seed).with_candidates(candidates.clone());
        node_config.router = config.router;
        node_config.shield = config.shield;
        node_config.endpoint = config.endpoint;
        node_config.capabilities = config.capabilities;
        let node_config = node_config.with_track_idle_timeout(config.track_idle_timeout);
        let node = Node::new(node_config)?;
        let poll = mio::Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), run::WAKER)?);
        let (calls_tx, calls_rx) = crossbeam_channel::bounded(MAX_QUEUED_COMMANDS);
        let (events_tx, events_rx) = crossbeam_channel::bounded(MAX_QUEUED_EVENTS);
        let local_addrs = sockets.iter().map(|m| m.local).collect();
        let shared = Arc::new(Shared::default());
        let mut shell = run::Shell::new(node, sockets, events_tx, Arc::clone(&shared));
        let thread = std::thread::Builder::new()
            .name("sfu-driver".into())
            .spawn(move || shell.run(poll, calls_rx))?;
        Ok(Self {
            handle: DriverHandle {
                calls: calls_tx,
                waker,
                shared,
            },
            events: events_rx,
            local_addrs,
            candidates,
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

    /// The first media socket's bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs
            .first()
            .copied()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Every media socket's bound address.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The host candidates every SDP of the node announces.
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }

    /// Closes every session and stops the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.handle.shared.stop.store(true, Ordering::Relaxed);
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

/// The host candidates for `sockets`: the configured IPs on each socket's
/// port, else each socket's own address, or for a wildcard socket the
/// interface addresses of its family that a browser uses.
fn announced(sockets: &[MediaSocket], announce: &[IpAddr]) -> Result<Vec<SocketAddr>, Error> {
    let interfaces = udp::interface_addresses().unwrap_or_default();
    let mut out = Vec::new();
    for m in sockets {
        let port = m.local.port();
        let family = |ip: &IpAddr| ip.is_ipv4() == m.local.is_ipv4();
        if !announce.is_empty() {
            out.extend(
                announce
                    .iter()
                    .filter(|ip| family(ip))
                    .map(|&ip| SocketAddr::new(ip, port)),
            );
            continue;
        }
        if !m.local.ip().is_unspecified() {
            out.push(m.local);
            continue;
        }
        let usable: Vec<SocketAddr> = interfaces
            .iter()
            .filter(|i| i.is_host_candidate() && family(&i.ip))
            .map(|i| SocketAddr::new(i.ip, port))
            .collect();
        if usable.is_empty() {
            let loopback = if m.local.is_ipv4() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
            };
            out.push(SocketAddr::new(loopback, port));
        } else {
            out.extend(usable);
        }
    }
    Ok(out)
}
