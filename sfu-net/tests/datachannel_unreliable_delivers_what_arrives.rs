//! A `maxRetransmits: 0` channel under 5 % loss delivers what arrives:
//! about 95 % of the messages, each once, in the order sent, and a lost
//! message does not hold the next ones back for longer than the stack
//! takes to abandon it (no retransmission, no blocking).

#[path = "datachannel_link.rs"]
mod link;

use std::time::Duration;

use bytes::Bytes;
use link::{Initiator, Pair, lossy, number};
use sfu_net::datachannel::{AssociationConfig, MessageKind, Reliability};

const MESSAGES: u32 = 3_000;
const EVERY: Duration = Duration::from_millis(10);

fn run(ordered: bool, seed: u64) -> (usize, Duration) {
    let mut pair = Pair::with_links(
        Initiator::Peer,
        AssociationConfig::default(),
        lossy(0.05, seed, 0),
        lossy(0.05, seed, 1),
    );
    let reliability = Reliability::MaxRetransmits {
        retransmits: 0,
        ordered,
    };
    let channel = pair.connect_and_open("state", reliability);
    assert_eq!(pair.sfu.opened_by_peer()[0].2, reliability);
    let start = pair.now;
    let arrivals_before = pair.sfu.arrivals.len();
    for i in 0..MESSAGES {
        while pair.now < start + EVERY * i {
            pair.tick();
        }
        let mut body = vec![0u8; 200];
        body[..4].copy_from_slice(&i.to_be_bytes());
        pair.peer
            .assoc
            .send(channel, MessageKind::Binary, Bytes::from(body))
            .expect("an unreliable channel at 20 KB/s never fills its buffer");
    }
    let last_send = pair.now;
    for _ in 0..500 {
        pair.tick();
    }
    let got: Vec<u32> = pair.sfu.messages(channel).iter().map(number).collect();
    // Each at most once, and (the link keeps order) in the order sent.
    assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order or twice");
    let share = got.len() as f64 / f64::from(MESSAGES);
    assert!((0.92..=0.98).contains(&share), "delivered {share}");
    // The longest silence at the receiver while messages flowed every 10 ms.
    let arrivals = &pair.sfu.arrivals[arrivals_before..];
    let longest = arrivals
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        *arrivals.last().unwrap() <= last_send + Duration::from_secs(2),
        "the last messages waited"
    );
    (got.len(), longest)
}

#[test]
fn unordered_channel() {
    let (got, longest) = run(false, 21);
    eprintln!("unordered: {got} of {MESSAGES}, longest gap {longest:?}");
    // Unordered: a loss never holds anything back.
    assert!(longest < Duration::from_millis(200), "{longest:?}");
}

#[test]
fn ordered_channel() {
    let (got, longest) = run(true, 22);
    eprintln!("ordered: {got} of {MESSAGES}, longest gap {longest:?}");
    // Ordered: a lost message holds the next ones until the sender
    // abandons it (FORWARD-TSN), never until a retransmission.
    assert!(longest < Duration::from_millis(1500), "{longest:?}");
}
