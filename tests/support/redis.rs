//! A real Redis for the cluster tests: Debian's `redis-server` on a
//! loopback port of its own (never 6379, where apt may have started the
//! system service), empty, saving nothing, killed when dropped.
//!
//! Self-contained (it uses nothing else of `tests/support`), so the server
//! example's unit tests include this file too (`examples/server/cluster/redis.rs`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The lock `prepare_peers` installs under: one apt at a time.
const INSTALL_LOCK: &str = "/tmp/sfu-install-peers.lock";

/// Installs `redis-server` unless it is there (checked again under the
/// lock, so parallel test binaries install it once).
const INSTALL: &str = "command -v redis-server >/dev/null || { apt-get update -qq && \
     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }";

/// How long a started server has to answer before the start counts as failed.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Installs `redis-server` with apt when it is missing (first run on a
/// machine; the tests run as root).
pub fn prepare_redis() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let present = Command::new("sh")
            .args(["-c", "command -v redis-server"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if present {
            return;
        }
        let status = Command::new("flock")
            .args([INSTALL_LOCK, "sh", "-c", INSTALL])
            .status()
            .expect("flock (util-linux) and sh run apt-get");
        assert!(status.success(), "installing redis-server failed: {status}");
    });
}

/// A `redis-server` process of this test's own.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts an empty server on a free loopback port (installing
    /// `redis-server` first if needed) and waits until it answers.
    pub fn start() -> Self {
        prepare_redis();
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sfu-redis-{}-{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        // `--port 0` is not a thing for redis-server: take a port the
        // kernel hands out, free it, and try again should someone else
        // take it before the server binds it.
        for _ in 0..20 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            if let Some(child) = spawn(port, &dir) {
                return Self {
                    child: Some(child),
                    port,
                    dir,
                };
            }
        }
        panic!("redis-server did not start on any of 20 free ports");
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its port (the same after [`RedisServer::start_again`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL, as a crash would) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A fresh, empty server on the same port (Redis restarted and lost
    /// everything). Stops the running one first, if any.
    pub fn start_again(&mut self) {
        self.stop();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = spawn(self.port, &self.dir) {
                self.child = Some(child);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start again on port {}",
                self.port
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing
    /// answers, as in a partition.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("a running redis-server").id();
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {pid}: {status}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a paused server too.
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `redis-server` on `port` with `dir` (emptied) as its working
/// directory and waits until it answers; `None` when it exits or does not
/// answer in time (the port was taken, most likely).
fn spawn(port: u16, dir: &Path) -> Option<Child> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("a temporary directory for redis-server");
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs (prepare_redis installs it)");
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return None;
        }
        // Someone else's server may answer on the port while ours fails
        // to bind it: only ours has our pid.
        if answering_pid(port) == Some(child.id()) {
            return Some(child);
        }
        sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// The `process_id` of the Redis answering on `port`, if one does.
fn answering_pid(port: u16) -> Option<u32> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    let mut connection = client
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()?;
    connection
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(&mut connection)
        .ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}
