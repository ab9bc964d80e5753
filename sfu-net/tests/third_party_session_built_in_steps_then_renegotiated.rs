//! A third-party session built the way Calls' API builds one: the session
//! first (`sessions/new?thirdparty=true`), then the tracks sent to the
//! third party as pulls (the node's offer comes back), the answer; later
//! a renegotiation asks the third party to send a track too. The third
//! party is a second instance of our node, answering as for a client.

mod node_world;

use std::time::Duration;

use node_world::{Camera, World, peer_addr, received_on};
use sfu_net::node::ReceiveTrack;
use sfu_net::{NodeEvent, PullTrack, SdpType, TrackState};
use sfu_testkit::peer::PeerConfig;

const A: usize = 0;
const B: usize = 1;

#[test]
fn a_third_party_session_is_built_in_steps_and_renegotiated() {
    let mut w = World::new(17, 2);
    let cam_a = w.add_peer(PeerConfig::new(peer_addr(0), 40).send_audio().send_video());
    let cam_b = w.add_peer(PeerConfig::new(peer_addr(1), 41).send_audio());
    let viewer_b = w.add_peer(
        PeerConfig::new(peer_addr(2), 42)
            .receive_audio()
            .receive_video(),
    );
    let viewer_a = w.add_peer(PeerConfig::new(peer_addr(3), 43).receive_audio());
    let src_a = w.publish(A, cam_a);
    let src_b = w.publish(B, cam_b);

    let now = w.now;
    let session = w.nodes[A].create_third_party_session(now).unwrap();
    let pulls = w.nodes[A].source_pulls(src_a);
    let pulled = w.nodes[A].pull_tracks(now, session, &pulls, None).unwrap();
    let offer = pulled.description.unwrap();
    assert_eq!(offer.kind, SdpType::Offer);
    assert!(!offer.sdp.contains("a=ice-lite"));
    let b_session = w.nodes[B].create_session(now).unwrap();
    let answer = w.nodes[B]
        .push_tracks(now, b_session, &offer.sdp, &[])
        .unwrap()
        .description
        .unwrap()
        .sdp;
    let accepted = w.nodes[A].accept_answer(now, session, &answer).unwrap();
    assert!(accepted.tracks.is_empty());
    w.flush();
    w.view(B, viewer_b, Some(b_session));
    assert!(w.run_until(Duration::from_secs(5), |w| {
        w.connected(&[cam_a, cam_b, viewer_b])
            && w.events[A]
                .iter()
                .any(|e| matches!(e, NodeEvent::Connected { session: s } if *s == session))
    }));

    // Later: ask the third party to send B's microphone to us.
    let now = w.now;
    let asked = w.nodes[A]
        .receive_tracks(now, session, &[ReceiveTrack::audio("b-voice")])
        .unwrap();
    assert!(matches!(asked.tracks[0].result, Ok(TrackState::Waiting)));
    let reoffer = asked.description.unwrap().sdp;
    let reanswer = w.nodes[B]
        .pull_tracks(
            now,
            b_session,
            &[PullTrack::new(src_b, "0")],
            Some(&reoffer),
        )
        .unwrap();
    assert!(reanswer.tracks[0].result.is_ok(), "{reanswer:?}");
    let accepted = w.nodes[A]
        .accept_answer(now, session, &reanswer.description.unwrap().sdp)
        .unwrap();
    assert_eq!(accepted.tracks[0].name, "b-voice");
    assert!(
        matches!(accepted.tracks[0].result, Ok(TrackState::Active)),
        "{accepted:?}"
    );
    // A name in use is refused.
    assert!(
        w.nodes[A]
            .receive_tracks(now, session, &[ReceiveTrack::audio("b-voice")])
            .is_err()
    );
    w.flush();
    w.view(A, viewer_a, Some(session));

    let mut camera_a = Camera::new(cam_a, Some("0"), Some("1"));
    let mut camera_b = Camera::new(cam_b, Some("0"), None);
    w.run_with(Duration::from_secs(3), &mut |w| {
        camera_a.tick(w);
        camera_b.tick(w);
    });
    assert!(received_on(&w, viewer_b, "0").len() > 100);
    assert!(received_on(&w, viewer_b, "1").len() > 150);
    let voice = received_on(&w, viewer_a, "0");
    assert!(voice.len() > 100, "{} packets of b-voice", voice.len());
    assert!(!w.closed(A, session) && !w.closed(B, b_session));
}
