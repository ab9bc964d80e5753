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
#[path = "../../../../tests/support/redis.rs"]
mod test_redis;

#[cfg(test)]
mod tests;
