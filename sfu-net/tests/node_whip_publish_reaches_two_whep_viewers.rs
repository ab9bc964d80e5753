//! WHIP → WHEP through a whole node in simulated time: a stand-in browser
//! publishes audio and video, two stand-in viewers receive both, with
//! contiguous sequence numbers, on the SSRCs the node's answers announced.

mod node_world;

use std::time::Duration;

use node_world::{Camera, World, peer_addr, received_on};
use sfu_net::NodeEvent;
use sfu_testkit::peer::PeerConfig;

#[test]
fn two_viewers_receive_the_publishers_audio_and_video() {
    let mut w = World::new(1, 1);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 10).send_audio().send_video());
    let viewers = [
        w.add_peer(
            PeerConfig::new(peer_addr(1), 11)
                .receive_audio()
                .receive_video(),
        ),
        w.add_peer(
            PeerConfig::new(peer_addr(2), 12)
                .receive_audio()
                .receive_video(),
        ),
    ];
    let source = w.publish(0, publisher);
    for &v in &viewers {
        w.view(0, v, Some(source));
    }
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1, 2])));
    let mut camera = Camera::new(publisher, Some("0"), Some("1"));
    w.run_with(Duration::from_secs(3), &mut |w| camera.tick(w));

    let connected = w.events[0]
        .iter()
        .filter(|e| matches!(e, NodeEvent::Connected { .. }))
        .count();
    assert_eq!(connected, 3);
    for &v in &viewers {
        let audio = received_on(&w, v, "0");
        let video = received_on(&w, v, "1");
        // 3 s of 50 pps audio and 90 pps video, less the first round trips.
        assert!(
            audio.len() > 120,
            "viewer {v}: {} audio packets",
            audio.len()
        );
        assert!(
            video.len() > 200,
            "viewer {v}: {} video packets",
            video.len()
        );
        for stream in [&audio, &video] {
            for pair in stream.windows(2) {
                assert_eq!(pair[1].0, pair[0].0.wrapping_add(1), "viewer {v}: {pair:?}");
            }
        }
        let announced = w.peers[v].remote_ssrcs("1");
        let got: Vec<u32> = w.peers[v]
            .received()
            .iter()
            .filter(|r| r.mid.as_deref() == Some("1"))
            .map(|r| r.ssrc)
            .collect();
        assert!(got.iter().all(|s| announced.iter().any(|(m, _)| m == s)));
    }
}
