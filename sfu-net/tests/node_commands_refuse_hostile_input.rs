//! Commands are untrusted input too (an HTTP server hands them whatever a
//! client sent): refusals are typed errors, per track where a request
//! names several, and a refused command leaves no session or state behind.

mod node_world;

use node_world::{World, peer_addr};
use sfu_net::{Error, PullTrack, PushTrack};
use sfu_testkit::peer::PeerConfig;

#[test]
fn refused_commands_leave_nothing_behind() {
    let mut w = World::new(11, 1);
    let now = w.now;
    let node = &mut w.nodes[0];
    for garbage in ["", "v=0\r\n", "not sdp at all", &"a=x\r\n".repeat(100_000)] {
        assert!(node.publish(now, garbage).is_err());
        assert!(node.view(now, garbage, &[], None).is_err());
    }
    assert_eq!(
        node.stats().sessions,
        0,
        "failed WHIP/WHEP calls leave no session"
    );
    assert_eq!(node.stats().router.rtp_received, 0);

    let s = node.create_session(now).unwrap();
    let too_many: Vec<PushTrack> = (0..65)
        .map(|i| PushTrack::new(i.to_string(), "t"))
        .collect();
    assert!(matches!(
        node.push_tracks(now, s, "v=0", &too_many),
        Err(Error::TooManyTracks(64))
    ));
    let long = "q".repeat(10_000);
    let pull = PullTrack::new(s, "cam").with_layer(Some(long.clone()));
    assert!(matches!(
        node.pull_tracks(now, s, &[pull], None),
        Err(Error::InvalidRid)
    ));
    assert!(matches!(
        node.set_layer(s, None, Some("h h".into())),
        Err(Error::InvalidRid)
    ));
    assert!(matches!(
        node.apply_answer(now, s, "v=0"),
        Err(Error::Sdp(_))
    ));
    node.close_session(now, s).unwrap();
    assert!(matches!(
        node.close_session(now, s),
        Err(Error::UnknownSession)
    ));
    assert_eq!(node.stats().sessions, 0);
}

#[test]
fn errors_are_per_track() {
    let mut w = World::new(12, 1);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 100).send_audio().send_video());
    let source = w.publish(0, publisher);
    let now = w.now;
    let node = &mut w.nodes[0];
    let viewer = node.create_session(now).unwrap();
    let gone = node.create_session(now).unwrap();
    node.close_session(now, gone).unwrap();
    let pulls = [
        PullTrack::new(source, "0"),
        PullTrack::new(gone, "cam"),
        PullTrack::new(source, "1").into_mid("no-such-mid"),
    ];
    let n = node.pull_tracks(now, viewer, &pulls, None).unwrap();
    assert!(n.tracks[0].result.is_ok());
    assert!(matches!(n.tracks[1].result, Err(Error::UnknownSession)));
    assert!(matches!(&n.tracks[2].result, Err(Error::UnknownMid(m)) if m == "no-such-mid"));
    assert!(n.requires_answer(), "the good pull still gets its offer");
    // Glare: a client offer while the node's own is in flight is refused
    // and changes nothing; the node's offer still stands.
    let offer = w.peers[publisher].create_offer();
    assert!(matches!(
        w.nodes[0].push_tracks(now, viewer, &offer, &[]),
        Err(Error::Sdp(_))
    ));
}

/// A layer's configuration error reaches the user as what it is (it once
/// surfaced as "the driver thread is not running").
#[test]
fn an_out_of_range_shield_config_is_a_config_error() {
    let mut config = sfu_net::NodeConfig::new(sfu_net::Certificate::generate().unwrap(), [1; 32]);
    config.shield = config
        .shield
        .with_detector(config.shield.detector.with_max_missing(0));
    assert!(matches!(
        sfu_net::Node::new(config),
        Err(Error::InvalidConfig(
            sfu_nack::Error::MissingSetOutOfRange { requested: 0 }
        ))
    ));
}
