//! What a full agent is given, and what it counts.

use std::net::SocketAddr;

/// What the agent of a session we offer needs from the answer and the node.
#[derive(Clone)]
#[non_exhaustive]
pub struct ControllingIce {
    /// The peer's `a=ice-ufrag`.
    pub remote_ufrag: String,
    /// The peer's `a=ice-pwd`: it keys our checks and its responses.
    pub remote_pwd: String,
    /// The peer's UDP candidates, most preferred first (the first
    /// [`MAX_REMOTE_CANDIDATES`](super::MAX_REMOTE_CANDIDATES) of them are paired).
    pub remote_candidates: Vec<SocketAddr>,
    /// Our local addresses (host candidates), most preferred first.
    pub local_addresses: Vec<SocketAddr>,
    /// Our tie-breaker (RFC 8445 §7.1.1), from the node's generator.
    pub tie_breaker: u64,
    /// Seeds the agent's transaction ids and consent jitter.
    pub seed: [u8; 32],
}

impl ControllingIce {
    /// The agent's parameters; candidates and addresses start empty.
    pub fn new(remote_ufrag: String, remote_pwd: String, tie_breaker: u64, seed: [u8; 32]) -> Self {
        ControllingIce {
            remote_ufrag,
            remote_pwd,
            remote_candidates: Vec::new(),
            local_addresses: Vec::new(),
            tie_breaker,
            seed,
        }
    }

    /// Sets [`ControllingIce::remote_candidates`].
    pub fn with_remote_candidates(mut self, candidates: Vec<SocketAddr>) -> Self {
        self.remote_candidates = candidates;
        self
    }

    /// Sets [`ControllingIce::local_addresses`].
    pub fn with_local_addresses(mut self, addresses: Vec<SocketAddr>) -> Self {
        self.local_addresses = addresses;
        self
    }
}

impl std::fmt::Debug for ControllingIce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllingIce")
            .field("remote_ufrag", &self.remote_ufrag)
            .field("remote_candidates", &self.remote_candidates)
            .field("local_addresses", &self.local_addresses)
            .finish_non_exhaustive()
    }
}

/// Counters of the ICE agents of an endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IceAgentStats {
    /// Check and consent transactions started.
    pub checks_sent: u64,
    /// Retransmissions of checks.
    pub checks_retransmitted: u64,
    /// Successful responses accepted.
    pub responses_accepted: u64,
    /// Responses routed to an agent (by transaction id) for a transaction
    /// it no longer has in flight: a duplicate, or late. A response whose
    /// transaction id no agent ever used is counted with other unexpected
    /// STUN in `EndpointStats::stun_not_binding_request`, and creates no
    /// state.
    pub responses_unmatched: u64,
    /// Responses to one of ours from another address than we sent to, or
    /// arriving on another local address.
    pub responses_wrong_path: u64,
    /// Responses whose FINGERPRINT or MESSAGE-INTEGRITY did not verify.
    pub responses_bad_integrity: u64,
    /// Error responses other than a role conflict (the pair fails).
    pub error_responses: u64,
    /// Role switches after a conflict (RFC 8445 §7.3.1.1, §7.2.5.1).
    pub role_switches: u64,
    /// Requests answered with 487 (role conflict).
    pub role_conflicts_answered: u64,
    /// Sessions whose checks all failed or timed out.
    pub sessions_failed: u64,
}

impl IceAgentStats {
    /// Adds `other`'s counts to these.
    pub(crate) fn add(&mut self, other: &IceAgentStats) {
        self.checks_sent += other.checks_sent;
        self.checks_retransmitted += other.checks_retransmitted;
        self.responses_accepted += other.responses_accepted;
        self.responses_unmatched += other.responses_unmatched;
        self.responses_wrong_path += other.responses_wrong_path;
        self.responses_bad_integrity += other.responses_bad_integrity;
        self.error_responses += other.error_responses;
        self.role_switches += other.role_switches;
        self.role_conflicts_answered += other.role_conflicts_answered;
        self.sessions_failed += other.sessions_failed;
    }
}
