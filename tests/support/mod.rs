//! What the real-peer interop tests share (`tests/browser_interop.rs`,
//! `tests/calls_interop.rs`): where things are, installing the peers on
//! first use, and running a node script of `tests/browser` inside a private
//! network namespace, so a test's browsers and servers reach nothing but
//! each other.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The root package's directory (the workspace root).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An example binary of the root package, built for this test's profile
/// next to it. `cargo test` builds an example with `test = true` only as a
/// test harness (`examples/NAME-HASH`), never the binary itself, so this
/// builds it (once per test process; a no-op when it is fresh), which also
/// keeps a test from running a stale binary.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let binary = profile_dir.join("examples").join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let profile = match profile_dir.file_name().and_then(|p| p.to_str()) {
            Some("debug") => "dev",
            Some(p) => p,
            None => "dev",
        };
        let target_dir = profile_dir.parent().expect("the target directory");
        let mut cargo = Command::new(env!("CARGO"));
        // The test runs with the root package's CARGO_PKG_* and friends in
        // its environment; build scripts that watch them (ring's) would
        // see a change and rebuild half the tree on every run.
        for (key, _) in std::env::vars_os() {
            if key
                .to_str()
                .is_some_and(|k| k.starts_with("CARGO_") && k != "CARGO_HOME")
            {
                cargo.env_remove(key);
            }
        }
        let status = cargo
            .args(["build", "--quiet", "--profile", profile, "--example", name])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --example {name}: {status}");
        built.push(name.to_owned());
    }
    assert!(binary.exists(), "{} is missing", binary.display());
    binary
}

/// Installs the real peers when any is missing (first run on a machine).
pub fn prepare_peers() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let chromium = Command::new("sh")
            .args([
                "-c",
                "command -v chromium && command -v unshare && command -v ip",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        let ready = chromium
            && root()
                .join("tests/browser/node_modules/playwright-core")
                .exists()
            // Pinned after the first installs: an older checkout's
            // node_modules lacks it, so `npm ci` runs again.
            && root().join("tests/browser/node_modules/ts-mls").exists()
            && root().join(".venv/bin/python").exists();
        if ready {
            return;
        }
        // Test binaries may run at once: one installs, the others wait.
        let status = Command::new("flock")
            .args(["/tmp/sfu-install-peers.lock", "bash", ".ci/install-peers"])
            .current_dir(root())
            .status()
            .expect("flock (util-linux) and bash run .ci/install-peers");
        assert!(status.success(), ".ci/install-peers failed: {status}");
    });
}

/// One word for `sh -c`, whatever it contains.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Runs `node ARGS...` in `tests/browser` inside a new network namespace
/// (`unshare -n`, which needs root) after the shell commands `network` set
/// its interfaces up (at least `ip link set lo up`). Prints the script's
/// stdout and panics, with the end of its stderr, unless it exits
/// successfully and prints `ok_line`. Returns the stdout.
pub fn run_node_unshared(network: &str, args: &[&str], ok_line: &str) -> String {
    prepare_peers();
    let words: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    let script = format!("{network} && exec node {}", words.join(" "));
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .current_dir(root().join("tests/browser"))
        .output()
        .expect("unshare (util-linux) must be installed and the tests run as root");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "node {} failed\n--- stdout\n{stdout}\n--- stderr (last 8000 bytes)\n{}",
        args.join(" "),
        tail(&stderr, 8000)
    );
    assert!(
        stdout.contains(ok_line),
        "node {} did not print {ok_line:?}",
        args.join(" ")
    );
    stdout
}

/// The last `max` bytes of `s`, cut at a character boundary.
fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// One browser scenario at a time per test binary: several Chromiums at
/// once on a 2-core machine starve each other (encoders drop simulcast
/// layers for CPU, page loads time out).
pub fn one_browser_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// The reference server as a process (tests that speak HTTP to it).
#[allow(dead_code)]
pub mod server;

/// A real redis-server on a port of its own (the cluster directory's tests).
#[allow(dead_code)]
pub mod redis;
