//! Determinism: the same seed gives the same run — every node event at the
//! same simulated instant and every packet a viewer receives, in order —
//! over a lossy, jittery, reordering network.

mod node_world;

use std::fmt::Write as _;
use std::time::Duration;

use node_world::{Camera, World, peer_addr};
use sfu_testkit::netem::{LinkConfig, Loss};
use sfu_testkit::peer::PeerConfig;

fn run(seed: u64) -> String {
    let mut w = World::new(seed, 1);
    w.set_default_link(
        LinkConfig::new(Duration::from_millis(15))
            .with_jitter(Duration::from_millis(3))
            .with_loss(Loss::Random(0.03))
            .with_reorder(0.02),
    );
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 20).send_audio().send_video());
    let viewer = w.add_peer(
        PeerConfig::new(peer_addr(1), 21)
            .receive_audio()
            .receive_video(),
    );
    let source = w.publish(0, publisher);
    w.view(0, viewer, Some(source));
    let mut camera = Camera::new(publisher, Some("0"), Some("1"));
    w.run_with(Duration::from_secs(4), &mut |w| camera.tick(w));
    let mut trace = w.trace.clone();
    for r in w.peers[viewer].received() {
        writeln!(
            trace,
            "{:?} {:?} seq {} ts {} rtx {}",
            r.at - w.start,
            r.mid,
            r.seq,
            r.timestamp,
            r.rtx
        )
        .unwrap();
    }
    trace
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let (a, b) = (run(7), run(7));
    assert!(a.lines().count() > 300, "a trace worth comparing:\n{a}");
    assert_eq!(a, b);
    assert_ne!(a, run(8), "another seed, another network");
}
