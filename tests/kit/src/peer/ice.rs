//! The peer's ICE agent: controlling, one candidate pair (its address and
//! the SFU's candidate of the same family), aggressive nomination, then
//! consent freshness (RFC 7675). STUN is built and checked with `rtc-stun`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtc_stun::attributes::{
    ATTR_ICE_CONTROLLING, ATTR_PRIORITY, ATTR_USE_CANDIDATE, ATTR_USERNAME, RawAttribute,
};
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{BINDING_REQUEST, BINDING_SUCCESS, Getter, Message, Setter, TransactionId};
use rtc_stun::textattrs::TextAttribute;
use rtc_stun::xoraddr::XorMappedAddress;

use super::rng::PeerRng;

/// A check is retransmitted this often until it is answered.
pub(crate) const CHECK_RETRANSMIT: Duration = Duration::from_millis(500);
/// Consent checks once the pair works (RFC 7675 §5.1 says 5 s on average).
pub(crate) const CONSENT_INTERVAL: Duration = Duration::from_secs(5);
/// Consent is lost after this long without a response (RFC 7675 §5.1).
pub(crate) const CONSENT_LOST: Duration = Duration::from_secs(30);
/// Transactions whose responses are still accepted.
const OUTSTANDING: usize = 8;

/// Host candidate priority for our checks (RFC 8445 §5.1.2.1, peer-reflexive type).
const PRIORITY: u32 = 0x6e00_01ff;

#[derive(Debug)]
pub(crate) struct Ice {
    local_ufrag: String,
    remote_ufrag: String,
    remote_pwd: String,
    /// The SFU's candidate we check.
    pub remote: Option<SocketAddr>,
    tiebreaker: u64,
    outstanding: VecDeque<[u8; 12]>,
    /// The transaction retransmitted until the pair works.
    current: Option<[u8; 12]>,
    next_check: Option<Instant>,
    /// A valid response arrived on the current local address.
    pub succeeded: bool,
    consent: bool,
    last_response: Option<Instant>,
}

impl Ice {
    pub(crate) fn new(local_ufrag: String, tiebreaker: u64) -> Self {
        Ice {
            local_ufrag,
            remote_ufrag: String::new(),
            remote_pwd: String::new(),
            remote: None,
            tiebreaker,
            outstanding: VecDeque::with_capacity(OUTSTANDING),
            current: None,
            next_check: None,
            succeeded: false,
            consent: true,
            last_response: None,
        }
    }

    /// Starts (or keeps) checking `remote` with the SFU's credentials.
    pub(crate) fn start(&mut self, now: Instant, ufrag: &str, pwd: &str, remote: SocketAddr) {
        let same = self.remote == Some(remote) && self.remote_ufrag == ufrag;
        self.remote_ufrag = ufrag.to_owned();
        self.remote_pwd = pwd.to_owned();
        if !same {
            self.remote = Some(remote);
            self.succeeded = false;
            self.current = None;
            self.next_check = Some(now);
        }
    }

    /// The local address changed: check again from there, nominated.
    pub(crate) fn restart(&mut self, now: Instant) {
        if self.remote.is_some() {
            self.succeeded = false;
            self.current = None;
            self.next_check = Some(now);
        }
    }

    /// Stops consent checks (the SFU's consent timer then expires).
    pub(crate) fn stop_consent(&mut self) {
        self.consent = false;
        if self.succeeded {
            self.next_check = None;
        }
    }

    /// Stops every check (the peer closed).
    pub(crate) fn stop(&mut self) {
        self.consent = false;
        self.next_check = None;
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next_check
    }

    /// Whether no response arrived for [`CONSENT_LOST`] while checking.
    pub(crate) fn consent_lost(&self, now: Instant) -> bool {
        self.consent
            && self
                .last_response
                .is_some_and(|t| now.saturating_duration_since(t) >= CONSENT_LOST)
    }

    /// A due check, as `(destination, datagram)`.
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        rng: &mut PeerRng,
    ) -> Option<(SocketAddr, Vec<u8>)> {
        let due = self.next_check.is_some_and(|t| t <= now);
        let remote = self.remote?;
        if !due {
            return None;
        }
        let tid = if self.succeeded {
            self.next_check = self.consent.then(|| now + CONSENT_INTERVAL);
            rng.transaction_id()
        } else {
            self.next_check = Some(now + CHECK_RETRANSMIT);
            *self.current.get_or_insert_with(|| rng.transaction_id())
        };
        if !self.outstanding.contains(&tid) {
            if self.outstanding.len() >= OUTSTANDING {
                self.outstanding.pop_front();
            }
            self.outstanding.push_back(tid);
        }
        Some((remote, self.request(tid)))
    }

    fn request(&self, tid: [u8; 12]) -> Vec<u8> {
        let Ok(provider) = rtc_stun::crypto::default_provider() else {
            return Vec::new();
        };
        let username = TextAttribute::new(
            ATTR_USERNAME,
            format!("{}:{}", self.remote_ufrag, self.local_ufrag),
        );
        let priority = RawAttribute {
            typ: ATTR_PRIORITY,
            length: 0,
            value: PRIORITY.to_be_bytes().to_vec(),
        };
        let controlling = RawAttribute {
            typ: ATTR_ICE_CONTROLLING,
            length: 0,
            value: self.tiebreaker.to_be_bytes().to_vec(),
        };
        let nominate = RawAttribute {
            typ: ATTR_USE_CANDIDATE,
            length: 0,
            value: Vec::new(),
        };
        let integrity = MessageIntegrity::new_short_term_integrity_with_provider(
            self.remote_pwd.clone(),
            provider.crypto(),
        );
        let setters: Vec<Box<dyn Setter + '_>> = vec![
            Box::new(BINDING_REQUEST),
            Box::new(TransactionId(tid)),
            Box::new(username),
            Box::new(priority),
            Box::new(controlling),
            Box::new(nominate),
            Box::new(integrity),
            Box::new(FINGERPRINT),
        ];
        let mut m = Message::new();
        match m.build(&setters) {
            Ok(()) => m.raw.clone(),
            Err(_) => Vec::new(),
        }
    }

    /// A STUN datagram from the SFU: if it is a success response to one of
    /// our transactions that verifies with the SFU's pwd, returns the
    /// XOR-MAPPED-ADDRESS and records success.
    pub(crate) fn handle_response(&mut self, now: Instant, data: &[u8]) -> Option<SocketAddr> {
        let provider = rtc_stun::crypto::default_provider().ok()?;
        let mut m = Message::new();
        m.unmarshal_binary(data).ok()?;
        if m.typ != BINDING_SUCCESS || !self.outstanding.contains(&m.transaction_id.0) {
            return None;
        }
        FINGERPRINT.check(&m).ok()?;
        MessageIntegrity::check(&mut m, self.remote_pwd.as_bytes(), provider.crypto()).ok()?;
        let mut xor = XorMappedAddress::default();
        xor.get_from(&m).ok()?;
        self.outstanding.retain(|t| *t != m.transaction_id.0);
        self.last_response = Some(now);
        if !self.succeeded {
            self.succeeded = true;
            self.current = None;
            self.next_check = self.consent.then(|| now + CONSENT_INTERVAL);
        }
        Some(SocketAddr::new(xor.ip, xor.port))
    }
}
