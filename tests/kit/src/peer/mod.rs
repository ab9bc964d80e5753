//! A stand-in WebRTC client ("browser") for whole-SFU tests in simulated
//! time, built only on implementations we did not write: `rtc-sdp` reads
//! the SFU's SDP, `rtc-stun` builds and checks STUN, `dimpl` is the DTLS
//! client, `rtc-srtp` protects media, `ring`/`rcgen` give the certificate
//! and its fingerprint. It is sans-IO and deterministic given its seed and
//! the `Instant`s passed in: it never reads the clock, and draws no
//! randomness of its own beyond what `dimpl` does inside the handshake.
//!
//! # Run loop
//!
//! > After every `handle_*` call (and after `send_*`, `request_keyframe`,
//! > `close`, `move_to`, `apply_answer`, `accept_offer`), drain
//! > [`Peer::poll_transmit`] until it returns `None`, then sleep until
//! > [`Peer::poll_timeout`].
//!
//! 1. Signalling: [`Peer::create_offer`] then [`Peer::apply_answer`], or
//!    [`Peer::accept_offer`] for an offer from the SFU.
//! 2. Deliver each datagram addressed to [`Peer::addr`] with
//!    [`Peer::handle_datagram`]; call [`Peer::handle_timeout`] when the
//!    deadline passes.
//! 3. Send each `(destination, datagram)` from [`Peer::poll_transmit`] with
//!    [`Peer::addr`] as its source.
//!
//! # What it does on its own
//!
//! - ICE: controlling agent with one pair (its address, the SFU's first
//!   candidate of the same family). Nominated checks (USE-CANDIDATE,
//!   ICE-CONTROLLING, PRIORITY, USERNAME `sfu:peer`, MESSAGE-INTEGRITY with
//!   the SFU's pwd, FINGERPRINT) every 500 ms until a verified success
//!   response, then consent checks every 5 s until [`Peer::stop_consent`].
//! - DTLS: client, started by the first success response; the SFU's
//!   certificate must match the fingerprint in its SDP.
//! - Media: the send history (1024 packets per SSRC) answers NACKs (RTX
//!   when negotiated, else a plain retransmission, which SRTP replay
//!   protection at the SFU will drop); PLI/FIR set
//!   [`Peer::keyframe_requested`]. Received gaps are NACKed at once and
//!   every 100 ms, at most 5 more times, when the codec negotiated `nack`.
//!   Each second one compound RTCP packet carries a sender report per
//!   sending SSRC and a receiver report covering every received SSRC.

mod config;
mod dtls;
mod ice;
mod media;
mod negotiate;
mod receive;
mod rng;
mod rtp;
mod sdp;
mod sdp_parse;
mod send;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use config::{PeerConfig, PeerError, PeerStats};
pub use dtls::SrtpProfile;
pub use media::ReceivedRtp;
pub use sdp::{Codec, Direction, MediaKind};

use dtls::Security;
use ice::Ice;
use media::{InStream, OutStream};
use rng::PeerRng;
use sdp::LocalSection;
use sdp_parse::RemoteDescription;

/// At most this many datagrams wait in [`Peer::poll_transmit`].
const MAX_TRANSMITS: usize = 8192;
/// At most this many received packets wait in [`Peer::take_received`].
const MAX_RECEIVED: usize = 32_768;
/// At most this many remote SSRCs are tracked.
const MAX_IN_STREAMS: usize = 64;
/// Receiver reports go out this often.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// One m-section and what was negotiated for it.
#[derive(Debug)]
struct Section {
    local: LocalSection,
    /// The formats the other side accepted (answer) or will send (its offer).
    negotiated: Vec<Codec>,
    /// Header extension ids both sides agreed on.
    extensions: Vec<(u8, String)>,
    /// What the peer sends here: one stream, or one per simulcast layer.
    out: Vec<OutStream>,
    /// The SFU's (media, rtx) SSRCs announced for this section.
    remote_streams: Vec<(u32, Option<u32>)>,
    keyframe_requested: bool,
    opus_counter: u32,
}

impl Section {
    fn extension(&self, uri: &str) -> Option<u8> {
        self.extensions
            .iter()
            .find(|(_, u)| u == uri)
            .map(|(id, _)| *id)
    }

    fn media_codec(&self) -> Option<&Codec> {
        self.negotiated.iter().find(|c| c.is_media())
    }

    fn rtx_pt(&self) -> Option<u8> {
        let pt = self.media_codec()?.pt;
        self.negotiated
            .iter()
            .find(|c| c.is_rtx() && c.apt() == Some(pt))
            .map(|c| c.pt)
    }

    fn sends(&self) -> bool {
        !self.local.stopped && self.local.direction.sends()
    }
}

/// The stand-in browser. See the [module documentation](self) for the run
/// loop and what it does by itself.
#[derive(Debug)]
pub struct Peer {
    addr: SocketAddr,
    rng: PeerRng,
    start: Instant,
    now: Instant,
    ufrag: String,
    pwd: String,
    session_id: u64,
    version: u64,
    cname: String,
    stream: String,
    sections: Vec<Section>,
    offer_in_flight: bool,
    remote: Option<RemoteDescription>,
    ice: Ice,
    security: SecurityBox,
    rtcp_ssrc: u32,
    in_streams: BTreeMap<u32, (Option<String>, InStream)>,
    ssrc_mids: BTreeMap<u32, String>,
    rtx_primaries: BTreeMap<u32, u32>,
    received: VecDeque<ReceivedRtp>,
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    next_report: Option<Instant>,
    transport_cc_seq: u16,
    closed: bool,
    stats: PeerStats,
}

/// `dimpl::Dtls` has no `Debug` we want in ours.
struct SecurityBox(Security);

impl std::fmt::Debug for SecurityBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("keyed", &self.0.srtp.is_some())
            .field("failed", &self.0.failed)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// A peer configured by `config`, created at `now`.
    pub fn new(now: Instant, config: PeerConfig) -> Peer {
        let mut rng = PeerRng::new(config.seed);
        let ufrag = rng.ice_chars(8);
        let pwd = rng.ice_chars(24);
        let session_id = rng.next_u64() >> 1;
        let cname = rng.ice_chars(16);
        let stream = format!("stream-{}", rng.ice_chars(8));
        let tiebreaker = rng.next_u64();
        let receiver_ssrc = rng.ssrc(&[]);
        let certificate = if config.random_certificate {
            dtls::generated_certificate().unwrap_or_else(dtls::default_certificate)
        } else {
            dtls::default_certificate()
        };
        let security = Security::new(certificate, config.seed, config.hybrid_client_hello);
        let mut peer = Peer {
            addr: config.addr,
            rng,
            start: now,
            now,
            ufrag: ufrag.clone(),
            pwd,
            session_id,
            version: 1,
            cname,
            stream,
            sections: Vec::new(),
            offer_in_flight: false,
            remote: None,
            ice: Ice::new(ufrag, tiebreaker),
            security: SecurityBox(security),
            rtcp_ssrc: receiver_ssrc,
            in_streams: BTreeMap::new(),
            ssrc_mids: BTreeMap::new(),
            rtx_primaries: BTreeMap::new(),
            received: VecDeque::new(),
            transmits: VecDeque::new(),
            next_report: None,
            transport_cc_seq: 0,
            closed: false,
            stats: PeerStats::default(),
        };
        for spec in config.sections {
            peer.add_section(spec);
        }
        // Like Chromium: RTCP goes out from the first sending SSRC, if any.
        if let Some(first) = peer.sections.iter().flat_map(|s| s.out.first()).next() {
            peer.rtcp_ssrc = first.ssrc;
        }
        peer
    }

    // ---- getters ----

    /// The peer's current address (the source of everything it sends).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where it sends to: the SFU's address from the answer's candidates.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.ice.remote
    }

    /// The peer's `a=ice-ufrag`.
    pub fn ufrag(&self) -> &str {
        &self.ufrag
    }

    /// The SHA-256 fingerprint of the peer's DTLS certificate.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.security.0.local_fingerprint()
    }

    /// The SSRC the peer's RTCP comes from (its first sending SSRC, else a
    /// seeded receiver SSRC that no SDP line names).
    pub fn rtcp_ssrc(&self) -> u32 {
        self.rtcp_ssrc
    }

    /// Every SSRC the peer may send from: media and RTX of every sending
    /// stream (simulcast layers included), then the RTCP SSRC.
    pub fn local_ssrcs(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self
            .sections
            .iter()
            .flat_map(|s| s.out.iter())
            .flat_map(|o| std::iter::once(o.ssrc).chain(o.rtx_ssrc))
            .collect();
        if !all.contains(&self.rtcp_ssrc) {
            all.push(self.rtcp_ssrc);
        }
        all
    }

    /// The `(media, rtx)` SSRCs the peer sends on `mid`, with their rid.
    pub fn sending_ssrcs(&self, mid: &str) -> Vec<(Option<String>, u32, Option<u32>)> {
        self.section(mid)
            .map(|s| {
                s.out
                    .iter()
                    .map(|o| (o.rid.clone(), o.ssrc, o.rtx_ssrc))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The mids in m-line order with the peer's direction for each
    /// (`Inactive` for stopped sections).
    pub fn mids(&self) -> Vec<(String, Direction)> {
        self.sections
            .iter()
            .map(|s| {
                let d = if s.local.stopped {
                    Direction::Inactive
                } else {
                    s.local.direction
                };
                (s.local.mid.clone(), d)
            })
            .collect()
    }

    /// The `(media, rtx)` SSRCs the SFU announced it sends on `mid`.
    pub fn remote_ssrcs(&self, mid: &str) -> Vec<(u32, Option<u32>)> {
        self.section(mid)
            .map(|s| s.remote_streams.clone())
            .unwrap_or_default()
    }

    /// The payload formats negotiated on `mid` (the SFU's answer or offer).
    pub fn negotiated_codecs(&self, mid: &str) -> Vec<Codec> {
        self.section(mid)
            .map(|s| s.negotiated.clone())
            .unwrap_or_default()
    }

    /// Whether ICE succeeded, DTLS completed with the expected certificate,
    /// SRTP is keyed and the peer is not closed.
    pub fn is_connected(&self) -> bool {
        !self.closed && self.security.0.srtp.is_some()
    }

    /// The SRTP profile the SFU chose, once connected.
    pub fn srtp_profile(&self) -> Option<SrtpProfile> {
        self.security.0.srtp.as_ref().map(|s| s.profile)
    }

    /// Why DTLS failed (for example a fingerprint mismatch), if it did.
    pub fn dtls_failure(&self) -> Option<&str> {
        self.security.0.failed.as_deref()
    }

    /// Whether the SFU sent a DTLS close_notify.
    pub fn close_notify_received(&self) -> bool {
        self.security.0.close_notify_received
    }

    /// Whether a valid binding response arrived on the current address.
    pub fn ice_succeeded(&self) -> bool {
        self.ice.succeeded
    }

    /// Whether consent checks went unanswered for 30 s (RFC 7675).
    pub fn consent_lost(&self) -> bool {
        self.ice.consent_lost(self.now)
    }

    /// Whether a PLI or FIR arrived for any section since its last key frame.
    pub fn keyframe_requested(&self) -> bool {
        self.sections.iter().any(|s| s.keyframe_requested)
    }

    /// Whether a PLI or FIR arrived for `mid` since its last key frame.
    pub fn keyframe_requested_on(&self, mid: &str) -> bool {
        self.section(mid).is_some_and(|s| s.keyframe_requested)
    }

    /// The packets received so far and not yet taken, oldest first.
    pub fn received(&self) -> &VecDeque<ReceivedRtp> {
        &self.received
    }

    /// Takes the packets received so far, oldest first.
    pub fn take_received(&mut self) -> Vec<ReceivedRtp> {
        self.received.drain(..).collect()
    }

    /// The counters.
    pub fn stats(&self) -> PeerStats {
        self.stats
    }

    fn section(&self, mid: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.local.mid == mid)
    }

    // ---- network ----

    /// Handles one datagram sent to the peer from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.now = now;
        let _ = from;
        if self.closed {
            return;
        }
        match data.first() {
            Some(0..=3) => {
                if self.ice.handle_response(now, data).is_some() {
                    self.stats.check_responses += 1;
                    if !self.security.0.started() {
                        self.security.0.start(now);
                    }
                    self.flush_dtls();
                }
            }
            Some(20..=63) => {
                self.stats.dtls_received += 1;
                let was_keyed = self.security.0.srtp.is_some();
                self.security.0.handle_packet(now, data);
                self.flush_dtls();
                if !was_keyed && self.security.0.srtp.is_some() {
                    self.next_report = Some(now + REPORT_INTERVAL);
                }
            }
            Some(128..=191) => {
                if matches!(data.get(1), Some(192..=223)) {
                    self.receive_rtcp(now, data);
                } else {
                    self.receive_rtp(now, data);
                }
            }
            _ => self.stats.unknown_datagrams += 1,
        }
    }

    /// Runs what is due at `now`: checks, DTLS retransmissions, NACK
    /// retries, receiver reports.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.closed {
            return;
        }
        if let Some((to, check)) = self.ice.handle_timeout(now, &mut self.rng) {
            self.stats.checks_sent += 1;
            self.queue(to, check);
        }
        if self.security.0.poll_timeout().is_some_and(|t| t <= now) {
            self.security.0.handle_timeout(now);
            self.flush_dtls();
        }
        self.retry_nacks(now);
        if self.next_report.is_some_and(|t| t <= now) {
            self.next_report = Some(now + REPORT_INTERVAL);
            self.send_reports(now);
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let nacks = self.in_streams.values().filter_map(|(_, s)| s.next_nack());
        [
            self.ice.poll_timeout(),
            self.security.0.poll_timeout(),
            self.next_report,
        ]
        .into_iter()
        .flatten()
        .chain(nacks)
        .min()
    }

    /// The next datagram to send, with its destination; its source is
    /// [`addr`](Self::addr).
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    // ---- behaviour ----

    /// Stops consent checks: the SFU's consent timer then runs out.
    pub fn stop_consent(&mut self) {
        self.ice.stop_consent();
    }

    /// Moves the peer to `addr` (a network change): the next check, sent
    /// at once from there, is nominated and moves the SFU's path.
    /// Datagrams already queued leave from the new address too.
    pub fn move_to(&mut self, addr: SocketAddr) {
        self.addr = addr;
        self.ice.restart(self.now);
    }

    /// Sends a DTLS close_notify and stops everything else.
    pub fn close(&mut self, now: Instant) {
        self.now = now;
        if self.closed {
            return;
        }
        self.security.0.close();
        self.flush_dtls();
        self.ice.stop();
        self.closed = true;
    }

    fn queue(&mut self, to: SocketAddr, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        if self.transmits.len() >= MAX_TRANSMITS {
            self.stats.transmits_dropped += 1;
            return;
        }
        self.transmits.push_back((to, data));
    }

    fn flush_dtls(&mut self) {
        let Some(to) = self.ice.remote else {
            self.security.0.out.clear();
            return;
        };
        while let Some(p) = self.security.0.out.pop_front() {
            self.stats.dtls_sent += 1;
            self.queue(to, p);
        }
    }
}
