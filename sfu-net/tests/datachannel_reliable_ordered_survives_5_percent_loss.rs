//! 10 000 ordered reliable 1 KiB messages from a peer through 5 % loss each
//! way arrive at the SFU once each, in order, and so do 10 000 the other
//! way; the SCTP handshake works whichever side sends INIT.

#[path = "datachannel_link.rs"]
mod link;

use std::time::Duration;

use link::{Initiator, Pair, Who, lossy, number};
use sfu_net::datachannel::{AssociationConfig, Reliability};

fn run(initiator: Initiator, seed: u64) {
    let mut pair = Pair::with_links(
        initiator,
        AssociationConfig::default(),
        lossy(0.05, seed, 0),
        lossy(0.05, seed, 1),
    );
    let start = pair.now;
    let channel = pair.connect_and_open("chat", Reliability::Reliable { ordered: true });
    pair.send_numbered(Who::Peer, channel, 10_000, 1024, Duration::from_secs(600));
    pair.run_until(Duration::from_secs(600), |p| p.sfu.received >= 10_000);
    pair.send_numbered(Who::Sfu, channel, 10_000, 1024, Duration::from_secs(600));
    pair.run_until(Duration::from_secs(600), |p| p.peer.received >= 10_000);
    // A little longer: nothing late, nothing twice.
    for _ in 0..2_000 {
        pair.tick();
    }
    eprintln!("done at {:?} simulated", pair.now - start);
    for side in [&pair.sfu, &pair.peer] {
        let got: Vec<u32> = side.messages(channel).iter().map(number).collect();
        assert_eq!(got, (0..10_000).collect::<Vec<_>>());
    }
    assert!(pair.up.stats().lost > 100, "{:?}", pair.up.stats());
    assert!(pair.down.stats().lost > 100, "{:?}", pair.down.stats());
    let stats = pair.sfu.assoc.stats();
    assert_eq!(stats.messages_in, 10_000);
    assert_eq!(stats.malformed_packets + stats.bad_checksums, 0);
}

#[test]
fn peer_initiated_association() {
    run(Initiator::Peer, 13);
}

#[test]
fn sfu_initiated_association() {
    run(Initiator::Sfu, 14);
}
