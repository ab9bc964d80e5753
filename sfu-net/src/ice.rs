//! ICE-lite (RFC 8445 §2.5): the SFU never sends checks, it answers them.
//!
//! Each session has local credentials we generate and the remote ufrag
//! from its offer. A check is valid when its FINGERPRINT and
//! MESSAGE-INTEGRITY verify with the local password and its USERNAME is
//! `local-ufrag:remote-ufrag`. Valid checks bind their 5-tuple to the
//! session; a nominated one (USE-CANDIDATE) selects the path we send on.

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use crate::stun::{self, StunMessage};

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
}

/// Recent transactions remembered per session to spot replays.
const RECENT_TRANSACTIONS: usize = 16;

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
    /// Ring of the last verified transactions and the path each came from.
    recent: [Option<([u8; 12], Path)>; RECENT_TRANSACTIONS],
    recent_next: usize,
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
            recent: [None; RECENT_TRANSACTIONS],
            recent_next: 0,
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

    /// Verifies a binding request routed here by its local ufrag.
    pub(crate) fn verify(&self, msg: &StunMessage<'_>, path: Path) -> Result<(), CheckRejection> {
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
        let tid = msg.transaction_id();
        if self
            .recent
            .iter()
            .flatten()
            .any(|(t, p)| t == tid && *p != path)
        {
            return Err(CheckRejection::Replayed);
        }
        Ok(())
    }

    /// Records a verified check from `path`.
    pub(crate) fn accept(
        &mut self,
        now: Instant,
        transaction_id: [u8; 12],
        path: Path,
        nominated: bool,
    ) -> PathUpdate {
        if let Some(slot) = self.recent.get_mut(self.recent_next) {
            *slot = Some((transaction_id, path));
        }
        self.recent_next = (self.recent_next + 1) % RECENT_TRANSACTIONS;
        let mut update = PathUpdate::default();
        if let Some(i) = self.paths.iter().position(|p| *p == path) {
            // Keep the list ordered by last use so eviction drops stale paths.
            let p = self.paths.remove(i);
            self.paths.push(p);
        } else {
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
        if self.selected.is_none() || (nominated && self.selected != Some(path)) {
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
}
