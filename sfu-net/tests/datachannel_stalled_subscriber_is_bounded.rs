//! One published channel fanned out to three subscribers, one of which
//! stops reading: the SFU's buffered bytes toward it never pass the
//! fan-out's bound, the two readers get every message, and the stalled
//! subscriber misses messages (unreliable channel) or is closed (reliable
//! channel), counted. An association's own per-channel bound refuses a
//! send past it with a typed error.

#[path = "datachannel_link.rs"]
mod link;

use std::time::Duration;

use bytes::Bytes;
use link::{Initiator, Pair, number};
use sfu_net::datachannel::{
    AssociationConfig, ChannelId, DataChannelError, Event, Fanout, FanoutConfig, MessageKind,
    Reliability, SubscriberAction,
};

const BOUND: usize = 64 * 1024;
const MESSAGES: u32 = 2_000;

/// Three subscriber pairs, each with a channel the SFU opened toward its
/// peer (the SFU side is `sfu`).
fn subscribers(reliability: Reliability) -> Vec<(Pair, ChannelId)> {
    (0..3)
        .map(|_| {
            let config = AssociationConfig::default().with_receive_buffer(256 * 1024);
            let mut pair = Pair::new(Initiator::Sfu, config);
            pair.run_until(Duration::from_secs(5), |p| {
                p.sfu.assoc.is_connected() && p.peer.assoc.is_connected()
            });
            let channel = pair
                .sfu
                .assoc
                .open_channel("room", "", reliability)
                .unwrap();
            // The SFU is DTLS server: odd stream ids (RFC 8832 section 6).
            assert_eq!(channel.stream_id() % 2, 1);
            pair.run_until(Duration::from_secs(5), |p| {
                !p.peer.opened_by_peer().is_empty()
            });
            (pair, channel)
        })
        .collect()
}

fn run(reliability: Reliability) -> (Vec<(Pair, ChannelId)>, Fanout<usize>) {
    let mut subs = subscribers(reliability);
    let mut fanout = Fanout::new(FanoutConfig::default().with_max_buffered(BOUND));
    for (key, (_, channel)) in subs.iter().enumerate() {
        assert!(fanout.subscribe(key, *channel, reliability));
    }
    subs[2].0.peer.reads = false;
    let start = subs[0].0.now;
    let mut actions = Vec::new();
    let mut peak = 0;
    for i in 0..MESSAGES {
        let at = start + Duration::from_millis(5) * i;
        for (pair, _) in &mut subs {
            pair.advance_to(at);
        }
        let mut body = vec![0u8; 1024];
        body[..4].copy_from_slice(&i.to_be_bytes());
        let payload = Bytes::from(body);
        fanout.publish(
            MessageKind::Binary,
            &payload,
            |key, channel| subs[*key].0.sfu.assoc.buffered_amount(channel),
            &mut actions,
        );
        for action in actions.drain(..) {
            match action {
                SubscriberAction::Send {
                    subscriber,
                    channel,
                    kind,
                    payload,
                } => {
                    let assoc = &mut subs[subscriber].0.sfu.assoc;
                    if assoc.send(channel, kind, payload).is_err() {
                        fanout.send_refused(&subscriber);
                    }
                }
                SubscriberAction::Close {
                    subscriber,
                    channel,
                } => subs[subscriber].0.sfu.assoc.close_channel(channel).unwrap(),
            }
        }
        let (pair, channel) = &mut subs[2];
        peak = peak.max(pair.sfu.assoc.buffered_amount(*channel).unwrap_or(0));
    }
    let end = subs[0].0.now + Duration::from_secs(5);
    for (pair, _) in &mut subs {
        pair.advance_to(end);
    }
    assert!(
        peak <= BOUND,
        "buffered {peak} toward the stalled subscriber"
    );
    eprintln!("peak buffered toward the stalled subscriber: {peak} bytes");
    for (pair, channel) in &subs[..2] {
        let got: Vec<u32> = pair.peer.messages(*channel).iter().map(number).collect();
        assert_eq!(got, (0..MESSAGES).collect::<Vec<_>>());
    }
    (subs, fanout)
}

#[test]
fn unreliable_subscriber_misses_messages() {
    let (subs, fanout) = run(Reliability::MaxRetransmits {
        retransmits: 0,
        ordered: true,
    });
    let stats = fanout.stats();
    let missed = fanout.subscriber(&2).expect("still subscribed").dropped;
    assert!(missed > 1_000, "missed {missed}");
    assert_eq!(stats.dropped, missed);
    assert_eq!(stats.closed, 0);
    // It is still open: had it started reading again it would get new ones.
    assert_eq!(subs[2].0.sfu.assoc.channels().count(), 1);
}

#[test]
fn reliable_subscriber_is_closed() {
    let (subs, fanout) = run(Reliability::Reliable { ordered: true });
    let stats = fanout.stats();
    assert_eq!(stats.closed, 1);
    assert_eq!(stats.dropped, 0);
    assert!(fanout.subscriber(&2).is_none());
    assert_eq!(fanout.len(), 2);
    let (pair, channel) = &subs[2];
    assert!(
        pair.sfu
            .events
            .contains(&Event::ChannelClosed { channel: *channel })
    );
}

#[test]
fn send_past_the_channel_bound_is_refused() {
    let config = AssociationConfig::default().with_max_buffered_per_channel(10_000);
    let mut pair = Pair::new(Initiator::Peer, config);
    let channel = pair.connect_and_open("x", Reliability::Reliable { ordered: true });
    pair.peer.reads = false;
    let mut refused = None;
    for _ in 0..100 {
        match pair
            .sfu
            .assoc
            .send(channel, MessageKind::Text, Bytes::from(vec![b'a'; 1000]))
        {
            Ok(()) => {}
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert!(matches!(
        refused,
        Some(DataChannelError::BufferFull {
            limit: 10_000,
            len: 1000,
            ..
        })
    ));
    assert!(pair.sfu.assoc.buffered_amount(channel).unwrap() <= 10_000);
    assert_eq!(pair.sfu.assoc.stats().refused_sends, 1);
    // Over the peer's max-message-size (64 KiB by default): refused too.
    let big = Bytes::from(vec![0; 70_000]);
    assert!(matches!(
        pair.sfu.assoc.send(channel, MessageKind::Binary, big),
        Err(DataChannelError::MessageTooLarge { limit: 65_536, .. })
    ));
}
