//! A flood faster than the driver can drain — binding requests naming a
//! live session with a wrong MESSAGE-INTEGRITY, an HMAC each, from two
//! threads — must not starve the rest of the loop: the application's
//! calls still run (each answered within seconds, not never) and the
//! flood is counted. A loop that reads each socket until it would block
//! never leaves the read under such a flood.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sfu_net::driver::{Driver, DriverConfig};
use sfu_testkit::forged;
use sfu_testkit::peer::{Peer, PeerConfig};
use sfu_testkit::rng::Rng;

fn ice_ufrag(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
        .expect("an ice-ufrag")
        .to_owned()
}

#[test]
fn calls_run_while_a_flood_outpaces_the_driver() {
    let driver = Driver::spawn(DriverConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap();
    let handle = driver.handle();
    let media = driver.local_addr();
    let mut peer = Peer::new(
        Instant::now(),
        PeerConfig::new(SocketAddr::from(([127, 0, 0, 1], 9)), 1).receive_video(),
    );
    let viewing = handle.view(&peer.create_offer(), None, None).unwrap();
    let (sfu_ufrag, peer_ufrag) = (ice_ufrag(&viewing.answer), peer.ufrag().to_owned());

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let flooders: Vec<_> = (0..2u64)
        .map(|k| {
            let mut rng = Rng::new(k);
            let checks: Vec<Vec<u8>> = (0..256)
                .map(|_| forged::check_with_wrong_integrity(&mut rng, &sfu_ufrag, &peer_ufrag))
                .collect();
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            std::thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                while !stop.load(Ordering::Relaxed) {
                    for c in &checks {
                        let _ = socket.send_to(c, media);
                    }
                    sent.fetch_add(checks.len() as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let h = handle.clone();
        let asked = Instant::now();
        std::thread::spawn(move || {
            let _ = tx.send(h.stats());
        });
        let answer = rx.recv_timeout(Duration::from_secs(5));
        assert!(
            matches!(answer, Ok(Ok(_))),
            "a call got no answer within 5 s under the flood: {answer:?}"
        );
        slowest = slowest.max(asked.elapsed());
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    let stats = handle.stats().unwrap();
    println!(
        "flood: {} checks sent, {} verified and refused by the driver; slowest call {slowest:?}, longest turn {:?}",
        sent.load(Ordering::Relaxed),
        stats.node.endpoint.stun_bad_integrity,
        stats.longest_turn
    );
    assert!(stats.node.endpoint.stun_bad_integrity > 0);
    assert!(stats.node.sessions >= 1, "the viewer's session went away");
}
