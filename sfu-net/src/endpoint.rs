//! The endpoint: one per UDP socket, owning every session on it and
//! routing each datagram — STUN requests by ufrag, STUN responses to our
//! own checks by transaction id, DTLS and SRTP by 5-tuple.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::demux::{DatagramKind, classify};
use crate::dtls::Certificate;
use crate::error::Error;
use crate::event::{CloseReason, EndpointEvent, Transmit};
use crate::ice::{ControllingIce, IceAgent, IceAgentStats, Path};
use crate::pool::BufferPool;
use crate::session::{SessionKey, TransportConfig};
use crate::srtp::{self, DtlsRole, SrtpDrop};
use crate::stats::EndpointStats;
use crate::timers::SessionTimers;
use crate::transport::{DtlsSignals, Transport};

mod ice;

/// Limits and timers of an [`Endpoint`]. `#[non_exhaustive]`: start from
/// `EndpointConfig::default()` and set fields, or chain the `with_*` setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// Close a session after this long without a valid check on its
    /// selected path (RFC 7675 says 30 s).
    pub consent_timeout: Duration,
    /// At most this many live sessions.
    pub max_sessions: usize,
    /// At most this many verified 5-tuples per session; the oldest
    /// unselected one is forgotten first.
    pub max_paths_per_session: usize,
    /// At most this many allowed remote SSRCs per session.
    pub max_remote_ssrcs: usize,
    /// At most this many datagrams, and this many media events, queued
    /// before the driver drains them.
    pub max_queued: usize,
    /// Largest DTLS datagram the handshake produces.
    pub dtls_mtu: usize,
    /// First DTLS handshake retransmission timeout (doubles per retry).
    pub dtls_initial_rto: Duration,
    /// A session whose own ICE agent checks (one we offered toward a third
    /// party) fails when no candidate pair answered within this long.
    pub ice_connect_timeout: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            consent_timeout: Duration::from_secs(30),
            max_sessions: 10_000,
            max_paths_per_session: 4,
            max_remote_ssrcs: 64,
            max_queued: 16_384,
            dtls_mtu: 1150,
            dtls_initial_rto: Duration::from_secs(1),
            ice_connect_timeout: Duration::from_secs(10),
        }
    }
}

impl EndpointConfig {
    /// Sets [`EndpointConfig::consent_timeout`].
    pub fn with_consent_timeout(mut self, timeout: Duration) -> Self {
        self.consent_timeout = timeout;
        self
    }

    /// Sets [`EndpointConfig::max_sessions`].
    pub fn with_max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max;
        self
    }

    /// Sets [`EndpointConfig::ice_connect_timeout`].
    pub fn with_ice_connect_timeout(mut self, timeout: Duration) -> Self {
        self.ice_connect_timeout = timeout;
        self
    }

    /// Sets [`EndpointConfig::max_remote_ssrcs`].
    pub fn with_max_remote_ssrcs(mut self, max: usize) -> Self {
        self.max_remote_ssrcs = max;
        self
    }
}

/// The sans-IO endpoint behind one UDP port.
///
/// Feed it with [`handle_datagram`](Self::handle_datagram) and
/// [`handle_timeout`](Self::handle_timeout); after each call drain
/// [`poll_transmit`](Self::poll_transmit) and
/// [`poll_event`](Self::poll_event), then sleep until
/// [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct Endpoint<K: SessionKey> {
    config: EndpointConfig,
    dtls_config: Arc<dimpl::Config>,
    certificate: Certificate,
    sessions: HashMap<K, Transport>,
    by_ufrag: HashMap<Vec<u8>, K>,
    by_path: HashMap<Path, K>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<EndpointEvent<K>>,
    stats: EndpointStats,
    stun_scratch: Vec<u8>,
    /// Each session's next DTLS retransmission, consent expiry or check.
    timers: SessionTimers<K>,
    /// The full ICE agents of sessions we offered (third parties).
    agents: HashMap<K, IceAgent>,
    /// Our checks in flight, by transaction id: how a response finds its
    /// session (it names no ufrag of ours). At most a few per agent.
    by_transaction: HashMap<[u8; 12], K>,
    /// Counters of agents already gone.
    agent_stats: IceAgentStats,
    /// Outgoing datagrams: blocks come back once the driver sent them.
    tx_pool: BufferPool,
    /// Decrypted RTP: blocks come back once the retransmission caches
    /// let go of their packets.
    rx_pool: BufferPool,
}

/// Blocks of 64 KiB kept for reuse: sends die within a turn; received
/// packets live in the NACK caches for about a second.
const TX_BLOCKS: usize = 16;
const RX_BLOCKS: usize = 64;

/// Queues a datagram unless the queue is full (then counts it).
fn push_transmit(
    transmits: &mut VecDeque<Transmit>,
    stats: &mut EndpointStats,
    max: usize,
    path: Path,
    contents: Bytes,
) -> bool {
    if transmits.len() >= max {
        stats.transmits_dropped += 1;
        return false;
    }
    transmits.push_back(Transmit {
        destination: path.0,
        source: path.1,
        contents,
    });
    true
}

impl<K: SessionKey> Endpoint<K> {
    /// Creates an endpoint presenting `certificate` in every DTLS handshake.
    pub fn new(config: EndpointConfig, certificate: Certificate) -> Result<Self, Error> {
        let dtls_config = dimpl::Config::builder()
            .mtu(config.dtls_mtu)
            .flight_start_rto(config.dtls_initial_rto)
            .require_client_certificate(true)
            // ICE already proved the peer owns its address: a cookie round
            // trip would only delay the handshake.
            .use_server_cookie(false)
            .build()
            .map_err(|e| Error::Dtls(e.to_string()))?;
        Ok(Endpoint {
            config,
            dtls_config: Arc::new(dtls_config),
            certificate,
            sessions: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_path: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: EndpointStats::default(),
            stun_scratch: Vec::with_capacity(128),
            timers: SessionTimers::new(),
            agents: HashMap::new(),
            by_transaction: HashMap::new(),
            agent_stats: IceAgentStats::default(),
            tx_pool: BufferPool::new(TX_BLOCKS),
            rx_pool: BufferPool::new(RX_BLOCKS),
        })
    }

    /// The certificate whose fingerprint goes into every SDP.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Drop counters and totals.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Counters of the full ICE agents (sessions we offered), summed.
    pub fn ice_agent_stats(&self) -> IceAgentStats {
        let mut sum = self.agent_stats;
        for a in self.agents.values() {
            sum.add(&a.stats());
        }
        sum
    }

    /// Entries in the transaction-id routing map (our checks in flight).
    pub fn transaction_route_count(&self) -> usize {
        self.by_transaction.len()
    }

    /// Live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Entries in the ufrag routing map (one per live session).
    pub fn ufrag_route_count(&self) -> usize {
        self.by_ufrag.len()
    }

    /// Entries in the 5-tuple routing map (verified paths).
    pub fn path_route_count(&self) -> usize {
        self.by_path.len()
    }

    /// Datagrams waiting in [`poll_transmit`](Self::poll_transmit).
    pub fn queued_transmits(&self) -> usize {
        self.transmits.len()
    }

    /// Events waiting in [`poll_event`](Self::poll_event).
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    /// The path a session currently sends on, if a valid check came in.
    pub fn selected_path(&self, session: K) -> Option<(SocketAddr, SocketAddr)> {
        self.sessions.get(&session)?.ice.selected()
    }

    /// Accepts a new client's transport under the caller's key `id`. Its
    /// consent clock starts now: if no valid check arrives within the
    /// consent timeout the session closes.
    pub fn add_session(
        &mut self,
        now: Instant,
        id: K,
        session: TransportConfig,
    ) -> Result<(), Error> {
        if self.sessions.len() >= self.config.max_sessions {
            return Err(Error::TooManySessions(self.config.max_sessions));
        }
        if session.remote_ssrcs.len() > self.config.max_remote_ssrcs {
            return Err(Error::TooManySsrcs(self.config.max_remote_ssrcs));
        }
        let ufrag = session.credentials.ufrag().as_bytes().to_vec();
        if self.by_ufrag.contains_key(&ufrag) {
            return Err(Error::UfragInUse);
        }
        if self.sessions.contains_key(&id) {
            return Err(Error::SessionInUse);
        }
        let transport = Transport::new(
            now,
            session,
            self.dtls_config.clone(),
            &self.certificate,
            self.config.max_paths_per_session,
            self.config.max_remote_ssrcs,
        );
        self.by_ufrag.insert(ufrag, id);
        self.timers
            .schedule(id, transport.next_timeout(self.config.consent_timeout));
        self.sessions.insert(id, transport);
        Ok(())
    }

    /// Accepts the transport of a session *we* offered (toward a third
    /// party), under the caller's key `id`: our full ICE agent checks the
    /// answer's candidates as the controlling agent (first check now), and
    /// `dtls_role` says which side of DTLS we are (`Client` when the answer
    /// said `a=setup:passive`; the ClientHello goes out once a pair is
    /// selected). The session fails (`Closed` with
    /// [`Error::IceFailed`]) when no pair answers within
    /// [`EndpointConfig::ice_connect_timeout`].
    pub fn add_controlling_session(
        &mut self,
        now: Instant,
        id: K,
        session: TransportConfig,
        ice: ControllingIce,
        dtls_role: DtlsRole,
    ) -> Result<(), Error> {
        self.add_session(now, id, session)?;
        let Some(t) = self.sessions.get_mut(&id) else {
            return Err(Error::UnknownSession);
        };
        t.ice.set_controlling(true);
        if dtls_role == DtlsRole::Client {
            t.become_dtls_client();
        }
        let agent = IceAgent::new(
            now,
            t.ice.credentials(),
            ice,
            self.config.ice_connect_timeout,
        );
        self.agents.insert(id, agent);
        self.run_agent(now, id);
        Ok(())
    }

    /// Lets one more remote SSRC reach the session's decryptor (after a
    /// renegotiation added a track).
    pub fn allow_remote_ssrc(&mut self, session: K, ssrc: u32) -> Result<(), Error> {
        let t = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession)?;
        if t.remote_ssrc_count() >= self.config.max_remote_ssrcs {
            return Err(Error::TooManySsrcs(self.config.max_remote_ssrcs));
        }
        t.allow_remote_ssrc(ssrc);
        Ok(())
    }

    /// Sends DTLS close_notify (if connected) and forgets the session.
    pub fn close_session(&mut self, session: K) -> Result<(), Error> {
        let t = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession)?;
        if let Some(path) = t.ice.selected() {
            let (transmits, stats, max) =
                (&mut self.transmits, &mut self.stats, self.config.max_queued);
            t.close(&mut |p: &[u8]| {
                push_transmit(transmits, stats, max, path, Bytes::copy_from_slice(p));
            });
        }
        self.remove_session(session, CloseReason::Local);
        Ok(())
    }

    /// Encrypts one RTP packet and queues it toward the session's peer.
    pub fn send_rtp(&mut self, session: K, packet: &[u8]) -> Result<(), Error> {
        self.send_media(session, packet, false)
    }

    /// Encrypts one compound RTCP packet and queues it toward the peer.
    pub fn send_rtcp(&mut self, session: K, packet: &[u8]) -> Result<(), Error> {
        self.send_media(session, packet, true)
    }

    fn send_media(&mut self, session: K, packet: &[u8], rtcp: bool) -> Result<(), Error> {
        let t = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession)?;
        let path = t.ice.selected().ok_or(Error::NotConnected)?;
        if self.transmits.len() >= self.config.max_queued {
            self.stats.transmits_dropped += 1;
            return Err(Error::TransmitQueueFull(self.config.max_queued));
        }
        let srtp = t.srtp_mut().ok_or(Error::NotConnected)?;
        let protected = if rtcp {
            srtp.protect_rtcp(packet)?
        } else {
            let out = self.tx_pool.buffer(packet.len() + srtp::MAX_TAG_LEN);
            srtp.protect_rtp_into(packet, out)?
        };
        push_transmit(
            &mut self.transmits,
            &mut self.stats,
            self.config.max_queued,
            path,
            protected,
        );
        Ok(())
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<EndpointEvent<K>> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next: the
    /// earliest DTLS retransmission or consent expiry of any session (a
    /// peek, whatever the number of sessions; it may be a little early).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Fires due DTLS retransmissions and closes sessions whose consent
    /// expired; only the sessions whose deadline passed are visited.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(id) = self.timers.pop_due(now) {
            self.run_timers(now, id);
            self.reschedule(id);
        }
    }

    fn run_timers(&mut self, now: Instant, id: K) {
        {
            let Some(t) = self.sessions.get_mut(&id) else {
                return;
            };
            if t.consent_expired(now, self.config.consent_timeout) {
                self.remove_session(id, CloseReason::ConsentExpired);
                return;
            }
            let agent_due = self
                .agents
                .get(&id)
                .and_then(IceAgent::next_timeout)
                .is_some_and(|at| at <= now);
            if agent_due {
                self.run_agent(now, id);
            }
            let Some(t) = self.sessions.get_mut(&id) else {
                return;
            };
            if !t.dtls_due(now) {
                return;
            }
            let result = match t.ice.selected() {
                Some(path) => {
                    let (transmits, stats, max) =
                        (&mut self.transmits, &mut self.stats, self.config.max_queued);
                    t.handle_dtls_timeout(now, &mut |p: &[u8]| {
                        push_transmit(transmits, stats, max, path, Bytes::copy_from_slice(p));
                    })
                }
                None => t.handle_dtls_timeout(now, &mut |_: &[u8]| {}),
            };
            self.after_dtls(id, result);
        }
    }

    /// Handles one datagram received on `local` from `remote`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local: SocketAddr,
        datagram: &[u8],
    ) {
        self.stats.datagrams += 1;
        match classify(datagram) {
            DatagramKind::Stun => self.handle_stun(now, (remote, local), datagram),
            DatagramKind::Dtls => self.handle_dtls(now, (remote, local), datagram),
            DatagramKind::Rtp => self.handle_media(now, (remote, local), datagram, false),
            DatagramKind::Rtcp => self.handle_media(now, (remote, local), datagram, true),
            DatagramKind::Unknown => self.stats.unknown_kind += 1,
        }
    }

    fn handle_dtls(&mut self, now: Instant, path: Path, datagram: &[u8]) {
        let Some(&id) = self.by_path.get(&path) else {
            self.stats.dtls_unknown_source += 1;
            return;
        };
        let Some(t) = self.sessions.get_mut(&id) else {
            self.stats.dtls_unknown_source += 1;
            return;
        };
        let reply_path = t.ice.selected().unwrap_or(path);
        let (transmits, stats, max) =
            (&mut self.transmits, &mut self.stats, self.config.max_queued);
        let result = t.handle_dtls(now, datagram, &mut |p: &[u8]| {
            push_transmit(transmits, stats, max, reply_path, Bytes::copy_from_slice(p));
        });
        self.after_dtls(id, result);
        // A flight may have started a retransmission timer.
        self.reschedule(id);
    }

    fn after_dtls(&mut self, id: K, result: Result<DtlsSignals, Error>) {
        match result {
            Ok(signals) => {
                self.stats.dtls_application_data += signals.application_data;
                // Junk from the peer's path: dropped, the session kept.
                self.stats.dtls_records_dropped += signals.records_dropped;
                if let Some(profile) = signals.connected {
                    self.events.push_back(EndpointEvent::Connected {
                        session: id,
                        profile,
                    });
                }
                if signals.close_notify {
                    self.remove_session(id, CloseReason::CloseNotify);
                }
            }
            Err(e) => {
                self.stats.sessions_failed += 1;
                self.remove_session(id, CloseReason::Failed(e));
            }
        }
    }

    fn handle_media(&mut self, now: Instant, path: Path, datagram: &[u8], rtcp: bool) {
        let Some(&id) = self.by_path.get(&path) else {
            self.stats.media_unknown_source += 1;
            return;
        };
        let Some(srtp) = self.sessions.get_mut(&id).and_then(Transport::srtp_mut) else {
            self.stats.media_before_keys += 1;
            return;
        };
        let result = if rtcp {
            srtp.unprotect_rtcp_at(now, datagram)
        } else {
            // Decrypted where it lies, in a pooled buffer.
            let buf = self.rx_pool.buffer(datagram.len());
            buf.extend_from_slice(datagram);
            match srtp.unprotect_rtp_in_place_at(now, buf) {
                Ok(len) => {
                    buf.truncate(len);
                    Ok(self.rx_pool.finish())
                }
                Err(e) => {
                    buf.clear();
                    Err(e)
                }
            }
        };
        match result {
            Ok(packet) if rtcp => self.push_event(EndpointEvent::Rtcp {
                session: id,
                packet,
            }),
            Ok(packet) => self.push_event(EndpointEvent::Rtp {
                session: id,
                packet,
            }),
            Err(SrtpDrop::Malformed) => self.stats.srtp_malformed += 1,
            Err(SrtpDrop::SsrcNotNegotiated(_)) => self.stats.srtp_ssrc_not_negotiated += 1,
            Err(SrtpDrop::Replayed) => self.stats.srtp_replayed += 1,
            Err(SrtpDrop::AuthFailed) => self.stats.srtp_auth_failed += 1,
            Err(SrtpDrop::LearningBudgetSpent(_)) => self.stats.srtp_learning_budget_spent += 1,
        }
    }

    /// Queues an event unless the queue is full (then counts it). Only
    /// `Connected` and `Closed`, at most one each per session, bypass this.
    fn push_event(&mut self, event: EndpointEvent<K>) {
        if self.events.len() >= self.config.max_queued {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(event);
        }
    }

    fn remove_session(&mut self, id: K, reason: CloseReason) {
        let Some(t) = self.sessions.remove(&id) else {
            return;
        };
        self.timers.forget(id);
        if let Some(agent) = self.agents.remove(&id) {
            self.agent_stats.add(&agent.stats());
            self.by_transaction.retain(|_, session| *session != id);
        }
        self.by_ufrag.remove(t.ice.credentials().ufrag().as_bytes());
        for path in t.ice.paths() {
            if self.by_path.get(path) == Some(&id) {
                self.by_path.remove(path);
            }
        }
        // Never dropped: at most one per session ever added.
        self.events.push_back(EndpointEvent::Closed {
            session: id,
            reason,
        });
    }
}
