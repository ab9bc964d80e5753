//! Arbitrary SCTP packets into a data-channel association after a real
//! handshake and a real channel open: nothing panics, every packet is
//! counted once (handed to the stack or refused by the screen), and a
//! closed association says so in an event.
//!
//! The input is packets, each a 2-byte big-endian length and its bytes. The
//! first byte is flags: bit 0 rewrites each packet's CRC32c to match (so
//! it reaches the SCTP stack instead of the screen), bit 1 writes the
//! association's real verification tag into it (so the stack routes it to
//! the association). The stack draws its tags from the thread's generator,
//! so the tag is copied from a packet the peer really sent.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sfu_net::datachannel::{
    Association, AssociationConfig, Event, MessageKind, Reliability, SctpRole,
};
use sfu_net::srtp::DtlsRole;

/// Moves packets between the two until neither has more; returns the last
/// verification tag the peer used toward the SFU.
fn exchange(sfu: &mut Association, peer: &mut Association, now: Instant) -> [u8; 4] {
    let mut tag = [0; 4];
    for _ in 0..16 {
        let mut moved = false;
        while let Some(p) = peer.poll_transmit() {
            if let Some(t) = p.get(4..8) {
                tag.copy_from_slice(t);
            }
            sfu.handle_input(now, &p);
            moved = true;
        }
        while let Some(p) = sfu.poll_transmit() {
            peer.handle_input(now, &p);
            moved = true;
        }
        while sfu.poll_event().is_some() || peer.poll_event().is_some() {
            moved = true;
        }
        if !moved {
            break;
        }
    }
    tag
}

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

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let mut now = Instant::now();
    let config = AssociationConfig::default();
    let mut sfu = Association::new(config.clone(), DtlsRole::Server, SctpRole::Accept, now);
    let mut peer = Association::new(config, DtlsRole::Client, SctpRole::Initiate, now);
    exchange(&mut sfu, &mut peer, now);
    let channel = peer
        .open_channel("fuzz", "", Reliability::Reliable { ordered: true })
        .unwrap();
    peer.send(channel, MessageKind::Text, "hello".into())
        .unwrap();
    let tag = exchange(&mut sfu, &mut peer, now);
    assert!(sfu.is_connected());
    let mut fed = 0u64;
    let before = sfu.stats();
    while let [a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*a, *b])).min(tail.len());
        let (packet, tail) = tail.split_at(len);
        rest = tail;
        let mut packet = packet.to_vec();
        if flags & 2 != 0 && packet.len() >= 8 {
            packet[4..8].copy_from_slice(&tag);
        }
        if flags & 1 != 0 && packet.len() >= 12 {
            packet[8..12].fill(0);
            let crc = crc32c(&packet);
            packet[8..12].copy_from_slice(&crc.to_le_bytes());
        }
        sfu.handle_input(now, &packet);
        fed += 1;
        now += Duration::from_millis(10);
        sfu.handle_timeout(now);
        while sfu.poll_transmit().is_some() {}
        let mut closed = false;
        while let Some(event) = sfu.poll_event() {
            closed |= matches!(event, Event::Closed { .. });
        }
        assert!(!closed || sfu.is_closed());
    }
    let s = sfu.stats();
    let counted = |s: &sfu_net::datachannel::AssociationStats| {
        s.packets_in
            + s.malformed_packets
            + s.bad_checksums
            + s.stream_out_of_range
            + s.packets_after_close
    };
    assert_eq!(counted(&s) - counted(&before), fed);
});
