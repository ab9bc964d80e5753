//! Counters for every datagram the endpoint drops, by reason.

/// Endpoint-wide counters. Every dropped datagram increments exactly one
/// `*_dropped`-style counter below, so `datagrams` minus the drops is what
/// reached a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams: u64,
    /// First byte outside STUN, DTLS and RTP/RTCP ranges (RFC 7983).
    pub unknown_kind: u64,
    /// STUN that does not parse.
    pub stun_malformed: u64,
    /// STUN that parses but is not a binding request.
    pub stun_not_binding_request: u64,
    /// Binding request without USERNAME, or with a ufrag no session has.
    pub stun_unknown_ufrag: u64,
    /// FINGERPRINT missing or wrong.
    pub stun_bad_fingerprint: u64,
    /// MESSAGE-INTEGRITY missing or wrong.
    pub stun_bad_integrity: u64,
    /// Integrity verified but USERNAME names another remote ufrag.
    pub stun_wrong_remote_ufrag: u64,
    /// A verified check whose transaction was already seen from another
    /// path: a captured check replayed from elsewhere.
    pub stun_replayed: u64,
    /// Verified checks refused because the session's peer started new
    /// transactions faster than the replay memory is sized for (a burst of
    /// 48, then 4 a second: above what browsers send). Retransmissions
    /// are not new transactions and never count here.
    pub stun_check_rate_exceeded: u64,
    /// Valid checks answered.
    pub binding_responses: u64,
    /// DTLS from a path no valid check came from.
    pub dtls_unknown_source: u64,
    /// DTLS application data (data channels are not supported).
    pub dtls_application_data: u64,
    /// DTLS records from a session's own path dropped as junk, the session
    /// kept: records no DTLS 1.2 client sends (malformed, an unknown
    /// content type, version or epoch, a handshake message only a server
    /// sends, a fragment outside its message, ...) and records refused
    /// because the DTLS engine's receive queue was full.
    pub dtls_records_dropped: u64,
    /// RTP/RTCP from a path no valid check came from.
    pub media_unknown_source: u64,
    /// RTP/RTCP on a valid path before DTLS keyed SRTP.
    pub media_before_keys: u64,
    /// SRTP/SRTCP too short or not version 2.
    pub srtp_malformed: u64,
    /// SRTP/SRTCP from an SSRC not negotiated for the session.
    pub srtp_ssrc_not_negotiated: u64,
    /// SRTP/SRTCP replays.
    pub srtp_replayed: u64,
    /// SRTP/SRTCP whose authentication tag did not verify.
    pub srtp_auth_failed: u64,
    /// SRTP/SRTCP from an SSRC the session has not learned yet, dropped
    /// before any crypto because the session's budget for authenticating
    /// such packets was spent (see `SrtpSession::unprotect_rtcp_at`).
    pub srtp_learning_budget_spent: u64,
    /// Datagrams not queued because the transmit queue was full.
    pub transmits_dropped: u64,
    /// Media and path events not queued because the event queue was full.
    pub events_dropped: u64,
    /// Sessions that failed (DTLS error, fingerprint mismatch, …).
    pub sessions_failed: u64,
}
