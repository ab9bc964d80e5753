//! ICE-lite (RFC 8445 §2.5) for the sessions clients offer: the SFU
//! answers their checks and sends none. Sessions the SFU offers toward a
//! third party add a full agent ([`ControllingIce`] sets it up), whose
//! answers to the peer's checks still go through the lite state below.
//! It starts controlling and nominates aggressively (USE-CANDIDATE on every
//! check: the first pair that answers is selected by both sides, which is
//! what an ICE-lite peer expects); pairs each remote UDP candidate (at most
//! [`MAX_REMOTE_CANDIDATES`]) with our local address of its family; starts
//! one check per [`TA`], retransmits it after [`INITIAL_RTO`] doubling, at
//! most [`MAX_TRANSMISSIONS`] times; fails the session when nothing
//! answered within `EndpointConfig::ice_connect_timeout` (10 s); then sends
//! a consent check every 0.8 to 1.2 × [`CONSENT_INTERVAL`] (RFC 7675).
//! A response counts only for a transaction in flight, from the address
//! the check went to, on the local address it left from, with FINGERPRINT
//! and MESSAGE-INTEGRITY (the peer's password). A 487 response, or a peer
//! claiming our role with a larger tie-breaker, switches our role; one
//! claiming it with a smaller tie-breaker is answered 487.
//!
//! Each session has local credentials we generate and the remote ufrag
//! from its offer. A check is valid when its FINGERPRINT and
//! MESSAGE-INTEGRITY verify with the local password and its USERNAME is
//! `local-ufrag:remote-ufrag`. Valid checks bind their 5-tuple to the
//! session; a nominated one (USE-CANDIDATE) selects the path we send on.
//!
//! A check carries nothing that ages, so a captured one stays valid: replayed
//! from another address it would move the session's media there. Every
//! verified transaction is therefore remembered, with the path it came
//! from, for `REPLAY_WINDOW` (longer than the consent window); the same
//! transaction from another path within it is refused. The memory is
//! bounded by bounding the rate at which a session's peer may start new
//! transactions, so no flood of valid checks can push a captured one out.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::stun::{self, StunMessage};

mod agent;

pub use agent::{
    CONSENT_INTERVAL, ControllingIce, INITIAL_RTO, IceAgentStats, MAX_REMOTE_CANDIDATES,
    MAX_TRANSMISSIONS, TA,
};
pub(crate) use agent::{IceAgent, ResponseOutcome, RoleCheck};

/// ICE characters (RFC 8839 `ice-char`): 64 of them, so one random byte
/// masked to six bits picks one uniformly.
const ICE_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const UFRAG_LEN: usize = 8;
const PWD_LEN: usize = 24;

/// Local ICE credentials of one session (`a=ice-ufrag` / `a=ice-pwd`).
#[derive(Clone, PartialEq, Eq)]
pub struct IceCredentials {
    ufrag: String,
    pwd: String,
}

impl IceCredentials {
    /// Builds credentials from caller-provided randomness: an 8-character
    /// ufrag (48 bits) and a 24-character password (144 bits, above the 128
    /// RFC 8445 asks for).
    pub fn from_random(random: &[u8; UFRAG_LEN + PWD_LEN]) -> Self {
        let to_ice = |bytes: &[u8]| -> String {
            bytes
                .iter()
                .map(|b| char::from(ICE_CHARS.get(usize::from(b & 63)).copied().unwrap_or(b'A')))
                .collect()
        };
        let (ufrag, pwd) = random.split_at(UFRAG_LEN);
        IceCredentials {
            ufrag: to_ice(ufrag),
            pwd: to_ice(pwd),
        }
    }

    /// The local ufrag, for `a=ice-ufrag`.
    pub fn ufrag(&self) -> &str {
        &self.ufrag
    }

    /// The local password, for `a=ice-pwd`.
    pub fn pwd(&self) -> &str {
        &self.pwd
    }
}

impl fmt::Debug for IceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceCredentials")
            .field("ufrag", &self.ufrag)
            .field("pwd", &"<redacted>")
            .finish()
    }
}

/// The local ufrag a check is addressed to: USERNAME up to the first `:`.
pub fn local_ufrag_of(username: &[u8]) -> Option<&[u8]> {
    let colon = username.iter().position(|&b| b == b':')?;
    username.get(..colon)
}

/// Why a binding request addressed to a known ufrag was not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckRejection {
    /// FINGERPRINT missing or wrong.
    Fingerprint,
    /// MESSAGE-INTEGRITY missing or wrong.
    Integrity,
    /// Integrity verified but USERNAME names another remote ufrag.
    RemoteUfrag,
    /// A transaction already seen from another path: a captured check
    /// replayed from elsewhere (retransmissions come from the same path).
    Replayed,
    /// A new transaction while the session's peer is over its check rate:
    /// remembering it could only be done by forgetting one still in the
    /// replay window.
    TooManyChecks,
}

/// How long a verified transaction is remembered: past RFC 7675's 30 s
/// consent timeout, by which a session whose peer stopped checking is gone,
/// with a margin for a late consent check.
pub(crate) const REPLAY_WINDOW: Duration = Duration::from_secs(40);
/// New transactions a session's peer may start at once. Until a pair works,
/// libwebrtc pings one pair every 48 ms, each ping a new transaction (a
/// STUN retransmission, as Firefox sends, is the same transaction and
/// costs nothing): a burst of a couple of seconds.
const CHECK_BURST: u32 = 48;
/// Time to earn one more new transaction once the burst is spent: 4 a
/// second, twice what libwebrtc sends once a pair works (one ping per
/// 480 ms at most, then one per 2.5 s on the selected pair).
const CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// The replay memory's bound: every transaction the rate bound admits in
/// one window (48 + 40 s × 4/s), so none still in the window is evicted.
/// Held only by a peer checking that fast; a browser's steady state keeps
/// a few dozen.
const MAX_REMEMBERED: usize = 208;

/// A 5-tuple seen from our side: the peer's address and our local address.
pub(crate) type Path = (SocketAddr, SocketAddr);

/// What accepting a valid check changed.
#[derive(Debug, Default)]
pub(crate) struct PathUpdate {
    /// The path was not bound to this session before.
    pub added: bool,
    /// A path evicted to keep the per-session bound.
    pub evicted: Option<Path>,
    /// The selected path changed (first check, or a nomination elsewhere).
    pub selected_changed: bool,
}

/// ICE-lite state of one session.
#[derive(Debug)]
pub(crate) struct IceLite {
    credentials: IceCredentials,
    remote_ufrag: Option<String>,
    /// Paths a valid check came from, oldest first, bounded.
    paths: Vec<Path>,
    max_paths: usize,
    selected: Option<Path>,
    last_consent: Instant,
    /// Verified transactions of the last [`REPLAY_WINDOW`], and the rate
    /// bound that keeps them bounded.
    replay: ReplayMemory,
    /// Our full agent controls the session: the peer's checks bind paths
    /// but never select one (our own successful check does).
    controlling: bool,
}

/// One verified transaction: its id, the path it came from, when.
#[derive(Debug, Clone, Copy)]
struct Seen {
    transaction: [u8; 12],
    path: Path,
    at: Instant,
}

/// The transactions a session verified within [`REPLAY_WINDOW`], oldest
/// first, and a token bucket over new ones (a burst of [`CHECK_BURST`],
/// then one per [`CHECK_INTERVAL`]).
#[derive(Debug, Default)]
struct ReplayMemory {
    /// Grows as checks arrive (a quiet session holds a handful), up to
    /// [`MAX_REMEMBERED`].
    seen: VecDeque<Seen>,
    tokens: u32,
    /// When `tokens` was last topped up; `None`: no check yet (full).
    since: Option<Instant>,
}

impl ReplayMemory {
    /// The entry for `transaction` still within the window at `now`.
    fn find(&self, now: Instant, transaction: &[u8; 12]) -> Option<&Seen> {
        self.seen.iter().find(|s| {
            s.transaction == *transaction && now.saturating_duration_since(s.at) < REPLAY_WINDOW
        })
    }

    /// The bucket as it stands at `now`: tokens, and when they were counted.
    fn refilled(&self, now: Instant) -> (u32, Instant) {
        let Some(since) = self.since else {
            return (CHECK_BURST, now);
        };
        let earned = now.saturating_duration_since(since).as_nanos() / CHECK_INTERVAL.as_nanos();
        let room = CHECK_BURST.saturating_sub(self.tokens);
        if earned >= u128::from(room) {
            (CHECK_BURST, now)
        } else {
            // Below `room`, so it fits a u32; the fraction of a token earned
            // since is kept by advancing `since` only by whole intervals.
            let earned = u32::try_from(earned).unwrap_or(0);
            (self.tokens + earned, since + CHECK_INTERVAL * earned)
        }
    }

    fn in_window(&self, now: Instant) -> usize {
        self.seen
            .iter()
            .filter(|s| now.saturating_duration_since(s.at) < REPLAY_WINDOW)
            .count()
    }

    /// Whether a new transaction may be started at `now`.
    fn may_start(&self, now: Instant) -> bool {
        self.refilled(now).0 > 0 && self.in_window(now) < MAX_REMEMBERED
    }

    /// Remembers a verified transaction (a retransmission, same path, is
    /// already remembered and costs nothing).
    fn record(&mut self, now: Instant, transaction: [u8; 12], path: Path) {
        while self
            .seen
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.at) >= REPLAY_WINDOW)
        {
            self.seen.pop_front();
        }
        if self.find(now, &transaction).is_some_and(|s| s.path == path) {
            return;
        }
        let (tokens, since) = self.refilled(now);
        self.tokens = tokens.saturating_sub(1);
        self.since = Some(since);
        if self.seen.len() >= MAX_REMEMBERED {
            // Unreachable while callers verify first (the rate bound admits
            // no more than this per window); kept as the memory's bound.
            self.seen.pop_front();
        }
        self.seen.push_back(Seen {
            transaction,
            path,
            at: now,
        });
    }
}

impl IceLite {
    pub(crate) fn new(
        now: Instant,
        credentials: IceCredentials,
        remote_ufrag: Option<String>,
        max_paths: usize,
    ) -> Self {
        IceLite {
            credentials,
            remote_ufrag,
            paths: Vec::with_capacity(max_paths),
            max_paths: max_paths.max(1),
            selected: None,
            // The consent clock starts at creation: a session nobody ever
            // checks expires like one whose peer went away.
            last_consent: now,
            replay: ReplayMemory::default(),
            controlling: false,
        }
    }

    /// Whether our full agent holds the controlling role (see the field).
    pub(crate) fn set_controlling(&mut self, controlling: bool) {
        self.controlling = controlling;
    }

    /// Adds a path not yet known, evicting the least recently used one
    /// that is not selected when the list is full.
    fn add_path(&mut self, path: Path, update: &mut PathUpdate) {
        if self.paths.len() >= self.max_paths {
            let victim = self
                .paths
                .iter()
                .position(|p| Some(*p) != self.selected)
                .unwrap_or(0);
            update.evicted = Some(self.paths.remove(victim));
        }
        self.paths.push(path);
        update.added = true;
    }

    /// Our controlling agent's check on `path` succeeded: the path is
    /// bound and selected, and consent is fresh.
    pub(crate) fn select_checked(&mut self, now: Instant, path: Path) -> PathUpdate {
        let mut update = PathUpdate::default();
        if !self.paths.contains(&path) {
            self.add_path(path, &mut update);
        }
        if self.selected != Some(path) {
            self.selected = Some(path);
            update.selected_changed = true;
        }
        self.last_consent = now;
        update
    }

    /// A consent check of ours on the selected `path` was answered.
    pub(crate) fn refresh_consent(&mut self, now: Instant, path: Path) {
        if self.selected == Some(path) {
            self.last_consent = now;
        }
    }

    pub(crate) fn credentials(&self) -> &IceCredentials {
        &self.credentials
    }

    pub(crate) fn selected(&self) -> Option<Path> {
        self.selected
    }

    pub(crate) fn paths(&self) -> &[Path] {
        &self.paths
    }

    pub(crate) fn last_consent(&self) -> Instant {
        self.last_consent
    }

    /// Verifies a binding request routed here by its local ufrag, received
    /// at `now` from `path`.
    pub(crate) fn verify(
        &self,
        now: Instant,
        msg: &StunMessage<'_>,
        path: Path,
    ) -> Result<(), CheckRejection> {
        // CRC first: it is cheaper than the HMAC and rejects most noise.
        if !msg.verify_fingerprint() {
            return Err(CheckRejection::Fingerprint);
        }
        if !msg.verify_integrity(self.credentials.pwd.as_bytes()) {
            return Err(CheckRejection::Integrity);
        }
        if let Some(remote) = &self.remote_ufrag {
            let username = msg.username().unwrap_or_default();
            let expected_tail = username.get(self.credentials.ufrag.len() + 1..);
            if expected_tail != Some(remote.as_bytes()) {
                return Err(CheckRejection::RemoteUfrag);
            }
        }
        // After the HMAC: only the password holder's checks count against
        // the peer's rate, and only genuine transactions are remembered.
        match self.replay.find(now, msg.transaction_id()) {
            Some(seen) if seen.path != path => Err(CheckRejection::Replayed),
            // A retransmission: answered again.
            Some(_) => Ok(()),
            None if !self.replay.may_start(now) => Err(CheckRejection::TooManyChecks),
            None => Ok(()),
        }
    }

    /// Records a check from `path` that [`IceLite::verify`] accepted at `now`.
    pub(crate) fn accept(
        &mut self,
        now: Instant,
        transaction_id: [u8; 12],
        path: Path,
        nominated: bool,
    ) -> PathUpdate {
        self.replay.record(now, transaction_id, path);
        let mut update = PathUpdate::default();
        if let Some(i) = self.paths.iter().position(|p| *p == path) {
            // Keep the list ordered by last use so eviction drops stale paths.
            let p = self.paths.remove(i);
            self.paths.push(p);
        } else {
            self.add_path(path, &mut update);
        }
        // While our own agent controls, its checks select; the peer's
        // only prove the path.
        if !self.controlling
            && (self.selected.is_none() || (nominated && self.selected != Some(path)))
        {
            self.selected = Some(path);
            update.selected_changed = true;
        }
        // RFC 7675: consent is refreshed by checks on the path we send on.
        if self.selected == Some(path) {
            self.last_consent = now;
        }
        update
    }

    /// Forgets a path another session took over.
    pub(crate) fn forget(&mut self, path: Path) {
        self.paths.retain(|p| *p != path);
        if self.selected == Some(path) {
            self.selected = self.paths.last().copied();
        }
    }

    /// Writes a 487 role-conflict error response to `msg` carrying our
    /// role attribute `role` (RFC 8445 §7.3.1.1).
    pub(crate) fn write_role_conflict(
        &self,
        msg: &StunMessage<'_>,
        role: (u16, [u8; 8]),
        out: &mut Vec<u8>,
    ) {
        let code = stun::error_code_value(stun::ROLE_CONFLICT);
        stun::write_message(
            out,
            stun::BINDING_ERROR,
            msg.transaction_id(),
            &[(stun::attr::ERROR_CODE, &code), (role.0, &role.1)],
            Some(self.credentials.pwd.as_bytes()),
        );
    }

    /// Writes the binding success response to `msg`, received from `remote`.
    pub(crate) fn write_response(
        &self,
        msg: &StunMessage<'_>,
        remote: SocketAddr,
        out: &mut Vec<u8>,
    ) {
        let tid = msg.transaction_id();
        let (xor, len) = stun::xor_address_value(remote, tid);
        stun::write_message(
            out,
            stun::BINDING_SUCCESS,
            tid,
            &[(
                stun::attr::XOR_MAPPED_ADDRESS,
                xor.get(..len).unwrap_or_default(),
            )],
            Some(self.credentials.pwd.as_bytes()),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn credentials_use_only_ice_chars() {
        let c = IceCredentials::from_random(&[0xff; 32]);
        assert_eq!(c.ufrag().len(), 8);
        assert_eq!(c.pwd().len(), 24);
        let c = IceCredentials::from_random(&core::array::from_fn(|i| i as u8 * 7));
        assert!(
            c.ufrag()
                .bytes()
                .chain(c.pwd().bytes())
                .all(|b| ICE_CHARS.contains(&b))
        );
        assert!(!format!("{c:?}").contains(c.pwd()));
    }

    #[test]
    fn local_ufrag_is_username_before_colon() {
        assert_eq!(local_ufrag_of(b"abcd:efgh"), Some(&b"abcd"[..]));
        assert_eq!(local_ufrag_of(b"abcd"), None);
        assert_eq!(local_ufrag_of(b":x"), Some(&b""[..]));
    }

    #[test]
    fn nomination_moves_selection_and_paths_stay_bounded() {
        let now = Instant::now();
        let local: SocketAddr = "10.0.0.1:443".parse().unwrap();
        let mut ice = IceLite::new(now, IceCredentials::from_random(&[1; 32]), None, 2);
        let a: SocketAddr = "1.1.1.1:1".parse().unwrap();
        let b: SocketAddr = "2.2.2.2:2".parse().unwrap();
        let c: SocketAddr = "3.3.3.3:3".parse().unwrap();
        assert!(ice.accept(now, [1; 12], (a, local), false).selected_changed);
        assert!(!ice.accept(now, [2; 12], (b, local), false).selected_changed);
        assert_eq!(ice.selected(), Some((a, local)));
        let u = ice.accept(now, [3; 12], (c, local), true);
        assert!(u.selected_changed);
        assert_eq!(u.evicted, Some((b, local)));
        assert_eq!(ice.selected(), Some((c, local)));
        assert_eq!(ice.paths().len(), 2);
    }

    fn path(port: u16) -> Path {
        (
            SocketAddr::from(([198, 51, 100, 7], port)),
            "10.0.0.1:443".parse().unwrap(),
        )
    }

    fn tid(i: u32) -> [u8; 12] {
        let mut t = [0u8; 12];
        t[..4].copy_from_slice(&i.to_be_bytes());
        t
    }

    #[test]
    fn transactions_are_remembered_for_the_window_then_forgotten() {
        let t0 = Instant::now();
        let mut m = ReplayMemory::default();
        m.record(t0, tid(1), path(1));
        // However many checks follow, at browser pace.
        for i in 0..79 {
            let at = t0 + Duration::from_millis(500) * i;
            assert!(m.may_start(at));
            m.record(at, tid(100 + i), path(1));
        }
        let late = t0 + REPLAY_WINDOW - Duration::from_millis(1);
        assert_eq!(m.find(late, &tid(1)).map(|s| s.path), Some(path(1)));
        assert!(m.find(t0 + REPLAY_WINDOW, &tid(1)).is_none());
        assert!(m.seen.len() <= MAX_REMEMBERED);
    }

    #[test]
    fn new_transactions_are_bounded_to_a_burst_then_a_rate() {
        let t0 = Instant::now();
        let mut m = ReplayMemory::default();
        let mut started = 0;
        for i in 0..1000 {
            if m.may_start(t0) {
                m.record(t0, tid(i), path(1));
                started += 1;
            }
        }
        assert_eq!(started, CHECK_BURST);
        assert!(!m.may_start(t0 + CHECK_INTERVAL - Duration::from_millis(1)));
        assert!(m.may_start(t0 + CHECK_INTERVAL));
        // A retransmission is not a new transaction.
        let before = m.seen.len();
        m.record(t0 + CHECK_INTERVAL, tid(0), path(1));
        assert_eq!(m.seen.len(), before);
        // Flooding for a minute never holds more than the bound, and what
        // the bound admits in a window never exceeds it.
        let mut at = t0;
        for i in 0..60_000 {
            at += Duration::from_millis(1);
            if m.may_start(at) {
                m.record(at, tid(10_000 + i), path(1));
            }
            assert!(m.seen.len() <= MAX_REMEMBERED);
        }
        assert!(
            usize::try_from(CHECK_BURST).unwrap()
                + usize::try_from(REPLAY_WINDOW.as_millis() / CHECK_INTERVAL.as_millis()).unwrap()
                <= MAX_REMEMBERED
        );
    }
}
