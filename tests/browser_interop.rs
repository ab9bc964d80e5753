//! Real-peer interop, end to end through the `whip_whep` reference server:
//! headless Chromium publishes its fake camera and microphone over WHIP (also
//! with three simulcast layers), aiortc publishes as a second, independent
//! WebRTC stack, and Chromium pages play over WHEP; a viewer pulls a second
//! stream through an SFU-initiated offer (renegotiation). Each scenario runs in a
//! private network namespace with only loopback, as root. The cascade
//! scenario runs the server with `--edge-udp`: Chromium publishes to the
//! ingest node, viewers watch from the edge node, over an SRTP relay link.
//!
//! The peers — Debian's `chromium`, `playwright-core` in
//! `tests/browser/node_modules`, aiortc in `.venv` — are installed on first
//! use by `.ci/install-peers` (apt, npm and pip; once per machine, under a
//! lock), so `cargo test` needs nothing prepared by hand. Run as root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An example binary cargo built next to this test.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    profile_dir.join("examples").join(name)
}

fn run_scenario(scenario: &str) {
    run_scenario_on("whip_whep", scenario);
}

/// Installs the real peers when any is missing (first run on a machine).
fn prepare_peers() {
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

fn run_scenario_on(example: &str, scenario: &str) {
    prepare_peers();
    let server = example_binary(example);
    assert!(
        server.exists(),
        "{} is missing: cargo test builds examples; run the test through cargo",
        server.display()
    );
    let browser = root().join("tests/browser");
    let python = root().join(".venv/bin/python");
    // The stock scenario needs an interface a browser uses (not loopback):
    // a veth pair inside the private namespace, on a documentation address.
    let network = if scenario == "stock" {
        "ip link set lo up && ip link add sfu0 type veth peer name sfu1 && \
         ip addr add 192.0.2.10/24 dev sfu0 && ip link set sfu0 up && ip link set sfu1 up"
    } else {
        "ip link set lo up"
    };
    let script = format!(
        "{network} && exec node interop.mjs --server '{}' --scenario {scenario} --python '{}'",
        server.display(),
        python.display()
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .current_dir(&browser)
        .output()
        .expect("unshare (util-linux) must be installed and the tests run as root");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "scenario {scenario} failed\n--- stdout\n{stdout}\n--- stderr (last 8000 bytes)\n{}",
        &stderr[stderr.len().saturating_sub(8000)..]
    );
    assert!(stdout.contains(&format!("interop {scenario}: ok")));
}

#[test]
fn chromium_publishes_camera_and_two_chromium_viewers_decode_it() {
    run_scenario("camera");
}

#[test]
fn chromium_simulcast_publisher_viewers_get_their_layers() {
    run_scenario("simulcast");
}

#[test]
fn aiortc_publishes_and_chromium_decodes_it() {
    run_scenario("aiortc");
}

#[test]
fn cascade_ingest_to_edge_over_an_srtp_relay_reaches_chromium_viewers() {
    run_scenario("cascade");
}

#[test]
fn chromium_viewer_pulls_a_second_stream_through_an_sfu_offer() {
    run_scenario("renegotiate");
}

/// The node on a plain `std::net` loop (examples/std_loop), no mio driver:
/// the same camera scenario, so any loop can drive the node.
#[test]
fn chromium_camera_through_the_std_loop_example_reaches_two_viewers() {
    run_scenario_on("std_loop", "camera");
}

/// The README's first command as a user runs it: the server with its
/// defaults (media on every interface) and a stock Chromium, without
/// `--allow-loopback-in-peer-connection`, on a machine with a non-loopback
/// interface; media takes the announced interface address.
#[test]
fn stock_chromium_publishes_and_watches_with_the_default_server() {
    run_scenario("stock");
}
