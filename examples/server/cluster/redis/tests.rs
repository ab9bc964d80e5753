//! `RedisDirectory` against a real redis-server (the support file's), and
//! the same trait-level checks against `MemoryDirectory`.

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
