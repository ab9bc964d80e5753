//! The NACK shield in a whole node: 5 % loss on the publisher's uplink and
//! on the viewer's downlink. The viewer's NACKs are answered from the
//! node's cache; the node asks the publisher for what its uplink lost;
//! the viewer ends up with nearly every packet, repaired ones included.

mod node_world;

use std::collections::BTreeSet;
use std::time::Duration;

use node_world::{Camera, World, node_addr, peer_addr};
use sfu_testkit::netem::{LinkConfig, Loss};
use sfu_testkit::peer::PeerConfig;

#[test]
fn five_percent_loss_each_way_is_repaired() {
    let mut w = World::new(9, 1);
    let lossy = LinkConfig::new(Duration::from_millis(20)).with_loss(Loss::Random(0.05));
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 90).send_video());
    let viewer = w.add_peer(PeerConfig::new(peer_addr(1), 91).receive_video());
    let source = w.publish(0, publisher);
    w.view(0, viewer, Some(source));
    assert!(w.run_until(Duration::from_secs(10), |w| w.connected(&[0, 1])));
    // Loss from now on, once both are connected (the handshakes are not
    // what this test is about).
    w.set_link(peer_addr(0), node_addr(0), lossy);
    w.set_link(node_addr(0), peer_addr(1), lossy);
    let mut camera = Camera::new(publisher, None, Some("0"));
    w.run_with(Duration::from_secs(6), &mut |w| camera.tick(w));
    w.run(Duration::from_secs(1));

    let got: BTreeSet<u16> = w.peers[viewer]
        .received()
        .iter()
        .filter(|r| r.mid.as_deref() == Some("0"))
        .map(|r| r.seq)
        .collect();
    let (first, last) = (*got.first().unwrap(), *got.last().unwrap());
    let expected = usize::from(last - first) + 1;
    let delivered = got.len() as f64 / expected as f64;
    let repaired = w.peers[viewer].received().iter().filter(|r| r.rtx).count();
    let stats = w.nodes[0].stats();
    println!("delivered {delivered:.4} of {expected}, {repaired} repairs, {stats:?}");
    assert!(expected > 400, "{expected} packets");
    assert!(delivered >= 0.99, "delivered {delivered}");
    assert!(repaired > 10, "{repaired} packets repaired");
    assert!(stats.router.retransmissions_sent > 0);
    assert!(
        stats.router.nacks_sent > 0,
        "the publisher was asked for its uplink's losses"
    );
}
