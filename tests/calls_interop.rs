//! Real-browser flows of the Cloudflare Calls API of the reference server
//! (`examples/server`): headless Chromium pages on the server's origin
//! create sessions, push and pull tracks by `(sessionId, trackName)`, answer
//! the SFU's offers, close pulls both ways, pick simulcast layers, move 64
//! tracks in one request, and two meeting pages (`/demo/`) see each other.
//! Each scenario is `tests/browser/calls.mjs --scenario NAME`, run in a
//! private network namespace with only loopback, as root; the peers are
//! installed on first use as for `tests/browser_interop.rs`.

mod support;

use support::{example_binary, run_node_unshared};

fn run_scenario(scenario: &str) {
    let _turn = support::one_browser_at_a_time();
    let server = example_binary("server").display().to_string();
    run_node_unshared(
        "ip link set lo up",
        &["calls.mjs", "--server", &server, "--scenario", scenario],
        &format!("calls {scenario}: ok"),
    );
}

/// Camera and microphone pushed from one offer, pulled by another session
/// through the SFU's offer and decoded; `GET sessions/{id}` shows both
/// tracks active; no bearer or a wrong one is `401` JSON, and a session is
/// `404` through another app.
#[test]
fn calls_push_and_pull_audio_and_video() {
    run_scenario("push");
}

/// A viewer pulls tracks of a session that has not pushed them yet; once
/// they are pushed, the viewer decodes them.
#[test]
fn calls_pull_before_publish_ends_up_decoding() {
    run_scenario("pull-before-publish");
}

/// One pulled track closed with the client's offer (`force: false`), one
/// with `force: true`: both stop, a third keeps flowing, the connection
/// stays up.
#[test]
fn calls_close_by_offer_and_forced_stop_the_tracks() {
    run_scenario("close");
}

/// A simulcast publisher (q/h/f); the viewer's `simulcast.preferredRid` on
/// the pull and through `tracks/update` sets the decoded width.
#[test]
fn calls_simulcast_preferred_rid_switches_layers() {
    run_scenario("simulcast");
}

/// 64 audio tracks pushed in one `tracks/new`, pulled in one, all receiving.
#[test]
fn calls_sixty_four_tracks_in_one_request_each_way() {
    run_scenario("many");
}

/// Two `/demo/?room=r1` meeting pages decode each other's video, and the
/// layer picker changes what one of them decodes.
#[test]
fn calls_demo_page_two_members_see_each_other() {
    run_scenario("demo");
}

/// Cloudflare's own Calls client library, `partytracks` (pinned in
/// `tests/browser/package.json`, bundled unmodified with esbuild), pointed at
/// the server's open proxy `/demo/api` instead of its Worker: one page pushes
/// its camera and microphone, another pulls both by `(sessionId, trackName)`,
/// decodes the video and receives the audio.
#[test]
fn partytracks_client_pushes_and_pulls_through_our_server() {
    let _turn = support::one_browser_at_a_time();
    let server = example_binary("server").display().to_string();
    // A machine that installed the peers before partytracks and esbuild were
    // in the lock file has playwright-core only: install again (idempotent).
    support::prepare_peers();
    let modules = support::root().join("tests/browser/node_modules");
    if !["partytracks", "esbuild"]
        .iter()
        .all(|m| modules.join(m).join("package.json").exists())
    {
        let status = std::process::Command::new("flock")
            .args(["/tmp/sfu-install-peers.lock", "bash", ".ci/install-peers"])
            .current_dir(support::root())
            .status()
            .expect("flock (util-linux) and bash run .ci/install-peers");
        assert!(status.success(), ".ci/install-peers failed: {status}");
    }
    run_node_unshared(
        "ip link set lo up",
        &["partytracks.mjs", "--server", &server],
        "partytracks: ok",
    );
}
