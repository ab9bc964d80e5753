//! The full ICE agent (RFC 8445) of a session the node offers toward a
//! third party: it sends the connectivity checks, the lite agent of
//! [`super::IceLite`] only answers them.
//!
//! One component, host candidates only: our pairs are each remote UDP
//! candidate from the answer with our first local address of its family.
//! Checks go out one new transaction per [`TA`] (RFC 8445 §14.2), each
//! retransmitted after an RTO of [`INITIAL_RTO`] doubling per attempt
//! (RFC 8489 §6.2.1), at most [`MAX_TRANSMISSIONS`] times. Nomination is
//! aggressive: while controlling, every check carries USE-CANDIDATE, so
//! the first pair whose check succeeds is selected by both sides (an
//! ICE-lite peer selects the nominated pair it was checked on). Once
//! selected, a consent check (RFC 7675) goes out every 4 to 6 s; each
//! success refreshes consent, whose expiry the transport already enforces.
//! No pair succeeding within the connect timeout fails the session.
//!
//! A response counts only if its transaction is one we have in flight,
//! it came from the address the request went to and arrived on the address
//! it left from, and its FINGERPRINT and MESSAGE-INTEGRITY (the remote
//! password) verify. Anything else changes nothing.
//!
//! Role conflicts (§7.3.1.1, §7.2.5.1): a 487 response to a check, or a
//! request from a peer claiming our role with a larger tie-breaker, makes
//! us switch role; a request claiming our role with a smaller one is
//! answered 487. Once controlled we stop nominating and the peer's
//! nomination (through the lite agent) selects the path.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::stun::{self, StunMessage};

use super::{IceCredentials, Path};

mod config;

pub use config::{ControllingIce, IceAgentStats};

/// Pacing between new check transactions (RFC 8445 §14.2 suggests 50 ms).
pub const TA: Duration = Duration::from_millis(50);
/// First retransmission timeout of a check (RFC 8445 §14.3's floor).
pub const INITIAL_RTO: Duration = Duration::from_millis(500);
/// Transmissions of one check before its pair fails (RFC 8489's Rc).
pub const MAX_TRANSMISSIONS: u32 = 7;
/// At most this many remote candidates are paired; the rest are ignored.
pub const MAX_REMOTE_CANDIDATES: usize = 8;
/// Mean interval of consent checks on the selected pair (RFC 7675 §5.1).
pub const CONSENT_INTERVAL: Duration = Duration::from_secs(5);
/// Consent checks remembered in flight (one per interval of the 30 s
/// consent window); older ones are forgotten, a late answer ignored.
const MAX_CONSENT_IN_FLIGHT: usize = 6;
/// RFC 8445 §5.1.2.1: the type preference of a peer-reflexive candidate,
/// which is what PRIORITY announces.
const PRFLX_PRIORITY: u32 = (110 << 24) | (65_535 << 8) | 255;

#[derive(Debug, Clone)]
enum PairState {
    Waiting,
    InProgress {
        transaction: [u8; 12],
        request: Vec<u8>,
        transmissions: u32,
        next: Instant,
        rto: Duration,
    },
    Succeeded,
    Failed,
}

#[derive(Debug, Clone)]
struct Pair {
    path: Path,
    state: PairState,
}

/// What a verified response did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseOutcome {
    /// A check succeeded while controlling: this path is selected.
    Selected(Path),
    /// A check succeeded (controlled: the peer's nomination selects).
    Succeeded,
    /// A consent check on the selected path succeeded.
    Consent(Path),
    /// A 487: we switched role and will check the pair again.
    RoleSwitched,
    /// Another error: the pair failed.
    PairFailed,
}

/// Why a response was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseRejection {
    Unmatched,
    WrongPath,
    Integrity,
}

/// What a request's role attributes mean for us (RFC 8445 §7.3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoleCheck {
    /// No conflict.
    Agree,
    /// We switched role; answer the request.
    Switched,
    /// We keep our role: answer 487.
    Conflict,
}

/// The full agent of one session.
#[derive(Debug)]
pub(crate) struct IceAgent {
    username: String,
    remote_pwd: String,
    tie_breaker: u64,
    controlling: bool,
    pairs: Vec<Pair>,
    /// When the next new transaction may start.
    next_start: Instant,
    /// Checks fail the session past this instant if nothing succeeded.
    deadline: Instant,
    selected: Option<Path>,
    consent: VecDeque<[u8; 12]>,
    next_consent: Option<Instant>,
    failed: bool,
    rng: ChaCha20Rng,
    requests: VecDeque<(Path, Vec<u8>)>,
    started: Vec<[u8; 12]>,
    finished: Vec<[u8; 12]>,
    stats: IceAgentStats,
}

impl IceAgent {
    pub(crate) fn new(
        now: Instant,
        local: &IceCredentials,
        config: ControllingIce,
        connect_timeout: Duration,
    ) -> Self {
        let mut pairs: Vec<Pair> = Vec::new();
        for remote in config.remote_candidates {
            if pairs.len() >= MAX_REMOTE_CANDIDATES {
                break;
            }
            let Some(&local) = config
                .local_addresses
                .iter()
                .find(|l| l.is_ipv4() == remote.is_ipv4())
            else {
                continue;
            };
            if remote.port() == 0 || pairs.iter().any(|p| p.path == (remote, local)) {
                continue;
            }
            pairs.push(Pair {
                path: (remote, local),
                state: PairState::Waiting,
            });
        }
        IceAgent {
            username: format!("{}:{}", config.remote_ufrag, local.ufrag()),
            remote_pwd: config.remote_pwd,
            tie_breaker: config.tie_breaker,
            controlling: true,
            failed: pairs.is_empty(),
            pairs,
            next_start: now,
            deadline: now + connect_timeout,
            selected: None,
            consent: VecDeque::new(),
            next_consent: None,
            rng: ChaCha20Rng::from_seed(config.seed),
            requests: VecDeque::new(),
            started: Vec::new(),
            finished: Vec::new(),
            stats: IceAgentStats::default(),
        }
    }

    /// No pair can succeed any more: the session fails.
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    pub(crate) fn is_controlling(&self) -> bool {
        self.controlling
    }

    pub(crate) fn stats(&self) -> IceAgentStats {
        self.stats
    }

    /// Checks in flight, pending and consent transactions: all the ids an
    /// endpoint may route to this agent.
    pub(crate) fn transactions(&self) -> impl Iterator<Item = [u8; 12]> + '_ {
        self.pairs
            .iter()
            .filter_map(|p| match &p.state {
                PairState::InProgress { transaction, .. } => Some(*transaction),
                _ => None,
            })
            .chain(self.consent.iter().copied())
    }

    /// Transactions started since the last call (to route their responses).
    pub(crate) fn take_started(&mut self) -> Vec<[u8; 12]> {
        std::mem::take(&mut self.started)
    }

    /// Transactions over since the last call (to stop routing them).
    pub(crate) fn take_finished(&mut self) -> Vec<[u8; 12]> {
        std::mem::take(&mut self.finished)
    }

    /// The next request to send, with its path.
    pub(crate) fn poll_request(&mut self) -> Option<(Path, Vec<u8>)> {
        self.requests.pop_front()
    }

    /// When [`IceAgent::handle_timeout`] is due.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        if self.failed {
            return None;
        }
        if self.selected.is_some() {
            return self.next_consent;
        }
        let waiting = self
            .pairs
            .iter()
            .any(|p| matches!(p.state, PairState::Waiting));
        let retransmit = self
            .pairs
            .iter()
            .filter_map(|p| match p.state {
                PairState::InProgress { next, .. } => Some(next),
                _ => None,
            })
            .min();
        [
            Some(self.deadline),
            waiting.then_some(self.next_start),
            retransmit,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn transaction_id(&mut self) -> [u8; 12] {
        let mut t = [0u8; 12];
        self.rng.fill_bytes(&mut t);
        t
    }

    fn request(&self, transaction: &[u8; 12], nominate: bool) -> Vec<u8> {
        let priority = PRFLX_PRIORITY.to_be_bytes();
        let tie_breaker = self.tie_breaker.to_be_bytes();
        let role = if self.controlling {
            stun::attr::ICE_CONTROLLING
        } else {
            stun::attr::ICE_CONTROLLED
        };
        let mut attributes: Vec<(u16, &[u8])> = vec![
            (stun::attr::USERNAME, self.username.as_bytes()),
            (stun::attr::PRIORITY, &priority),
            (role, &tie_breaker),
        ];
        if nominate && self.controlling {
            attributes.push((stun::attr::USE_CANDIDATE, &[]));
        }
        let mut out = Vec::with_capacity(128);
        stun::write_message(
            &mut out,
            stun::BINDING_REQUEST,
            transaction,
            &attributes,
            Some(self.remote_pwd.as_bytes()),
        );
        out
    }

    /// Sends due retransmissions, starts the next check (paced by [`TA`]),
    /// a consent check when due, and fails the session when nothing can
    /// succeed any more.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.failed {
            return;
        }
        if let Some(path) = self.selected {
            if self.next_consent.is_some_and(|t| t <= now) {
                self.send_consent(now, path);
            }
            return;
        }
        for i in 0..self.pairs.len() {
            let Some(pair) = self.pairs.get_mut(i) else {
                continue;
            };
            let path = pair.path;
            let PairState::InProgress {
                transaction,
                request,
                transmissions,
                next,
                rto,
            } = &mut pair.state
            else {
                continue;
            };
            if *next > now {
                continue;
            }
            if *transmissions >= MAX_TRANSMISSIONS {
                self.finished.push(*transaction);
                pair.state = PairState::Failed;
                continue;
            }
            *transmissions += 1;
            *next = now + *rto;
            *rto = rto.saturating_mul(2);
            self.requests.push_back((path, request.clone()));
            self.stats.checks_retransmitted += 1;
        }
        if now >= self.next_start
            && let Some(i) = self
                .pairs
                .iter()
                .position(|p| matches!(p.state, PairState::Waiting))
        {
            self.start_check(now, i);
        }
        // Controlled, a pair that worked waits for the peer's nomination.
        let alive = self.pairs.iter().any(|p| match p.state {
            PairState::Waiting | PairState::InProgress { .. } => true,
            PairState::Succeeded => !self.controlling,
            PairState::Failed => false,
        });
        if now >= self.deadline || !alive {
            self.fail();
        }
    }

    fn fail(&mut self) {
        self.failed = true;
        let ids: Vec<_> = self.transactions().collect();
        self.finished.extend(ids);
        self.consent.clear();
        for p in &mut self.pairs {
            if matches!(p.state, PairState::InProgress { .. }) {
                p.state = PairState::Failed;
            }
        }
        self.stats.sessions_failed += 1;
    }

    fn start_check(&mut self, now: Instant, i: usize) {
        let transaction = self.transaction_id();
        let request = self.request(&transaction, true);
        let Some(pair) = self.pairs.get_mut(i) else {
            return;
        };
        self.requests.push_back((pair.path, request.clone()));
        pair.state = PairState::InProgress {
            transaction,
            request,
            transmissions: 1,
            next: now + INITIAL_RTO,
            rto: INITIAL_RTO.saturating_mul(2),
        };
        self.started.push(transaction);
        self.next_start = now + TA;
        self.stats.checks_sent += 1;
    }

    fn send_consent(&mut self, now: Instant, path: Path) {
        let transaction = self.transaction_id();
        let request = self.request(&transaction, false);
        self.requests.push_back((path, request));
        if self.consent.len() >= MAX_CONSENT_IN_FLIGHT
            && let Some(old) = self.consent.pop_front()
        {
            self.finished.push(old);
        }
        self.consent.push_back(transaction);
        self.started.push(transaction);
        self.stats.checks_sent += 1;
        self.schedule_consent(now);
    }

    /// RFC 7675 §5.1: uniformly within 0.8 to 1.2 of the interval.
    fn schedule_consent(&mut self, now: Instant) {
        let ms = CONSENT_INTERVAL.as_millis() as u64;
        let jitter = u64::from(self.rng.next_u32()) % (ms * 2 / 5 + 1);
        self.next_consent = Some(now + Duration::from_millis(ms * 4 / 5 + jitter));
    }

    /// The lite side selected `path` (we are controlled and the peer
    /// nominated it): checks stop, consent checks start.
    pub(crate) fn note_selected(&mut self, now: Instant, path: Path) {
        if self.failed || self.selected == Some(path) {
            return;
        }
        self.select(now, path);
    }

    fn select(&mut self, now: Instant, path: Path) {
        self.selected = Some(path);
        // Checks on other pairs stop; their late responses are unmatched.
        for p in &mut self.pairs {
            if let PairState::InProgress { transaction, .. } = p.state {
                self.finished.push(transaction);
                p.state = PairState::Waiting;
            }
        }
        self.schedule_consent(now);
    }

    /// A binding response (success or error) whose transaction id the
    /// endpoint routed here, received from `path`.
    pub(crate) fn handle_response(
        &mut self,
        now: Instant,
        msg: &StunMessage<'_>,
        path: Path,
    ) -> Result<ResponseOutcome, ResponseRejection> {
        let transaction = *msg.transaction_id();
        let pair = self.pairs.iter().position(|p| {
            matches!(&p.state, PairState::InProgress { transaction: t, .. } if *t == transaction)
        });
        let consent = self.consent.iter().position(|t| *t == transaction);
        let expected = match (pair, consent) {
            (Some(i), _) => self.pairs.get(i).map(|p| p.path),
            (None, Some(_)) => self.selected,
            (None, None) => None,
        };
        let Some(expected) = expected else {
            self.stats.responses_unmatched += 1;
            return Err(ResponseRejection::Unmatched);
        };
        // RFC 8445 §7.2.5.2.1: the response must come back on the path the
        // request took, or it proves nothing about that pair.
        if expected != path {
            self.stats.responses_wrong_path += 1;
            return Err(ResponseRejection::WrongPath);
        }
        if !msg.verify_fingerprint() || !msg.verify_integrity(self.remote_pwd.as_bytes()) {
            self.stats.responses_bad_integrity += 1;
            return Err(ResponseRejection::Integrity);
        }
        self.finished.push(transaction);
        if let Some(c) = consent {
            self.consent.remove(c);
            if msg.message_type() == stun::BINDING_SUCCESS {
                self.stats.responses_accepted += 1;
                return Ok(ResponseOutcome::Consent(path));
            }
            // A refusal of consent: it stops being refreshed and expires.
            self.stats.error_responses += 1;
            return Ok(ResponseOutcome::PairFailed);
        }
        let Some(i) = pair else {
            return Err(ResponseRejection::Unmatched);
        };
        if msg.message_type() == stun::BINDING_SUCCESS {
            self.stats.responses_accepted += 1;
            if let Some(p) = self.pairs.get_mut(i) {
                p.state = PairState::Succeeded;
            }
            if self.controlling && self.selected.is_none() {
                self.select(now, path);
                return Ok(ResponseOutcome::Selected(path));
            }
            return Ok(ResponseOutcome::Succeeded);
        }
        if msg.error_code() == Some(stun::ROLE_CONFLICT) {
            // §7.2.5.1: switch role and check the pair again.
            self.controlling = !self.controlling;
            self.stats.role_switches += 1;
            if let Some(p) = self.pairs.get_mut(i) {
                p.state = PairState::Waiting;
            }
            self.next_start = self.next_start.min(now);
            return Ok(ResponseOutcome::RoleSwitched);
        }
        self.stats.error_responses += 1;
        if let Some(p) = self.pairs.get_mut(i) {
            p.state = PairState::Failed;
        }
        Ok(ResponseOutcome::PairFailed)
    }

    /// RFC 8445 §7.3.1.1 for a verified request from the peer.
    pub(crate) fn check_role(&mut self, msg: &StunMessage<'_>) -> RoleCheck {
        let Some((peer_controlling, peer_tie_breaker)) = msg.ice_role() else {
            return RoleCheck::Agree;
        };
        if peer_controlling != self.controlling {
            return RoleCheck::Agree;
        }
        // Both claim the same role: the larger tie-breaker is controlling.
        let we_win = self.tie_breaker >= peer_tie_breaker;
        if we_win == self.controlling {
            self.stats.role_conflicts_answered += 1;
            RoleCheck::Conflict
        } else {
            self.controlling = !self.controlling;
            self.stats.role_switches += 1;
            RoleCheck::Switched
        }
    }

    /// Our tie-breaker, for the 487 response's role attribute.
    pub(crate) fn role_attribute(&self) -> (u16, [u8; 8]) {
        let kind = if self.controlling {
            stun::attr::ICE_CONTROLLING
        } else {
            stun::attr::ICE_CONTROLLED
        };
        (kind, self.tie_breaker.to_be_bytes())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;
