//! Calls sessions: unguessable ids per app, mapped to node sessions, one
//! mutation at a time per session, a request budget per session, and
//! forgotten when the node ends them (clients abandon sessions; the node
//! reclaims those).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sfu::net::{NodeEvent, SessionId};

use crate::node::Listener;

/// One Calls session.
#[derive(Debug)]
pub struct CallsSession {
    pub id: String,
    pub app: String,
    pub node: SessionId,
    /// Held by each mutation, so a session's exchanges never interleave.
    pub lock: tokio::sync::Mutex<()>,
    /// Set by the node when a waiting pull's track appeared.
    pub negotiation_needed: AtomicBool,
    pub changed: tokio::sync::Notify,
    budget: Mutex<Bucket>,
}

/// A token bucket: `rate` requests per second, bursts of `rate`.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl CallsSession {
    /// Takes one request from the session's budget.
    pub fn admit(&self, now: Instant, rate: u32) -> bool {
        let mut b = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        let rate = f64::from(rate);
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(rate);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Default)]
struct Tables {
    by_id: HashMap<String, Arc<CallsSession>>,
    by_node: HashMap<SessionId, String>,
    per_app: HashMap<String, usize>,
}

/// Every app's live Calls sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    tables: Mutex<Tables>,
}

impl Sessions {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many sessions `app` has.
    pub fn count(&self, app: &str) -> usize {
        self.tables().per_app.get(app).copied().unwrap_or(0)
    }

    /// Every live session.
    pub fn total(&self) -> usize {
        self.tables().by_id.len()
    }

    /// Records a new session of `app`.
    pub fn insert(&self, id: String, app: &str, node: SessionId, rate: u32) -> Arc<CallsSession> {
        let session = Arc::new(CallsSession {
            id: id.clone(),
            app: app.to_owned(),
            node,
            lock: tokio::sync::Mutex::new(()),
            negotiation_needed: AtomicBool::new(false),
            changed: tokio::sync::Notify::new(),
            budget: Mutex::new(Bucket {
                tokens: f64::from(rate),
                at: Instant::now(),
            }),
        });
        let mut t = self.tables();
        t.by_node.insert(node, id.clone());
        *t.per_app.entry(app.to_owned()).or_default() += 1;
        t.by_id.insert(id, Arc::clone(&session));
        session
    }

    /// The session `id` of `app`; another app's session is not found.
    pub fn get(&self, app: &str, id: &str) -> Option<Arc<CallsSession>> {
        self.tables()
            .by_id
            .get(id)
            .filter(|s| s.app == app)
            .cloned()
    }

    /// The Calls id of a node session.
    pub fn calls_id(&self, node: SessionId) -> Option<String> {
        self.tables().by_node.get(&node).cloned()
    }

    /// The Calls session of a node session.
    pub fn by_node(&self, node: SessionId) -> Option<Arc<CallsSession>> {
        let t = self.tables();
        t.by_node.get(&node).and_then(|id| t.by_id.get(id).cloned())
    }

    /// Forgets a session the node ended.
    pub fn remove_node(&self, node: SessionId) {
        let mut t = self.tables();
        let Some(id) = t.by_node.remove(&node) else {
            return;
        };
        if let Some(s) = t.by_id.remove(&id) {
            if let Some(n) = t.per_app.get_mut(&s.app) {
                *n = n.saturating_sub(1);
            }
            // Wakes a request waiting for a pull: it finds the session gone.
            s.changed.notify_waiters();
        }
    }
}

impl Listener for Sessions {
    fn on_event(&self, event: &NodeEvent) {
        match event {
            NodeEvent::Closed { session, .. } => self.remove_node(*session),
            NodeEvent::NegotiationNeeded { session } => {
                let found = {
                    let t = self.tables();
                    t.by_node
                        .get(session)
                        .and_then(|id| t.by_id.get(id).cloned())
                };
                if let Some(s) = found {
                    s.negotiation_needed.store(true, Ordering::Release);
                    s.changed.notify_waiters();
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::test_session as node_session;
    use std::time::Duration;

    #[test]
    fn budget_refills_at_the_rate() {
        let s = Sessions::default();
        let node = node_session();
        let session = s.insert("a".repeat(32), "app", node, 5);
        let t0 = Instant::now();
        assert_eq!((0..10).filter(|_| session.admit(t0, 5)).count(), 5);
        assert!(session.admit(t0 + Duration::from_millis(250), 5));
        assert!(!session.admit(t0 + Duration::from_millis(250), 5));
    }

    #[test]
    fn sessions_are_per_app_and_forgotten() {
        let s = Sessions::default();
        let node = node_session();
        s.insert("b".repeat(32), "one", node, 50);
        assert!(s.get("one", &"b".repeat(32)).is_some());
        assert!(s.get("two", &"b".repeat(32)).is_none());
        assert_eq!(s.count("one"), 1);
        s.remove_node(node);
        assert!(s.get("one", &"b".repeat(32)).is_none());
        assert_eq!(s.count("one"), 0);
    }
}
