//! Live sessions per source on the open paths — the demo's Calls proxy and
//! WHIP/WHEP without a token — so one stranger cannot take the node's
//! session table. The bearer-checked Calls API has its per-app limit
//! instead: an app's backend is one source for all of its users.
//!
//! A source is an IPv4 address or an IPv6 /64 (one host usually holds a
//! whole /64, so per address would be no limit at all).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use sfu::net::{NodeEvent, SessionId};

use crate::http::Reply;
use crate::node::Listener;

/// The quota's key for `ip`.
fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
        },
    }
}

#[derive(Debug, Default)]
struct Tables {
    /// Live or reserved sessions per source; no entry at zero, so the map
    /// holds at most one key per live session.
    per_source: HashMap<IpAddr, usize>,
    by_session: HashMap<SessionId, IpAddr>,
}

impl Tables {
    fn release(&mut self, source: IpAddr) {
        if let Some(n) = self.per_source.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&source);
            }
        }
    }
}

/// At most `limit` live sessions per source.
#[derive(Debug)]
pub struct SourceQuota {
    limit: usize,
    tables: Mutex<Tables>,
}

impl SourceQuota {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            tables: Mutex::default(),
        })
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one of `ip`'s sessions before the session is made (so
    /// concurrent requests cannot all pass a check), or the JSON refusal.
    pub fn reserve(self: &Arc<Self>, ip: IpAddr) -> Result<Reservation, Reply> {
        let source = source_of(ip);
        let mut t = self.tables();
        let n = t.per_source.entry(source).or_default();
        if *n >= self.limit {
            return Err(Reply::error(
                hyper::StatusCode::TOO_MANY_REQUESTS,
                "too_many_sessions",
                format!(
                    "{} live sessions from this address, the limit without credentials",
                    self.limit
                ),
            ));
        }
        *n += 1;
        Ok(Reservation {
            quota: Arc::clone(self),
            source,
            bound: false,
        })
    }

    /// Live or reserved sessions of `ip`'s source.
    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> usize {
        self.tables()
            .per_source
            .get(&source_of(ip))
            .copied()
            .unwrap_or(0)
    }
}

/// A session slot of one source: bound to the session once the node made
/// it, released if dropped unbound (the session was never made).
#[derive(Debug)]
pub struct Reservation {
    quota: Arc<SourceQuota>,
    source: IpAddr,
    bound: bool,
}

impl Reservation {
    /// The slot is `session`'s until the node closes it.
    pub fn bind(mut self, session: SessionId) {
        self.quota.tables().by_session.insert(session, self.source);
        self.bound = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.bound {
            self.quota.tables().release(self.source);
        }
    }
}

impl Listener for SourceQuota {
    fn on_event(&self, event: &NodeEvent) {
        if let NodeEvent::Closed { session, .. } = event {
            let mut t = self.tables();
            if let Some(source) = t.by_session.remove(session) {
                t.release(source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::test_session as node_session;

    #[test]
    fn a_source_gets_its_limit_and_a_slot_back_when_its_session_closes() {
        let quota = SourceQuota::new(2);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let a = node_session();
        quota.reserve(ip).unwrap().bind(a);
        let unbound = quota.reserve(ip).unwrap();
        assert!(quota.reserve(ip).is_err());
        // Another source is not affected.
        assert!(quota.reserve("192.0.2.8".parse().unwrap()).is_ok());
        drop(unbound);
        assert_eq!(quota.count(ip), 1);
        quota.on_event(&NodeEvent::Closed {
            session: a,
            reason: sfu::net::CloseReason::Local,
        });
        assert_eq!(quota.count(ip), 0);
        assert!(quota.tables().per_source.is_empty());
    }

    #[test]
    fn an_ipv6_host_is_its_64() {
        let quota = SourceQuota::new(1);
        let _held = quota.reserve("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(
            quota
                .reserve("2001:db8:1:2:ffff::9".parse().unwrap())
                .is_err()
        );
        assert!(quota.reserve("2001:db8:1:3::1".parse().unwrap()).is_ok());
        // A mapped IPv4 address is that IPv4 source.
        let _mapped = quota.reserve("::ffff:192.0.2.1".parse().unwrap()).unwrap();
        assert!(quota.reserve("192.0.2.1".parse().unwrap()).is_err());
    }
}
