//! A direct session (a participant inside the application's process, no
//! transport) pulls a WebRTC publisher's tracks through the router and
//! publishes one of its own that a WebRTC viewer receives; hostile use of
//! the direct commands changes nothing, and an application that does not
//! drain loses packets, counted, not memory.

mod node_world;

use std::time::Duration;

use bytes::Bytes;
use node_world::{Camera, World, peer_addr, received_on};
use sfu_net::sdp::MediaKind;
use sfu_net::{DirectTrack, Error, PullTrack};
use sfu_testkit::peer::PeerConfig;

#[test]
fn a_direct_member_hears_a_publisher_and_a_viewer_hears_the_member() {
    let mut w = World::new(11, 1);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 60).send_audio().send_video());
    let viewer = w.add_peer(PeerConfig::new(peer_addr(1), 61).receive_audio());
    let source = w.publish(0, publisher);
    let now = w.now;
    let member = w.nodes[0].open_direct(now).unwrap();

    let tracks = w.nodes[0].published_tracks(source);
    let mut pulls = Vec::new();
    for (name, _) in &tracks {
        pulls.push(
            w.nodes[0]
                .pull_direct(now, member, source, name, None)
                .unwrap(),
        );
    }
    let audio = pulls
        .iter()
        .find(|p| p.kind == MediaKind::Audio)
        .unwrap()
        .clone();
    let video = pulls
        .iter()
        .find(|p| p.kind == MediaKind::Video)
        .unwrap()
        .clone();
    assert_ne!(audio.ssrc, video.ssrc);

    // The member echoes the audio it hears as its own track, on its own
    // SSRC, with the publisher's payload type.
    let echo_ssrc = 0x0e0e_0e0e;
    w.nodes[0]
        .publish_direct(
            now,
            member,
            DirectTrack {
                name: "echo".into(),
                kind: MediaKind::Audio,
                format: audio.format.clone(),
                ssrc: echo_ssrc,
            },
        )
        .unwrap();
    let offer = w.peers[viewer].create_offer();
    let viewing = w.nodes[0]
        .view(w.now, &offer, &[PullTrack::new(member, "echo")], None)
        .unwrap();
    w.peers[viewer].apply_answer(&viewing.answer).unwrap();
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1])));

    let mut camera = Camera::new(publisher, Some("0"), Some("1"));
    let mut heard = (Vec::new(), 0usize);
    let mut echo_seq = 0u16;
    w.run_with(Duration::from_secs(3), &mut |w| {
        camera.tick(w);
        let now = w.now;
        while let Some(p) = w.nodes[0].poll_direct() {
            assert_eq!(p.session, member);
            let seq = u16::from_be_bytes([p.rtp[2], p.rtp[3]]);
            let ssrc = u32::from_be_bytes([p.rtp[8], p.rtp[9], p.rtp[10], p.rtp[11]]);
            assert_eq!(ssrc, p.ssrc, "the pull's SSRC is written in the packet");
            if p.ssrc == audio.ssrc {
                heard.0.push(seq);
                let mut echo = p.rtp.to_vec();
                echo[2..4].copy_from_slice(&echo_seq.to_be_bytes());
                echo[8..12].copy_from_slice(&echo_ssrc.to_be_bytes());
                echo_seq = echo_seq.wrapping_add(1);
                w.nodes[0]
                    .handle_direct_rtp(now, member, Bytes::from(echo))
                    .unwrap();
            } else if p.ssrc == video.ssrc {
                heard.1 += 1;
            }
        }
    });
    let (audio_seqs, video_packets) = heard;
    assert!(audio_seqs.len() > 100, "{} audio packets", audio_seqs.len());
    assert!(video_packets > 200, "{video_packets} video packets");
    for pair in audio_seqs.windows(2) {
        assert_eq!(pair[1], pair[0].wrapping_add(1), "numbered without gaps");
    }
    let echoed = received_on(&w, viewer, "0");
    assert!(echoed.len() > 100, "the viewer got {} echoed", echoed.len());

    // Hostile or mistaken use: nothing changes.
    let before = w.nodes[0].stats();
    let forged = Bytes::from_static(&[0x80, 111, 0, 1, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]);
    assert!(w.nodes[0].handle_direct_rtp(w.now, member, forged).is_err());
    assert!(
        w.nodes[0]
            .handle_direct_rtp(w.now, member, Bytes::from_static(&[0x80]))
            .is_err()
    );
    assert!(matches!(
        w.nodes[0].pull_direct(w.now, source, source, "0", None),
        Err(Error::NotDirect)
    ));
    assert!(matches!(
        w.nodes[0].pull_direct(w.now, member, source, "nope", None),
        Err(Error::TrackNotPublished(_))
    ));
    let dup = DirectTrack {
        name: "echo".into(),
        kind: MediaKind::Audio,
        format: audio.format.clone(),
        ssrc: 1,
    };
    assert!(matches!(
        w.nodes[0].publish_direct(w.now, member, dup),
        Err(Error::DuplicateTrackName(_))
    ));
    assert_eq!(w.nodes[0].stats().tracks, before.tracks);

    // An application that stops draining: the queue holds its bound, the
    // rest is counted.
    w.run_with(Duration::from_secs(60), &mut |w| camera.tick(w));
    let mut queued = 0;
    while w.nodes[0].poll_direct().is_some() {
        queued += 1;
    }
    assert_eq!(queued, 8192);
    assert!(w.nodes[0].stats().direct_dropped > 0);

    // Closing the member ends the viewer's pull of its track.
    w.nodes[0].close_session(w.now, member).unwrap();
    w.run(Duration::from_millis(100));
    assert!(w.closed(0, member));
    assert!(w.nodes[0].poll_direct().is_none());
}
