//! The server as one node among many. Each node is its own process with
//! its own HTTP and media addresses; they share a directory in Redis
//! (`sfu::net::cluster::Directory`): which node holds each Calls session
//! and each published track, heartbeats that expire, and each track's tree.
//!
//! A pull of a track published on another node joins that track's tree
//! ([`join`]): the child picks a parent with `choose_parent` and asks it,
//! over the parent's HTTP API ([`api`], the cluster's bearer), for a relay
//! link keyed with fresh SRTP keys the child drew; the parent relays every
//! layer a viewer below wants. Every hop is a full node: it terminates
//! RTCP and runs its own NACK shield. [`watch`] keeps this node's records
//! and heartbeat in the directory, and moves this node below another
//! parent when its parent dies or drains.
//!
//! Under a partition from Redis nothing that flows stops: relay links are
//! node to node and need no directory. What needs it waits: new cross-node
//! pulls fail with `directory_unavailable`, dead parents are not replaced.
//! When Redis answers again, every node writes its records back.

pub mod redis;

mod api;
mod forward;
mod join;
mod peer;
mod streams;
mod watch;
mod wire;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sfu::net::cluster::{Directory, DirectoryError, NodeId, NodeRecord, TrackKey};
use sfu::net::{NodeEvent, SessionId};

use crate::calls::Sessions;
use crate::node::{Listener, Sfu};

pub use api::{handle as handle_api, unauthorized};
pub use join::JoinError;
pub use peer::FORWARDED;
pub use streams::WHIP_APP;
pub use watch::spawn as spawn_watch;

/// A heartbeat lives this long in the directory: a node that stops
/// beating is dead this long after its last beat.
const HEARTBEAT_TTL: Duration = Duration::from_millis(1500);
/// How often a node beats, checks its parents and children, and writes
/// its records.
const TICK: Duration = Duration::from_millis(250);
/// Directory writes queued between two ticks, at most; beyond, the next
/// tick rewrites every record instead.
const MAX_WRITES: usize = 4096;

/// The directory, called off the async threads (its calls block, each
/// bounded by its own timeout).
#[derive(Clone)]
pub struct Dir(Arc<Mutex<Box<dyn Directory + Send>>>);

impl Dir {
    pub fn new(directory: Box<dyn Directory + Send>) -> Self {
        Self(Arc::new(Mutex::new(directory)))
    }

    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Directory, Instant) -> Result<T, DirectoryError> + Send + 'static,
    ) -> Result<T, DirectoryError> {
        let d = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut guard = d.lock().unwrap_or_else(|e| e.into_inner());
            f(guard.as_mut(), Instant::now())
        })
        .await
        .map_err(|e| DirectoryError::Unavailable(e.to_string()))?
    }
}

/// A track this node receives from a parent.
#[derive(Debug, Clone)]
struct Upstream {
    parent: NodeId,
    origin: NodeId,
    /// The incarnations they had when we attached: another one is a
    /// restart, whose relays and sessions are gone.
    parent_incarnation: u64,
    origin_incarnation: u64,
    /// The relay link's session, which publishes the track as
    /// [`relay_name`] of its key.
    link: SessionId,
    /// A re-attach is under way.
    moving: bool,
}

/// The relay link to one other node.
#[derive(Debug, Clone)]
struct Link {
    session: SessionId,
    remote: SocketAddr,
    keys: Vec<u8>,
    /// The other node's incarnation the link was opened with.
    incarnation: u64,
}

/// A record to write to the directory at the next tick.
#[derive(Debug, Clone)]
enum Write {
    Session(String, String),
    RemoveSession(String, String),
    Origin(TrackKey),
    RemoveTrack(TrackKey),
    Parent(TrackKey, NodeId),
    LeaveTree(TrackKey),
    /// A child of ours that died or restarted leaves the tree.
    RemoveChild(TrackKey, NodeId),
}

#[derive(Debug, Default)]
struct State {
    upstream: HashMap<TrackKey, Upstream>,
    /// Who this node relays each track to.
    downstream: HashMap<TrackKey, Vec<NodeId>>,
    links: HashMap<NodeId, Link>,
    /// Calls sessions held here and the tracks they publish.
    sessions: HashSet<(String, String)>,
    origins: HashSet<TrackKey>,
    /// WHIP streams published here, by name.
    streams: HashMap<String, SessionId>,
    writes: Vec<Write>,
    /// Rewrite every record at the next tick (after a directory outage,
    /// or when too many writes queued).
    resync: bool,
    directory_up: bool,
    /// Since when the directory answers: absences are trusted only once
    /// every node had a heartbeat's time to write its records back.
    up_since: Option<Instant>,
    draining: bool,
}

/// The name a relayed track has on every link and in every relay session.
pub fn relay_name(key: &TrackKey) -> String {
    key.to_string()
}

/// This node's part in the cluster.
pub struct Cluster {
    me: NodeRecord,
    fanout: usize,
    secret: String,
    dir: Dir,
    sfu: Sfu,
    sessions: Arc<Sessions>,
    /// Every app's id and secret, for requests forwarded to another node.
    apps: Vec<(String, String)>,
    state: Mutex<State>,
    /// One tree join or re-attach at a time on this node.
    joining: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    pub fn new(
        me: NodeRecord,
        fanout: usize,
        secret: String,
        dir: Dir,
        sfu: Sfu,
        sessions: Arc<Sessions>,
        apps: Vec<(String, String)>,
    ) -> Self {
        Self {
            me,
            fanout,
            secret,
            dir,
            sfu,
            sessions,
            apps,
            state: Mutex::new(State {
                resync: true,
                ..State::default()
            }),
            joining: tokio::sync::Mutex::new(()),
        }
    }

    pub fn id(&self) -> &NodeId {
        &self.me.id
    }

    pub fn fanout(&self) -> usize {
        self.fanout
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, w: Write) {
        let mut s = self.state();
        // A track that ended here is relayed to nobody any more (the
        // router ended the relays' subscriptions with it).
        if let Write::RemoveTrack(key) | Write::LeaveTree(key) = &w {
            s.downstream.remove(key);
        }
        if s.writes.len() >= MAX_WRITES {
            s.resync = true;
        } else {
            s.writes.push(w);
        }
    }

    /// A Calls session was created here: recorded, with the tracks it
    /// already publishes (their events may have come before the session
    /// had its Calls id).
    pub async fn session_opened(&self, app: &str, id: &str, node: SessionId) {
        self.session_recorded(app, id);
        let names = self
            .sfu
            .call(move |n, _| n.published_tracks(node))
            .await
            .unwrap_or_default();
        for (name, _) in names {
            self.track_published(app, id, &name);
        }
    }

    /// A session (Calls, or a WHIP stream) is held here.
    fn session_recorded(&self, app: &str, id: &str) {
        self.state()
            .sessions
            .insert((app.to_owned(), id.to_owned()));
        self.write(Write::Session(app.to_owned(), id.to_owned()));
    }

    /// A session held here ended: its record and its tracks' go.
    fn session_ended(&self, app: &str, id: &str) {
        let gone: Vec<TrackKey> = {
            let mut st = self.state();
            st.sessions.remove(&(app.to_owned(), id.to_owned()));
            let gone: Vec<TrackKey> = st
                .origins
                .iter()
                .filter(|k| k.app == app && k.session == id)
                .cloned()
                .collect();
            for k in &gone {
                st.origins.remove(k);
            }
            gone
        };
        self.write(Write::RemoveSession(app.to_owned(), id.to_owned()));
        for k in gone {
            self.write(Write::RemoveTrack(k));
        }
    }

    fn track_published(&self, app: &str, id: &str, name: &str) {
        let key = TrackKey {
            app: app.to_owned(),
            session: id.to_owned(),
            name: name.to_owned(),
        };
        if self.state().origins.insert(key.clone()) {
            self.write(Write::Origin(key));
        }
    }

    /// Whether the directory's silence about a node means it is gone: it
    /// answers, and has for long enough that every live node has written
    /// its heartbeat back (after Redis restarted empty, it had not).
    fn absences_trusted(&self) -> bool {
        let st = self.state();
        st.directory_up
            && st
                .up_since
                .is_some_and(|t| t.elapsed() > HEARTBEAT_TTL + TICK)
    }

    /// Whether this node is stopping (it takes no new children).
    pub fn draining(&self) -> bool {
        self.state().draining
    }

    /// Starts draining: children move elsewhere; resolves once none is
    /// left or after `limit`.
    pub async fn drain(&self, limit: Duration) {
        self.state().draining = true;
        let me = self.me.clone();
        let _ = self
            .dir
            .run(move |d, now| {
                d.heartbeat(
                    now,
                    &NodeRecord {
                        draining: true,
                        ..me
                    },
                    HEARTBEAT_TTL,
                )
            })
            .await;
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if self.state().downstream.values().all(Vec::is_empty) {
                break;
            }
            tokio::time::sleep(TICK).await;
        }
        let id = self.me.id.clone();
        let _ = self.dir.run(move |d, _| d.leave(&id)).await;
    }
}

impl Listener for Cluster {
    fn on_event(&self, event: &NodeEvent) {
        match event {
            NodeEvent::TrackPublished { session, name } => {
                if let Some(s) = self.sessions.by_node(*session) {
                    self.track_published(&s.app, &s.id, name);
                }
            }
            NodeEvent::TrackEnded { session, name, .. } => {
                if let Some(s) = self.sessions.by_node(*session) {
                    let key = TrackKey {
                        app: s.app.clone(),
                        session: s.id.clone(),
                        name: name.clone(),
                    };
                    if self.state().origins.remove(&key) {
                        self.write(Write::RemoveTrack(key));
                    }
                }
            }
            NodeEvent::Closed { session, .. } => {
                if let Some(s) = self.sessions.by_node(*session) {
                    self.session_ended(&s.app, &s.id);
                }
                self.stream_closed(*session);
                // A relay link that closed: forget it and what crossed it.
                let mut st = self.state();
                st.links.retain(|_, l| l.session != *session);
                st.upstream.retain(|_, u| u.link != *session);
            }
            _ => {}
        }
    }
}
