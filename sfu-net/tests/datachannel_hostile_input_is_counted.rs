//! Hostile input to a live association never panics, is counted, and
//! leaves the association working: random bytes, truncations of real
//! packets, real packets with bytes changed (checksum fixed, so they reach
//! the SCTP stack), DCEP OPENs with absurd label lengths, labels over the
//! bound, more channels than the bound.

#[path = "datachannel_link.rs"]
mod link;

use std::time::Duration;

use bytes::Bytes;
use link::{Initiator, Pair};
use sfu_net::datachannel::{
    AssociationConfig, AssociationStats, ChannelId, Event, MessageKind, Reliability,
};
use sfu_testkit::rng::Rng;

const RELIABLE: Reliability = Reliability::Reliable { ordered: true };

/// CRC32c, bit by bit: the test's own, independent of the crate's.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Rewrites an SCTP packet's checksum to match its bytes.
fn fix_checksum(packet: &mut [u8]) {
    packet[8..12].fill(0);
    let crc = crc32c(packet);
    packet[8..12].copy_from_slice(&crc.to_le_bytes());
}

/// Every input counted exactly once: handed to the stack or refused.
fn accounted(stats: &AssociationStats) -> u64 {
    stats.packets_in
        + stats.malformed_packets
        + stats.bad_checksums
        + stats.stream_out_of_range
        + stats.packets_after_close
}

/// Packets the peer sends while `n` messages go to the SFU.
fn captured(pair: &mut Pair, channel: ChannelId, n: usize) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    for i in 0..n {
        let body = Bytes::from(vec![i as u8; 1 + i * 37 % 3000]);
        pair.peer
            .assoc
            .send(channel, MessageKind::Binary, body)
            .unwrap();
        while let Some(p) = pair.peer.assoc.poll_transmit() {
            packets.push(p.to_vec());
            pair.sfu.assoc.handle_input(pair.now, &p);
        }
        pair.tick();
    }
    packets
}

/// Whether `channel` still carries a message from the peer to the SFU.
fn still_works(pair: &mut Pair, channel: ChannelId) -> bool {
    let before = pair.sfu.received;
    pair.peer
        .assoc
        .send(
            channel,
            MessageKind::Text,
            Bytes::from_static(b"still here"),
        )
        .unwrap();
    for _ in 0..500 {
        pair.tick();
        if pair.sfu.received > before {
            return true;
        }
    }
    false
}

#[test]
fn random_bytes_and_truncations_are_counted_and_harmless() {
    let mut pair = Pair::new(Initiator::Peer, AssociationConfig::default());
    let channel = pair.connect_and_open("chat", RELIABLE);
    let real = captured(&mut pair, channel, 50);
    let mut rng = Rng::splitmix(7);
    let before = pair.sfu.assoc.stats();
    let mut fed = 0;
    for _ in 0..20_000 {
        let n = rng.below(1500);
        pair.sfu.assoc.handle_input(pair.now, &rng.bytes(n));
        fed += 1;
    }
    for packet in &real {
        for len in 0..packet.len() {
            pair.sfu.assoc.handle_input(pair.now, &packet[..len]);
            fed += 1;
        }
    }
    let stats = pair.sfu.assoc.stats();
    assert_eq!(accounted(&stats) - accounted(&before), fed);
    // Nothing random or cut short got past the screen.
    assert_eq!(stats.packets_in, before.packets_in);
    assert!(
        stats.bad_checksums > 0 && stats.malformed_packets > 0,
        "{stats:?}"
    );
    assert!(still_works(&mut pair, channel));
}

#[test]
fn mutated_packets_with_valid_checksums_never_panic() {
    let mut rng = Rng::splitmix(8);
    let mut closes = 0;
    let mut resets = 0;
    let mut peer_closes = 0;
    let mut fed = 0u64;
    for round in 0..20 {
        let mut pair = Pair::new(Initiator::Peer, AssociationConfig::default());
        let channel = pair.connect_and_open("chat", RELIABLE);
        let real = captured(&mut pair, channel, 20);
        for _ in 0..200 {
            let mut packet = real[rng.below(real.len())].clone();
            for _ in 0..1 + rng.below(4) {
                let at = 12 + rng.below(packet.len() - 12);
                packet[at] = rng.byte();
            }
            fix_checksum(&mut packet);
            let before = accounted(&pair.sfu.assoc.stats());
            pair.sfu.assoc.handle_input(pair.now, &packet);
            assert_eq!(accounted(&pair.sfu.assoc.stats()), before + 1);
            fed += 1;
            pair.tick();
        }
        if pair.sfu.assoc.is_closed() {
            closes += 1;
            assert!(
                pair.sfu
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::Closed { .. }))
            );
        } else if pair.peer.assoc.is_closed() {
            // The SFU's answers to garbage (a SACK for TSNs never sent) made
            // the peer's own stack give up: the hostile side's loss.
            peer_closes += 1;
        } else if pair.sfu.assoc.channels().any(|c| c == channel)
            && pair.peer.assoc.channels().any(|c| c == channel)
        {
            assert!(still_works(&mut pair, channel), "round {round}");
        } else {
            // A mutation can be a valid stream reset: the peer closed its
            // own channel, which is its right.
            resets += 1;
        }
    }
    eprintln!(
        "{fed} mutated packets: {closes} of 20 SFU associations closed, \
         {peer_closes} peers gave up, {resets} channels reset"
    );
}

/// The peer's packets carrying DCEP (PPID 50) DATA chunks, with the
/// chunk's offset in the packet.
fn dcep_chunk(packet: &[u8]) -> Option<usize> {
    let mut at = 12;
    while at + 16 <= packet.len() {
        let len = usize::from(u16::from_be_bytes([packet[at + 2], packet[at + 3]]));
        let ppid = u32::from_be_bytes(packet[at + 12..at + 16].try_into().unwrap());
        if packet[at] == 0 && ppid == 50 {
            return Some(at);
        }
        at += len.max(4).next_multiple_of(4);
    }
    None
}

#[test]
fn dcep_open_with_absurd_label_length_is_refused() {
    for label_len in [0xffff_u16, 2000, 13] {
        let mut pair = Pair::new(Initiator::Peer, AssociationConfig::default());
        pair.run_until(Duration::from_secs(5), |p| {
            p.sfu.assoc.is_connected() && p.peer.assoc.is_connected()
        });
        let channel = pair
            .peer
            .assoc
            .open_channel("abcdefghijkl", "", RELIABLE)
            .unwrap();
        // Intercept the OPEN on its way up and rewrite its label length.
        let mut patched = 0;
        while let Some(p) = pair.peer.assoc.poll_transmit() {
            let mut packet = p.to_vec();
            if let Some(at) = dcep_chunk(&packet) {
                let open = at + 16;
                packet[open + 8..open + 10].copy_from_slice(&label_len.to_be_bytes());
                fix_checksum(&mut packet);
                patched += 1;
            }
            pair.sfu.assoc.handle_input(pair.now, &packet);
        }
        assert_eq!(patched, 1);
        for _ in 0..300 {
            pair.tick();
        }
        let stats = pair.sfu.assoc.stats();
        assert!(pair.sfu.opened_by_peer().is_empty(), "{label_len}");
        // Over the bound: refused on the length. Within it but past the
        // message's end: malformed.
        if label_len > 1024 {
            assert_eq!(stats.refused_opens, 1, "{label_len}");
        } else {
            assert_eq!(stats.malformed_dcep, 1, "{label_len}");
        }
        // The SFU reset the stream: the peer's channel closes.
        assert!(
            pair.peer.events.contains(&Event::ChannelClosed { channel }),
            "{label_len}"
        );
        assert!(pair.sfu.assoc.is_connected());
    }
}

#[test]
fn labels_and_channels_over_the_bounds_are_refused() {
    let strict = AssociationConfig::default()
        .with_max_label_len(16)
        .with_max_channels(4);
    let lax = AssociationConfig::default().with_max_label_len(8000);
    let mut pair = Pair::new(Initiator::Peer, lax);
    // The SFU side gets the strict bounds.
    pair.sfu.assoc = sfu_net::datachannel::Association::new(
        strict,
        sfu_net::srtp::DtlsRole::Server,
        sfu_net::datachannel::SctpRole::Accept,
        pair.now,
    );
    pair.run_until(Duration::from_secs(5), |p| {
        p.sfu.assoc.is_connected() && p.peer.assoc.is_connected()
    });
    let long = "x".repeat(5000);
    pair.peer.assoc.open_channel(&long, "", RELIABLE).unwrap();
    let mut channels = Vec::new();
    for i in 0..6 {
        channels.push(
            pair.peer
                .assoc
                .open_channel(&format!("c{i}"), "", RELIABLE)
                .unwrap(),
        );
    }
    for _ in 0..300 {
        pair.tick();
    }
    let stats = pair.sfu.assoc.stats();
    assert_eq!(pair.sfu.opened_by_peer().len(), 4);
    assert_eq!(stats.refused_opens, 3, "{stats:?}");
    assert_eq!(pair.sfu.assoc.channels().count(), 4);
    // Our own side refuses a label over the bound before the wire.
    assert!(pair.sfu.assoc.open_channel(&long, "", RELIABLE).is_err());
}

#[test]
fn message_over_our_max_message_size_is_refused() {
    // A peer that ignores our a=max-message-size.
    let careless = AssociationConfig::default()
        .with_max_message_size(1 << 20)
        .with_remote_max_message_size(1 << 20)
        .with_receive_buffer(4 << 20);
    let mut pair = Pair::new(Initiator::Peer, careless);
    pair.sfu.assoc = sfu_net::datachannel::Association::new(
        AssociationConfig::default(),
        sfu_net::srtp::DtlsRole::Server,
        sfu_net::datachannel::SctpRole::Accept,
        pair.now,
    );
    let channel = pair.connect_and_open("files", RELIABLE);
    // Up to the limit: delivered.
    let fits = Bytes::from(vec![1; sfu_net::datachannel::MAX_MESSAGE_SIZE]);
    pair.peer
        .assoc
        .send(channel, MessageKind::Binary, fits)
        .unwrap();
    pair.run_until(Duration::from_secs(30), |p| p.sfu.received == 1);
    // One byte more: the stack refuses it during reassembly, before it is
    // whole, and ends the association.
    let over = Bytes::from(vec![2; sfu_net::datachannel::MAX_MESSAGE_SIZE + 1]);
    pair.peer
        .assoc
        .send(channel, MessageKind::Binary, over)
        .unwrap();
    pair.run_until(Duration::from_secs(30), |p| p.sfu.assoc.is_closed());
    let stats = pair.sfu.assoc.stats();
    assert_eq!(stats.protocol_closes, 1, "{stats:?}");
    assert_eq!(stats.messages_in, 1);
    assert!(pair.sfu.events.contains(&Event::Closed {
        reason: sfu_net::datachannel::CloseReason::ProtocolViolation
    }));
}
