//! The cluster directory in Redis: [`RedisDirectory`] keeps the records of
//! [`Directory`] in one Redis that every node reaches, over one blocking
//! connection. Every call is one command, bounded together with any
//! reconnect by the timeout given to [`RedisDirectory::connect`]; a call
//! that fails on I/O drops the connection and the next call opens a new
//! one, so the directory comes back by itself when Redis does. Nothing is
//! cached: every answer is Redis's.
//!
//! # Keys
//!
//! Every key starts with a prefix, `sfu:` below (the default;
//! [`RedisDirectory::with_prefix`] sets another, so several clusters or
//! tests share one Redis). Inside `{app}`, `{session}` and `{name}`, `%` is
//! written `%25` and `:` is written `%3A`, so the `:` between parts is
//! never ambiguous.
//!
//! | key | type | value | written / read with |
//! |---|---|---|---|
//! | `sfu:node:{id}` | string, `PX ttl` | the node's record (JSON, ≤ 4 KiB) | `SET … PX`, `DEL`; one `MGET` per [`Directory::nodes`] |
//! | `sfu:session:{app}:{session}` | string | the owning node's id | `SET`, `GET`, `DEL` |
//! | `sfu:origin:{app}:{session}:{name}` | string | the origin node's id | `SET`, `GET`, `DEL` |
//! | `sfu:tree:{app}:{session}:{name}` | hash | node id → parent node id | `EVAL` (below), `HDEL`, `HGETALL` |
//!
//! A node record reads
//! `{"id":"a","http":"http://10.0.0.2:8080","relay":"10.0.0.2:4000","draining":false}`.
//! Redis counts the heartbeat's expiry on its own clock (the `now`
//! arguments are not used). `set_parent` is one Lua script, so checking
//! `HEXISTS`/`HLEN` against [`MAX_TREE_NODES`] and the `HSET` are one step
//! no other node can come between. `remove_track` is one `DEL` of the
//! origin and the tree.
//!
//! Everything read back is checked, and what does not pass is
//! [`DirectoryError::Corrupt`], never a panic: node ids must be
//! [`NodeId`]s, a record must parse, name the node of its key, carry a
//! socket address and fit in 4 KiB (fields it does not know are ignored: a
//! newer node may write more), a key of the wrong type (`WRONGTYPE`) is
//! corrupt too. A tree of more than [`MAX_TREE_NODES`] entries (written
//! around `set_parent`) reads as its first [`MAX_TREE_NODES`] by node id.
//! I/O errors, refusals, timeouts and Redis's other error replies (`OOM`,
//! `LOADING`, `READONLY`, …) are [`DirectoryError::Unavailable`].

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sfu::net::cluster::{Directory, DirectoryError, MAX_TREE_NODES, NodeId, NodeRecord, TrackKey};

/// The key prefix unless [`RedisDirectory::with_prefix`] sets one.
const DEFAULT_PREFIX: &str = "sfu:";

/// The largest node record read or written.
const MAX_RECORD_BYTES: usize = 4096;

/// The longest heartbeat TTL written (a day; heartbeats come every few
/// seconds, and Redis refuses expiries past its own range).
const MAX_TTL_MS: u64 = 24 * 3600 * 1000;

/// `KEYS[1]` = the tree, `ARGV` = node, parent, bound: sets the node's
/// parent if the node is in the tree already or the tree has room.
const SET_PARENT: &str = "\
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 \
or redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then \
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end return 0";

/// A node record as stored.
#[derive(Serialize, Deserialize)]
struct StoredRecord {
    id: String,
    http: String,
    relay: SocketAddr,
    draining: bool,
    /// Absent in a record of a node before incarnations: 0.
    #[serde(default)]
    incarnation: u64,
}

/// [`Directory`] in Redis, over one blocking connection that is opened
/// again after an I/O error.
// Constructed once the server joins a cluster: cluster/mod.rs and main.rs
// (another change) wire it in.
#[allow(dead_code)]
pub struct RedisDirectory {
    client: redis::Client,
    /// The database to SELECT on each new connection.
    db: i64,
    connection: Option<redis::Connection>,
    timeout: Duration,
    prefix: String,
}

impl fmt::Debug for RedisDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDirectory")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connected", &self.connection.is_some())
            .finish_non_exhaustive()
    }
}

// See the struct: used once the server is wired to a cluster.
#[allow(dead_code)]
impl RedisDirectory {
    /// Connects to the Redis at `url` (`redis://host:port/db`, with
    /// `user:password@` if it needs them). Every call later, this one
    /// included, gives up after `timeout` (at least 1 ms) with
    /// [`DirectoryError::Unavailable`]. Fails now if the URL does not parse
    /// or Redis does not answer; after that, a call that finds the
    /// connection lost makes a new one.
    ///
    /// A host name is resolved without a timeout, and each of its addresses
    /// is tried for `timeout`: give an IP address to keep every call within
    /// `timeout`.
    pub fn connect(url: &str, timeout: Duration) -> Result<Self, DirectoryError> {
        use redis::IntoConnectionInfo;
        let unusable =
            |e: redis::RedisError| DirectoryError::Unavailable(format!("redis url: {e}"));
        let info = url.into_connection_info().map_err(unusable)?;
        // redis-rs sends its handshake as a pipeline and waits the whole
        // timeout for each reply in it: keep it to one command at most (the
        // AUTH or HELLO), without CLIENT SETINFO, and SELECT the database
        // on our own deadline.
        let db = info.redis_settings().db();
        let settings = info
            .redis_settings()
            .clone()
            .set_skip_set_lib_name()
            .set_db(0);
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(unusable)?;
        let mut directory = Self {
            client,
            db,
            connection: None,
            timeout: timeout.max(Duration::from_millis(1)),
            prefix: DEFAULT_PREFIX.to_owned(),
        };
        directory.run(&redis::cmd("PING"))?;
        Ok(directory)
    }

    /// Puts `prefix` before every key instead of `sfu:`.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// Sends `cmd` and reads its reply within the timeout, connecting first
    /// when there is no connection.
    fn run(&mut self, cmd: &redis::Cmd) -> Result<redis::Value, DirectoryError> {
        let deadline = Instant::now() + self.timeout;
        let mut connection = match self.connection.take() {
            Some(c) => c,
            None => self.open(deadline)?,
        };
        match query(&mut connection, cmd, deadline) {
            Ok(value) => {
                self.connection = Some(connection);
                Ok(value)
            }
            Err(e) => {
                // An error reply was read whole: the connection is in step.
                // Anything else (I/O, a timeout mid-reply, a garbled
                // stream) leaves it unusable.
                if matches!(
                    e.kind(),
                    redis::ErrorKind::Server(_) | redis::ErrorKind::Extension
                ) {
                    self.connection = Some(connection);
                }
                Err(error(&e))
            }
        }
    }

    /// A new connection, ready before `deadline`.
    fn open(&self, deadline: Instant) -> Result<redis::Connection, DirectoryError> {
        let unavailable =
            |e: redis::RedisError| DirectoryError::Unavailable(format!("connecting to redis: {e}"));
        let left = deadline.saturating_duration_since(Instant::now());
        let mut connection = self
            .client
            .get_connection_with_timeout(left.max(Duration::from_millis(1)))
            .map_err(unavailable)?;
        if self.db != 0 {
            query(&mut connection, redis::cmd("SELECT").arg(self.db), deadline)
                .map_err(unavailable)?;
        }
        Ok(connection)
    }

    fn node_key(&self, node: &NodeId) -> String {
        format!("{}node:{node}", self.prefix)
    }

    fn session_key(&self, app: &str, session: &str) -> String {
        let mut key = format!("{}session:", self.prefix);
        push_part(&mut key, app);
        key.push(':');
        push_part(&mut key, session);
        key
    }

    fn track_key(&self, kind: &str, track: &TrackKey) -> String {
        let mut key = format!("{}{kind}:", self.prefix);
        push_part(&mut key, &track.app);
        key.push(':');
        push_part(&mut key, &track.session);
        key.push(':');
        push_part(&mut key, &track.name);
        key
    }

    /// The node id stored at `key`, if any.
    fn get_node_id(&mut self, key: &str) -> Result<Option<NodeId>, DirectoryError> {
        let value: Option<Vec<u8>> = convert(self.run(redis::cmd("GET").arg(key))?, key)?;
        value.map(|v| node_id(&v, key)).transpose()
    }
}

/// Sends `cmd` on `connection` and reads its reply, giving up at `deadline`.
fn query(
    connection: &mut redis::Connection,
    cmd: &redis::Cmd,
    deadline: Instant,
) -> redis::RedisResult<redis::Value> {
    let left = deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))?;
    connection.set_read_timeout(Some(left))?;
    connection.set_write_timeout(Some(left))?;
    cmd.query(connection)
}

/// Appends `part` to a key with `%` and `:` escaped.
fn push_part(key: &mut String, part: &str) {
    for c in part.chars() {
        match c {
            '%' => key.push_str("%25"),
            ':' => key.push_str("%3A"),
            c => key.push(c),
        }
    }
}

/// What a Redis error means to the cluster.
fn error(e: &redis::RedisError) -> DirectoryError {
    if e.code() == Some("WRONGTYPE") || e.detail().is_some_and(|d| d.contains("WRONGTYPE")) {
        DirectoryError::Corrupt(format!("redis key of the wrong type: {e}"))
    } else {
        DirectoryError::Unavailable(format!("redis: {e}"))
    }
}

fn corrupt(key: &str, problem: &str) -> DirectoryError {
    DirectoryError::Corrupt(format!("{key}: {problem}"))
}

/// A reply as `T`, or [`DirectoryError::Corrupt`] naming `key`.
fn convert<T: redis::FromRedisValue>(value: redis::Value, key: &str) -> Result<T, DirectoryError> {
    redis::from_redis_value(value).map_err(|e| corrupt(key, &format!("unexpected reply: {e}")))
}

fn node_id(bytes: &[u8], key: &str) -> Result<NodeId, DirectoryError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(NodeId::new)
        .ok_or_else(|| corrupt(key, &format!("not a node id ({} bytes)", bytes.len())))
}

fn encode_record(node: &NodeRecord) -> Result<String, DirectoryError> {
    let stored = StoredRecord {
        id: node.id.as_str().to_owned(),
        http: node.http.clone(),
        relay: node.relay,
        draining: node.draining,
        incarnation: node.incarnation,
    };
    let json = serde_json::to_string(&stored)
        .map_err(|e| DirectoryError::Corrupt(format!("node record of {}: {e}", node.id)))?;
    if json.len() > MAX_RECORD_BYTES {
        return Err(DirectoryError::Corrupt(format!(
            "node record of {} would be {} bytes, over {MAX_RECORD_BYTES}",
            node.id,
            json.len()
        )));
    }
    Ok(json)
}

fn decode_record(bytes: &[u8], id: &NodeId, key: &str) -> Result<NodeRecord, DirectoryError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(corrupt(
            key,
            &format!(
                "node record of {} bytes, over {MAX_RECORD_BYTES}",
                bytes.len()
            ),
        ));
    }
    let stored: StoredRecord = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(key, &format!("not a node record: {e}")))?;
    if stored.id != id.as_str() {
        return Err(corrupt(key, "the record names another node"));
    }
    Ok(NodeRecord {
        id: id.clone(),
        http: stored.http,
        relay: stored.relay,
        draining: stored.draining,
        incarnation: stored.incarnation,
    })
}

impl Directory for RedisDirectory {
    fn heartbeat(
        &mut self,
        _now: Instant,
        node: &NodeRecord,
        ttl: Duration,
    ) -> Result<(), DirectoryError> {
        let ttl_ms = u64::try_from(ttl.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_TTL_MS);
        let record = encode_record(node)?;
        let key = self.node_key(&node.id);
        self.run(redis::cmd("SET").arg(key).arg(record).arg("PX").arg(ttl_ms))?;
        Ok(())
    }

    fn leave(&mut self, node: &NodeId) -> Result<(), DirectoryError> {
        let key = self.node_key(node);
        self.run(redis::cmd("DEL").arg(key))?;
        Ok(())
    }

    fn nodes(
        &mut self,
        _now: Instant,
        ids: &[NodeId],
    ) -> Result<Vec<Option<NodeRecord>>, DirectoryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.node_key(id)).collect();
        let reply = self.run(redis::cmd("MGET").arg(&keys))?;
        let values: Vec<Option<Vec<u8>>> = convert(reply, "MGET of node records")?;
        if values.len() != ids.len() {
            return Err(DirectoryError::Corrupt(format!(
                "MGET of {} node records answered {}",
                ids.len(),
                values.len()
            )));
        }
        ids.iter()
            .zip(&keys)
            .zip(values)
            .map(|((id, key), value)| value.map(|v| decode_record(&v, id, key)).transpose())
            .collect()
    }

    fn set_session(
        &mut self,
        app: &str,
        session: &str,
        node: &NodeId,
    ) -> Result<(), DirectoryError> {
        let key = self.session_key(app, session);
        self.run(redis::cmd("SET").arg(key).arg(node.as_str()))?;
        Ok(())
    }

    fn session(&mut self, app: &str, session: &str) -> Result<Option<NodeId>, DirectoryError> {
        let key = self.session_key(app, session);
        self.get_node_id(&key)
    }

    fn remove_session(&mut self, app: &str, session: &str) -> Result<(), DirectoryError> {
        let key = self.session_key(app, session);
        self.run(redis::cmd("DEL").arg(key))?;
        Ok(())
    }

    fn set_origin(&mut self, track: &TrackKey, node: &NodeId) -> Result<(), DirectoryError> {
        let key = self.track_key("origin", track);
        self.run(redis::cmd("SET").arg(key).arg(node.as_str()))?;
        Ok(())
    }

    fn origin(&mut self, track: &TrackKey) -> Result<Option<NodeId>, DirectoryError> {
        let key = self.track_key("origin", track);
        self.get_node_id(&key)
    }

    fn remove_track(&mut self, track: &TrackKey) -> Result<(), DirectoryError> {
        let origin = self.track_key("origin", track);
        let tree = self.track_key("tree", track);
        self.run(redis::cmd("DEL").arg(origin).arg(tree))?;
        Ok(())
    }

    fn set_parent(
        &mut self,
        track: &TrackKey,
        node: &NodeId,
        parent: &NodeId,
    ) -> Result<(), DirectoryError> {
        let key = self.track_key("tree", track);
        let reply = self.run(
            redis::cmd("EVAL")
                .arg(SET_PARENT)
                .arg(1)
                .arg(&key)
                .arg(node.as_str())
                .arg(parent.as_str())
                .arg(MAX_TREE_NODES),
        )?;
        match convert::<i64>(reply, &key)? {
            1 => Ok(()),
            0 => Err(DirectoryError::Full("nodes in one tree")),
            other => Err(corrupt(&key, &format!("set_parent answered {other}"))),
        }
    }

    fn leave_tree(&mut self, track: &TrackKey, node: &NodeId) -> Result<(), DirectoryError> {
        let key = self.track_key("tree", track);
        self.run(redis::cmd("HDEL").arg(key).arg(node.as_str()))?;
        Ok(())
    }

    fn tree(&mut self, track: &TrackKey) -> Result<Vec<(NodeId, NodeId)>, DirectoryError> {
        let key = self.track_key("tree", track);
        let reply = self.run(redis::cmd("HGETALL").arg(&key))?;
        let fields: Vec<(Vec<u8>, Vec<u8>)> = convert(reply, &key)?;
        let mut edges = fields
            .iter()
            .map(|(node, parent)| Ok((node_id(node, &key)?, node_id(parent, &key)?)))
            .collect::<Result<Vec<_>, DirectoryError>>()?;
        edges.sort_unstable();
        edges.truncate(MAX_TREE_NODES);
        Ok(edges)
    }
}

/// The support file's real redis-server, shared with the integration tests.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../../tests/support/redis.rs"]
mod test_redis;

#[cfg(test)]
mod tests {
    use super::test_redis::RedisServer;
    use super::*;
    use sfu::net::cluster::MemoryDirectory;

    const TIMEOUT: Duration = Duration::from_millis(500);

    fn id(name: &str) -> NodeId {
        NodeId::new(name).unwrap()
    }

    fn record(name: &str) -> NodeRecord {
        NodeRecord {
            id: id(name),
            http: format!("http://{name}.test:8080"),
            relay: "127.0.0.1:4000".parse().unwrap(),
            draining: false,
            incarnation: 7,
        }
    }

    fn track(app: &str, session: &str, name: &str) -> TrackKey {
        TrackKey {
            app: app.into(),
            session: session.into(),
            name: name.into(),
        }
    }

    fn directory(redis: &RedisServer) -> RedisDirectory {
        RedisDirectory::connect(&redis.url(), TIMEOUT).unwrap()
    }

    /// A plain connection to write what a directory never would.
    fn raw(redis: &RedisServer) -> redis::Connection {
        redis::Client::open(redis.url())
            .unwrap()
            .get_connection_with_timeout(TIMEOUT)
            .unwrap()
    }

    fn write(redis: &RedisServer, cmd: &mut redis::Cmd) {
        let () = cmd.query(&mut raw(redis)).unwrap();
    }

    /// What any [`Directory`] must do; the Redis and memory ones both pass.
    fn behaves_as_a_directory(d: &mut dyn Directory) {
        let now = Instant::now;
        let (a, b) = (record("a"), record("b"));

        // Heartbeats: `nodes` answers in the order asked, unknown ids None;
        // a new heartbeat replaces the record; `leave` forgets at once.
        d.heartbeat(now(), &a, Duration::from_millis(300)).unwrap();
        d.heartbeat(now(), &b, Duration::from_secs(30)).unwrap();
        let asked = [b.id.clone(), id("unknown"), a.id.clone()];
        assert_eq!(
            d.nodes(now(), &asked).unwrap(),
            vec![Some(b.clone()), None, Some(a.clone())]
        );
        assert_eq!(d.nodes(now(), &[]).unwrap(), vec![]);
        let b_draining = NodeRecord {
            draining: true,
            ..b.clone()
        };
        d.heartbeat(now(), &b_draining, Duration::from_secs(30))
            .unwrap();
        assert_eq!(d.nodes(now(), &asked[..1]).unwrap(), vec![Some(b_draining)]);
        d.leave(&b.id).unwrap();
        assert_eq!(d.nodes(now(), &asked[..1]).unwrap(), vec![None]);

        // Sessions, with `:` and `%` in names that must not collide.
        assert_eq!(d.session("app", "s1").unwrap(), None);
        d.set_session("app", "s1", &a.id).unwrap();
        d.set_session("app", "s1", &b.id).unwrap();
        d.set_session("x:y", "z", &a.id).unwrap();
        assert_eq!(d.session("app", "s1").unwrap(), Some(b.id.clone()));
        assert_eq!(d.session("other", "s1").unwrap(), None);
        assert_eq!(d.session("x", "y:z").unwrap(), None);
        assert_eq!(d.session("x%3Ay", "z").unwrap(), None);
        assert_eq!(d.session("x:y", "z").unwrap(), Some(a.id.clone()));
        d.remove_session("app", "s1").unwrap();
        d.remove_session("app", "never").unwrap();
        assert_eq!(d.session("app", "s1").unwrap(), None);

        // Origins and trees.
        let t = track("app", "s1", "video");
        let other = track("app", "s1", "audio");
        assert_eq!(d.origin(&t).unwrap(), None);
        assert_eq!(d.tree(&t).unwrap(), vec![]);
        d.set_origin(&t, &a.id).unwrap();
        d.set_origin(&other, &b.id).unwrap();
        assert_eq!(d.origin(&t).unwrap(), Some(a.id.clone()));
        let (n1, n2) = (id("n1"), id("n2"));
        d.set_parent(&t, &n2, &n1).unwrap();
        d.set_parent(&t, &n1, &a.id).unwrap();
        d.set_parent(&t, &n2, &a.id).unwrap();
        d.set_parent(&other, &n1, &b.id).unwrap();
        assert_eq!(
            d.tree(&t).unwrap(),
            vec![(n1.clone(), a.id.clone()), (n2.clone(), a.id.clone())]
        );
        d.leave_tree(&t, &n1).unwrap();
        d.leave_tree(&t, &id("never")).unwrap();
        assert_eq!(d.tree(&t).unwrap(), vec![(n2.clone(), a.id.clone())]);
        d.remove_track(&t).unwrap();
        assert_eq!(d.origin(&t).unwrap(), None);
        assert_eq!(d.tree(&t).unwrap(), vec![]);
        assert_eq!(d.origin(&other).unwrap(), Some(b.id.clone()));
        assert_eq!(d.tree(&other).unwrap(), vec![(n1.clone(), b.id.clone())]);

        // A tree holds MAX_TREE_NODES; the nodes in it may still move.
        let full = track("app", "s2", "video");
        let names: Vec<NodeId> = (0..MAX_TREE_NODES)
            .map(|i| id(&format!("m{i:05}")))
            .collect();
        for n in &names {
            d.set_parent(&full, n, &a.id).unwrap();
        }
        assert_eq!(
            d.set_parent(&full, &id("one-more"), &a.id),
            Err(DirectoryError::Full("nodes in one tree"))
        );
        d.set_parent(&full, &names[7], &names[1]).unwrap();
        let edges = d.tree(&full).unwrap();
        assert_eq!(edges.len(), MAX_TREE_NODES);
        assert_eq!(edges[7], (names[7].clone(), names[1].clone()));
        d.leave_tree(&full, &names[0]).unwrap();
        d.set_parent(&full, &id("one-more"), &a.id).unwrap();

        // The short heartbeat expires on its own (Redis's clock or `now`).
        let start = Instant::now();
        while d.nodes(now(), std::slice::from_ref(&a.id)).unwrap() != vec![None] {
            assert!(start.elapsed() < Duration::from_secs(3), "a never expired");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn redis_directory_behaves_as_a_directory() {
        let redis = RedisServer::start();
        behaves_as_a_directory(&mut directory(&redis));
    }

    #[test]
    fn memory_directory_behaves_as_a_directory() {
        behaves_as_a_directory(&mut MemoryDirectory::new());
    }

    #[test]
    fn prefixes_keep_clusters_apart() {
        let redis = RedisServer::start();
        let mut one = directory(&redis).with_prefix("one:");
        let mut two = directory(&redis).with_prefix("two:");
        one.set_session("app", "s", &id("a")).unwrap();
        assert_eq!(two.session("app", "s").unwrap(), None);
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut raw(&redis)).unwrap();
        assert_eq!(keys, vec!["one:session:app:s".to_owned()]);
    }

    fn is_corrupt<T>(r: Result<T, DirectoryError>) -> bool {
        matches!(r, Err(DirectoryError::Corrupt(_)))
    }

    #[test]
    fn the_database_in_the_url_is_used() {
        // The server wiring keeps it as a `Box<dyn Directory + Send>`.
        fn send<T: Send>(_: &T) {}
        let redis = RedisServer::start();
        let mut d = RedisDirectory::connect(&format!("{}3", redis.url()), TIMEOUT).unwrap();
        send(&d);
        d.set_session("app", "s", &id("a")).unwrap();
        let mut db3 = raw(&redis);
        let () = redis::cmd("SELECT").arg(3).query(&mut db3).unwrap();
        let owner: Option<String> = redis::cmd("GET")
            .arg("sfu:session:app:s")
            .query(&mut db3)
            .unwrap();
        assert_eq!(owner.as_deref(), Some("a"));
        let in_db0: Option<String> = redis::cmd("GET")
            .arg("sfu:session:app:s")
            .query(&mut raw(&redis))
            .unwrap();
        assert_eq!(in_db0, None);
    }

    #[test]
    fn junk_in_redis_reads_as_corrupt() {
        let redis = RedisServer::start();
        let mut d = directory(&redis);
        let t = track("app", "s", "video");
        let a = id("a");

        let bad_records = [
            "not json".to_owned(),
            r#"{"id":"b","http":"http://b","relay":"127.0.0.1:1","draining":false}"#.into(),
            r#"{"id":"a","http":"http://a","relay":"nowhere","draining":false}"#.into(),
            r#"{"id":"a","http":"http://a","relay":"127.0.0.1:1"}"#.into(),
            format!(
                r#"{{"id":"a","http":"{}","relay":"127.0.0.1:1","draining":false}}"#,
                "x".repeat(MAX_RECORD_BYTES)
            ),
        ];
        for junk in &bad_records {
            write(&redis, redis::cmd("SET").arg(d.node_key(&a)).arg(junk));
            assert!(
                is_corrupt(d.nodes(Instant::now(), std::slice::from_ref(&a))),
                "{junk:.80}"
            );
        }
        // A record with a field it does not know is still read.
        write(
            &redis,
            redis::cmd("SET").arg(d.node_key(&a)).arg(
                r#"{"id":"a","http":"http://a","relay":"127.0.0.1:1","draining":true,"zone":"x"}"#,
            ),
        );
        assert!(
            d.nodes(Instant::now(), std::slice::from_ref(&a)).unwrap()[0]
                .as_ref()
                .unwrap()
                .draining
        );

        for junk in ["a b", "", "ä", &"x".repeat(65)] {
            write(
                &redis,
                redis::cmd("SET").arg(d.session_key("app", "s")).arg(junk),
            );
            assert!(is_corrupt(d.session("app", "s")), "{junk:?}");
            write(
                &redis,
                redis::cmd("SET").arg(d.track_key("origin", &t)).arg(junk),
            );
            assert!(is_corrupt(d.origin(&t)), "{junk:?}");
            write(&redis, redis::cmd("DEL").arg(d.track_key("tree", &t)));
            write(
                &redis,
                redis::cmd("HSET")
                    .arg(d.track_key("tree", &t))
                    .arg("n1")
                    .arg(junk),
            );
            assert!(is_corrupt(d.tree(&t)), "{junk:?}");
        }

        // Keys of the wrong type.
        write(
            &redis,
            redis::cmd("SET")
                .arg(d.track_key("tree", &t))
                .arg("a string"),
        );
        assert!(is_corrupt(d.tree(&t)));
        assert!(is_corrupt(d.set_parent(&t, &a, &a)));
        write(&redis, redis::cmd("DEL").arg(d.session_key("app", "s")));
        write(
            &redis,
            redis::cmd("HSET")
                .arg(d.session_key("app", "s"))
                .arg("f")
                .arg("v"),
        );
        assert!(is_corrupt(d.session("app", "s")));

        // The connection stayed usable.
        d.remove_track(&t).unwrap();
        d.set_parent(&t, &a, &a).unwrap();
        assert_eq!(d.tree(&t).unwrap(), vec![(a.clone(), a)]);
    }

    #[test]
    fn a_tree_past_the_bound_reads_as_its_first_nodes() {
        let redis = RedisServer::start();
        let mut d = directory(&redis);
        let t = track("app", "s", "video");
        let mut hset = redis::cmd("HSET");
        hset.arg(d.track_key("tree", &t));
        for i in (0..MAX_TREE_NODES + 10).rev() {
            hset.arg(format!("n{i:05}")).arg("origin");
        }
        let _: i64 = hset.query(&mut raw(&redis)).unwrap();
        let edges = d.tree(&t).unwrap();
        assert_eq!(edges.len(), MAX_TREE_NODES);
        assert_eq!(edges[0].0, id("n00000"));
        assert_eq!(
            edges[MAX_TREE_NODES - 1].0,
            id(&format!("n{:05}", MAX_TREE_NODES - 1))
        );
        assert_eq!(
            d.set_parent(&t, &id("new"), &id("origin")),
            Err(DirectoryError::Full("nodes in one tree"))
        );
    }

    #[test]
    fn connect_fails_fast_without_redis() {
        let redis = {
            let mut r = RedisServer::start();
            r.stop();
            r
        };
        let start = Instant::now();
        let e = RedisDirectory::connect(&redis.url(), TIMEOUT).unwrap_err();
        assert!(matches!(e, DirectoryError::Unavailable(_)), "{e:?}");
        assert!(start.elapsed() <= TIMEOUT);
        assert!(matches!(
            RedisDirectory::connect("http://nope", TIMEOUT),
            Err(DirectoryError::Unavailable(_))
        ));
    }

    /// Every call fails with `Unavailable` within `timeout` (plus
    /// scheduling slack), whatever state the connection is in.
    fn assert_unavailable_in_time(d: &mut RedisDirectory, timeout: Duration) {
        for _ in 0..3 {
            let start = Instant::now();
            let r = d.session("app", "s");
            let took = start.elapsed();
            assert!(matches!(r, Err(DirectoryError::Unavailable(_))), "{r:?}");
            assert!(
                took <= timeout + Duration::from_millis(150),
                "took {took:?}"
            );
        }
    }

    #[test]
    fn redis_killed_is_unavailable_and_restarted_answers_again() {
        let mut redis = RedisServer::start();
        let mut d = directory(&redis);
        let (a, b) = (id("a"), id("b"));
        d.set_session("app", "s", &a).unwrap();
        redis.stop();
        assert_unavailable_in_time(&mut d, TIMEOUT);
        redis.start_again();
        // The same directory, reconnected; the new Redis is empty, and the
        // owner rewrites its records.
        assert_eq!(d.session("app", "s").unwrap(), None);
        d.set_session("app", "s", &b).unwrap();
        assert_eq!(d.session("app", "s").unwrap(), Some(b));
    }

    #[test]
    fn redis_that_stops_answering_is_unavailable_within_the_timeout() {
        let redis = RedisServer::start();
        let timeout = Duration::from_millis(300);
        let mut d = RedisDirectory::connect(&redis.url(), timeout).unwrap();
        d.set_session("app", "s", &id("a")).unwrap();
        redis.pause();
        // The first call times out on the open connection, the next ones
        // on reconnecting (the kernel still accepts, nobody answers).
        let start = Instant::now();
        let r = d.session("app", "s");
        assert!(matches!(r, Err(DirectoryError::Unavailable(_))), "{r:?}");
        assert!(start.elapsed() >= timeout - Duration::from_millis(50));
        assert_unavailable_in_time(&mut d, timeout);
        redis.resume();
        assert_eq!(d.session("app", "s").unwrap(), Some(id("a")));
    }
}
