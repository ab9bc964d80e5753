//! A two-node cascade in one simulated network: a publisher on node 0, a
//! viewer on node 1, the tracks crossing one SRTP-keyed relay link; a
//! datagram from any other address than the peer node's never reaches the
//! link.

mod node_world;

use std::time::Duration;

use node_world::{Camera, World, node_addr, peer_addr, received_on};
use sfu_net::{PullTrack, RelayKeys, SrtpProfile};
use sfu_testkit::peer::PeerConfig;

#[test]
fn a_viewer_on_the_edge_node_receives_a_stream_published_on_the_ingest_node() {
    let mut w = World::new(5, 2);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 60).send_audio().send_video());
    let viewer = w.add_peer(
        PeerConfig::new(peer_addr(1), 61)
            .receive_audio()
            .receive_video(),
    );
    let profile = SrtpProfile::AeadAes128Gcm;
    let keys = RelayKeys::new(profile, vec![7; profile.keying_material_len()]).unwrap();
    let now = w.now;
    let out = w.nodes[0]
        .open_relay(now, node_addr(1), Some(&keys), true)
        .unwrap();
    let inn = w.nodes[1]
        .open_relay(now, node_addr(0), Some(&keys), false)
        .unwrap();

    let source = w.publish(0, publisher);
    let mut pulls = Vec::new();
    for (name, _) in w.nodes[0].published_tracks(source) {
        let relayed = format!("cam/{name}");
        let track = w.nodes[0]
            .relay_track(now, out, source, &name, &relayed)
            .unwrap();
        w.nodes[1].accept_relay_track(now, inn, track).unwrap();
        pulls.push(PullTrack::new(inn, relayed));
    }
    let offer = w.peers[viewer].create_offer();
    let viewing = w.nodes[1].view(now, &offer, &pulls, None).unwrap();
    w.peers[viewer].apply_answer(&viewing.answer).unwrap();
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1])));
    let mut camera = Camera::new(publisher, Some("0"), Some("1"));
    w.run_with(Duration::from_secs(3), &mut |w| camera.tick(w));

    let video = received_on(&w, viewer, "1");
    let audio = received_on(&w, viewer, "0");
    assert!(
        video.len() > 200 && audio.len() > 100,
        "{} / {}",
        video.len(),
        audio.len()
    );
    for pair in video.windows(2) {
        assert_eq!(pair[1].0, pair[0].0.wrapping_add(1));
    }
    // Forged relay traffic from another address goes to the endpoint,
    // which has no session for it: no state, counted there.
    let before = w.nodes[1].stats();
    w.nodes[1].handle_datagram(
        w.now,
        peer_addr(9),
        node_addr(1),
        &[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
    );
    let after = w.nodes[1].stats();
    assert_eq!(
        after.endpoint.media_unknown_source,
        before.endpoint.media_unknown_source + 1
    );
    // Forged from the peer node's address but unauthenticated: dropped.
    w.nodes[1].handle_datagram(
        w.now,
        node_addr(0),
        node_addr(1),
        &[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
    );
    assert_eq!(w.nodes[1].stats().relay_dropped, after.relay_dropped + 1);
}
