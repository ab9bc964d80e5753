//! A network change: the publisher's address changes mid-call (Wi-Fi to
//! cellular); its nominated check from the new address moves the session,
//! and the viewer keeps receiving.

mod node_world;

use std::net::SocketAddr;
use std::time::Duration;

use node_world::{Camera, World, peer_addr, received_on};
use sfu_net::NodeEvent;
use sfu_testkit::peer::PeerConfig;

#[test]
fn media_follows_the_publisher_to_its_new_address() {
    let mut w = World::new(8, 1);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 80).send_video());
    let viewer = w.add_peer(PeerConfig::new(peer_addr(1), 81).receive_video());
    let source = w.publish(0, publisher);
    w.view(0, viewer, Some(source));
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1])));
    let mut camera = Camera::new(publisher, None, Some("0"));
    w.run_with(Duration::from_secs(1), &mut |w| camera.tick(w));
    let before = received_on(&w, viewer, "0").len();
    assert!(before > 50);

    let moved = SocketAddr::from(([203, 0, 113, 200], 40_000));
    w.peers[publisher].move_to(moved);
    w.run_with(Duration::from_secs(2), &mut |w| camera.tick(w));
    assert!(w.events[0].iter().any(|e| matches!(e,
        NodeEvent::PathChanged { session, remote } if *session == source && *remote == moved)));
    let after = received_on(&w, viewer, "0").len();
    assert!(after > before + 120, "{before} then {after}");
}
