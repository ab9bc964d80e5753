//! Real-browser flows of the reference server (`examples/server`) in
//! cluster mode: one Redis (Debian's `redis-server`) and five node
//! processes with `--fanout 1`, each with its own HTTP and UDP ports,
//! sharing one app. Headless Chromium pages on each node's origin publish
//! on one node and pull by `(sessionId, trackName)` through their own
//! node's Calls API, so the media crosses per-track trees of relay links
//! that every node reports at `GET /cluster/v1/state`. Each scenario is
//! `tests/browser/cluster.mjs --scenario NAME`, run in a private network
//! namespace with only loopback, as root; the peers (and Redis) are
//! installed on first use as for `tests/calls_interop.rs`. Timing limits
//! (the gap after a node dies, how soon a pull fails or works again) are
//! measured and asserted by the script, in the page's clock.

mod support;

use support::{example_binary, run_node_unshared};

fn run_scenario(scenario: &str) {
    let _turn = support::one_browser_at_a_time();
    // The script starts Debian's redis-server itself (a machine that
    // installed the peers before Redis was among them lacks it).
    support::redis::prepare_redis();
    let server = example_binary("server").display().to_string();
    run_node_unshared(
        "ip link set lo up",
        &["cluster.mjs", "--server", &server, "--scenario", scenario],
        &format!("cluster {scenario}: ok"),
    );
}

/// A simulcast camera (q/h/f, 640x360 at the top) and a microphone
/// published on node a, pulled on nodes c, d and e in that order: every
/// viewer decodes; each node's `/cluster/v1/state` shows both tracks'
/// trees as a chain of depth ≥ 3 (each node relaying to at most one, and
/// listing as its children exactly the nodes that name it as parent); the
/// viewer at the end of the chain decodes the smallest layer it asked for
/// in the pull, the widest after `tracks/update` to `f`, and the smallest
/// again after `q`. Then the intermediate node is SIGKILLed: the viewer
/// below it decodes again with at most 5 s without a decoded frame
/// (sampled every 50 ms in the page; the goal is 3 s, met in about
/// 2 of 3 runs: see `GAP_GOAL_MS` in the script) and receives audio again, the viewer
/// above never stops, the trees re-attach the orphan under a live node and
/// nobody lists the dead one, and the killed node's own viewer sees its
/// connection go `disconnected`/`failed` within 40 s.
#[test]
fn cluster_tree_chains_layers_and_heals_after_a_node_is_killed() {
    run_scenario("tree");
}

/// A camera and microphone on node a, viewers on nodes b and c. Redis is
/// SIGKILLed: both viewers keep decoding and receiving audio in each of
/// the next 3 s; a new cross-node pull on node d fails with
/// `directory_unavailable` (per track, or a 503 JSON `errorCode`) within
/// 5 s. Redis restarts empty on the same port: within 10 s the nodes have
/// registered again, a new cross-node pull on d is accepted and decodes,
/// the first viewers never stopped, and d is in the track's tree.
#[test]
fn cluster_survives_redis_loss_and_recovers_when_it_returns() {
    run_scenario("redis");
}

/// The README's walk-through on the server's own pages: `publish.html` on
/// node a (WHIP), `watch.html` on node c and then node b (WHEP of a stream
/// published on another node), which at fanout 1 chains a → c → b for both
/// tracks. Node c is then stopped gracefully (SIGTERM): it drains — b
/// moves below a before c's relays stop, so b's viewer goes at most 1 s
/// without a decoded frame — and c exits by itself with status 0.
#[test]
fn cluster_whep_on_any_node_and_a_graceful_stop_drains_first() {
    run_scenario("whep");
}
