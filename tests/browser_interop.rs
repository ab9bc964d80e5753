//! Real-peer interop, end to end through the reference server's WHIP/WHEP:
//! headless Chromium publishes its fake camera and microphone over WHIP (also
//! with three simulcast layers), aiortc publishes as a second, independent
//! WebRTC stack, and Chromium pages play over WHEP; a viewer pulls a second
//! stream through an SFU-initiated offer (renegotiation). Each scenario runs in a
//! private network namespace with only loopback, as root. (The Calls API
//! flows are in `calls_interop.rs`.)
//!
//! The peers — Debian's `chromium`, `playwright-core` in
//! `tests/browser/node_modules`, aiortc in `.venv` — are installed on first
//! use by `.ci/install-peers` (apt, npm and pip; once per machine, under a
//! lock), so `cargo test` needs nothing prepared by hand. Run as root.

mod support;

use support::{example_binary, root, run_node_unshared};

fn run_scenario(scenario: &str) {
    run_scenario_on("server", scenario);
}

fn run_scenario_on(example: &str, scenario: &str) {
    let _turn = support::one_browser_at_a_time();
    let server = example_binary(example);
    let python = root().join(".venv/bin/python");
    // The stock scenario needs an interface a browser uses (not loopback):
    // a veth pair inside the private namespace, on a documentation address.
    let network = if scenario == "stock" {
        "ip link set lo up && ip link add sfu0 type veth peer name sfu1 && \
         ip addr add 192.0.2.10/24 dev sfu0 && ip link set sfu0 up && ip link set sfu1 up"
    } else {
        "ip link set lo up"
    };
    let server = server.display().to_string();
    let python = python.display().to_string();
    run_node_unshared(
        network,
        &[
            "interop.mjs",
            "--server",
            &server,
            "--scenario",
            scenario,
            "--python",
            &python,
        ],
        &format!("interop {scenario}: ok"),
    );
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
