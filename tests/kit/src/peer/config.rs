//! What a peer is asked to be ([`PeerConfig`]), what can go wrong
//! ([`PeerError`]) and what it counts ([`PeerStats`]).

use std::fmt;
use std::net::SocketAddr;

/// One m-section a peer is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SectionSpec {
    SendAudio,
    SendVideo,
    SendSimulcast(Vec<String>),
    ReceiveAudio,
    ReceiveVideo,
}

/// How to build a [`Peer`](super::Peer): its address, its seed and its
/// m-sections, in the order they are offered.
///
/// ```
/// # use sfu_testkit::peer::PeerConfig;
/// let config = PeerConfig::new("198.51.100.7:50000".parse().unwrap(), 7)
///     .send_audio()
///     .send_simulcast(&["q", "h", "f"])
///     .receive_video();
/// ```
#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub(crate) addr: SocketAddr,
    pub(crate) seed: u64,
    pub(crate) sections: Vec<SectionSpec>,
    pub(crate) hybrid_client_hello: bool,
    pub(crate) random_certificate: bool,
}

impl PeerConfig {
    /// A peer at `addr` (its only host candidate) whose ICE credentials,
    /// SSRCs, sequence numbers and transaction ids derive from `seed`.
    pub fn new(addr: SocketAddr, seed: u64) -> Self {
        PeerConfig {
            addr,
            seed,
            sections: Vec::new(),
            hybrid_client_hello: false,
            random_certificate: false,
        }
    }

    /// Adds a `sendonly` audio section: Opus PT 111, one SSRC.
    pub fn send_audio(mut self) -> Self {
        self.sections.push(SectionSpec::SendAudio);
        self
    }

    /// Adds a `sendonly` video section: VP8 PT 96 + RTX PT 97, a media and
    /// an RTX SSRC tied by `a=ssrc-group:FID`.
    pub fn send_video(mut self) -> Self {
        self.sections.push(SectionSpec::SendVideo);
        self
    }

    /// Adds a `sendonly` simulcast video section the way Chromium writes
    /// one: `a=rid:<rid> send` per layer, `a=simulcast:send q;h;f`, no SSRC
    /// lines (the SFU learns them from the rid / repaired-rid extensions).
    pub fn send_simulcast(mut self, rids: &[&str]) -> Self {
        self.sections.push(SectionSpec::SendSimulcast(
            rids.iter().map(|r| (*r).to_owned()).collect(),
        ));
        self
    }

    /// Adds a `recvonly` audio section (Opus).
    pub fn receive_audio(mut self) -> Self {
        self.sections.push(SectionSpec::ReceiveAudio);
        self
    }

    /// Adds a `recvonly` video section (VP8 + RTX).
    pub fn receive_video(mut self) -> Self {
        self.sections.push(SectionSpec::ReceiveVideo);
        self
    }

    /// Sends a DTLS 1.2/1.3 hybrid ClientHello as current browsers do
    /// (dimpl's `new_auto`) instead of a DTLS 1.2 one.
    pub fn hybrid_client_hello(mut self) -> Self {
        self.hybrid_client_hello = true;
        self
    }

    /// Uses a fresh rcgen certificate (OS randomness) instead of the fixed
    /// one every peer shares by default.
    pub fn random_certificate(mut self) -> Self {
        self.random_certificate = true;
        self
    }
}

/// Why the peer refused an SDP or a call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerError {
    /// The text is not SDP the peer can read (the `rtc-sdp` grammar or a
    /// required attribute failed).
    InvalidSdp(String),
    /// The answer does not fit the offer it answers.
    AnswerMismatch(String),
    /// An SFU offer drops or reorders the peer's m-sections.
    OfferMismatch(String),
    /// `a=setup` leaves the peer no DTLS client role.
    UnsupportedSetup(String),
    /// The ICE ufrag or DTLS fingerprint changed (no ICE restart here).
    TransportChanged,
    /// No candidate of the peer's address family.
    NoCandidate,
    /// `apply_answer` without an offer in flight.
    NoOfferInFlight,
    /// No m-section with this mid.
    UnknownMid(String),
    /// The section does not (or no longer) send, or its codec is not negotiated.
    NotSending(String),
    /// The rid is not one of the section's simulcast layers (or one is needed).
    UnknownRid(String),
    /// Nothing was received on this mid to send feedback about.
    NothingReceived(String),
    /// SRTP is not keyed yet.
    NotConnected,
    /// The peer was closed.
    Closed,
    /// Encryption failed.
    Srtp(String),
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::InvalidSdp(why) => write!(f, "invalid SDP: {why}"),
            PeerError::AnswerMismatch(why) => write!(f, "the answer does not fit the offer: {why}"),
            PeerError::OfferMismatch(why) => write!(f, "the offer does not fit the session: {why}"),
            PeerError::UnsupportedSetup(s) => {
                write!(f, "a=setup:{s} leaves us no DTLS client role")
            }
            PeerError::TransportChanged => write!(f, "ICE credentials or DTLS fingerprint changed"),
            PeerError::NoCandidate => write!(f, "no candidate of our address family"),
            PeerError::NoOfferInFlight => write!(f, "no offer in flight"),
            PeerError::UnknownMid(mid) => write!(f, "no m-section {mid:?}"),
            PeerError::NotSending(mid) => write!(f, "m-section {mid:?} does not send"),
            PeerError::UnknownRid(rid) => write!(f, "no simulcast layer {rid:?}"),
            PeerError::NothingReceived(mid) => write!(f, "nothing received on m-section {mid:?}"),
            PeerError::NotConnected => write!(f, "SRTP is not keyed yet"),
            PeerError::Closed => write!(f, "the peer is closed"),
            PeerError::Srtp(why) => write!(f, "SRTP: {why}"),
        }
    }
}

impl std::error::Error for PeerError {}

/// What a peer counted since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// STUN binding requests sent (first checks, retransmissions, consent).
    pub checks_sent: u64,
    /// Valid binding success responses.
    pub check_responses: u64,
    /// DTLS datagrams sent.
    pub dtls_sent: u64,
    /// DTLS datagrams received.
    pub dtls_received: u64,
    /// RTP packets sent (originals).
    pub rtp_sent: u64,
    /// RTX retransmissions sent.
    pub rtx_sent: u64,
    /// Plain retransmissions sent (sections without RTX).
    pub retransmissions_sent: u64,
    /// RTP packets received (originals and RTX with a payload).
    pub rtp_received: u64,
    /// Of those, RTX retransmissions.
    pub rtx_received: u64,
    /// RTX packets without an OSN (padding probes), not recorded.
    pub rtx_padding_received: u64,
    /// NACK packets sent.
    pub nacks_sent: u64,
    /// Sequence numbers named in NACKs sent (retries included).
    pub nacked_packets: u64,
    /// NACK packets received.
    pub nacks_received: u64,
    /// NACKed packets no longer in the send history.
    pub nacks_unanswerable: u64,
    /// PLIs sent.
    pub plis_sent: u64,
    /// PLIs received.
    pub plis_received: u64,
    /// FIRs received.
    pub firs_received: u64,
    /// Receiver reports sent.
    pub receiver_reports_sent: u64,
    /// Sender reports sent (one per sending SSRC per second).
    pub sender_reports_sent: u64,
    /// SRTCP packets sent.
    pub rtcp_sent: u64,
    /// SRTCP packets received.
    pub rtcp_received: u64,
    /// SRTP/SRTCP packets that failed to decrypt or authenticate (or came before keys).
    pub decrypt_failures: u64,
    /// Datagrams that were neither STUN, DTLS nor SRTP.
    pub unknown_datagrams: u64,
    /// Datagrams dropped because the transmit queue was full.
    pub transmits_dropped: u64,
    /// Received-packet records dropped because nobody took them.
    pub received_dropped: u64,
}
