//! As the DTLS client of a third-party session, junk DTLS records from
//! the peer's path (forged: UDP sources are easy to spoof) are not fatal,
//! during and after the handshake: handshake fragments of the server's
//! message types, encrypted-epoch garbage, bad versions, unknown content
//! types. (A plaintext fatal alert still ends the session, as it does when
//! we are the server.)
#![allow(clippy::unwrap_used)]

mod node_world;

use std::time::Duration;

use node_world::{World, node_addr};
use sfu_net::NodeEvent;
use sfu_net::node::ReceiveTrack;

#[test]
fn junk_from_the_servers_path_is_not_fatal() {
    let mut w = World::new(5, 2);
    let now = w.now;
    let opened = w.nodes[0]
        .open_third_party(now, &[], &[ReceiveTrack::audio("voice")])
        .unwrap();
    let b = w.nodes[1].create_session(now).unwrap();
    let answer = w.nodes[1]
        .push_tracks(now, b, &opened.offer.sdp, &[])
        .unwrap()
        .description
        .unwrap()
        .sdp;
    w.nodes[0]
        .accept_answer(now, opened.session, &answer)
        .unwrap();
    w.flush();
    let junk: Vec<Vec<u8>> = vec![
        vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 4, 1, 2, 3, 4],
        vec![
            22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 40, 2, 0, 0, 30, 0, 0,
        ],
        vec![
            23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 24, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
            7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        ],
        vec![20, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 1],
        vec![25, 1, 2, 3],
    ];
    let mut sent = 0;
    let connected = |w: &World| {
        w.events[0]
            .iter()
            .any(|e| matches!(e, NodeEvent::Connected { session } if *session == opened.session))
    };
    w.run_with(Duration::from_secs(3), &mut |w| {
        // Junk every 10 ms during the handshake, then after it.
        if w.nodes[0]
            .endpoint()
            .selected_path(opened.session)
            .is_some()
            && (w.elapsed().as_millis() % 10 == 0)
        {
            let d = &junk[sent % junk.len()];
            sent += 1;
            w.nodes[0].handle_datagram(w.now, node_addr(1), node_addr(0), d);
        }
    });
    assert!(sent > 100, "{sent}\n{}", w.trace);
    assert!(connected(&w), "{}", w.trace);
    assert!(!w.closed(0, opened.session), "{}", w.trace);
}
