//! Arbitrary SDP through the node's commands, after a real publish and a
//! real view: a client re-offer (push), a pull with an offer, and an answer
//! to the node's own offer. Nothing panics, a refused description changes
//! nothing, and the node keeps serving its sessions.
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use sfu_net::{Certificate, Node, NodeConfig, PullTrack, PushTrack};

const PUBLISH: &str = include_str!("../../sfu-net/tests/fixtures/chromium156_publish_offer.sdp");
const VIEW: &str = include_str!("../../sfu-net/tests/fixtures/chromium156_whep_offer.sdp");

fn certificate() -> &'static Certificate {
    static CERT: OnceLock<Certificate> = OnceLock::new();
    CERT.get_or_init(|| Certificate::generate().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now = Instant::now();
    let config = NodeConfig::new(certificate().clone(), [3; 32])
        .with_candidates(vec!["203.0.113.7:8443".parse().unwrap()]);
    let mut node = Node::new(config).unwrap();
    let publisher = node.publish(now, PUBLISH).unwrap().session;
    let pulls = node.source_pulls(publisher);
    let viewer = node.view(now, VIEW, &pulls, None).unwrap().session;
    let _ = node.push_tracks(now, publisher, text, &[PushTrack::new("2", "extra")]);
    let _ = node.pull_tracks(now, viewer, &pulls, Some(text));
    let fresh = node.create_session(now).unwrap();
    if let Ok(n) = node.pull_tracks(now, fresh, &[PullTrack::new(publisher, "0")], None) {
        assert!(n.requires_answer());
        let _ = node.apply_answer(now, fresh, text);
    }
    let _ = node.close_tracks(now, publisher, &["0".to_owned()], Some(text), false);
    assert!(node.has_session(publisher) && node.has_session(viewer));
    while node.poll_transmit().is_some() {}
    while node.poll_event().is_some() {}
});
