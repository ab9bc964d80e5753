//! A full session in memory: ICE check, DTLS handshake, SRTP and SRTCP
//! both ways, consent kept alive by checks, then consent expiry closes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sfu_net::{CloseReason, EndpointConfig, EndpointEvent, SrtpProfile};

#[test]
fn check_handshake_media_both_ways_then_consent_expiry_closes() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (mut peer, session) = Peer::join(
        &mut ep,
        t0,
        "198.51.100.7:50000",
        1,
        vec![0x1111, 0x2222],
        None,
    );

    // The check is answered with our view of the peer's address.
    ep.handle_datagram(t0, peer.addr, server_addr(), &peer.check(true));
    let events = pump(&mut ep, &mut [&mut peer], t0);
    assert_eq!(peer.binding_responses, vec![peer.addr]);
    assert!(
        matches!(events[..], [EndpointEvent::PathSelected { session: s, remote, .. }] if s == session && remote == peer.addr)
    );
    assert_eq!(ep.selected_path(session), Some((peer.addr, server_addr())));

    peer.start_dtls(t0);
    let events = pump(&mut ep, &mut [&mut peer], t0);
    assert!(
        events
            .iter()
            // The client offers every profile: an AEAD one wins over AES-CM + HMAC.
            .any(|e| matches!(
                e,
                EndpointEvent::Connected {
                    session: s,
                    profile: SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm
                } if *s == session
            ))
    );
    assert!(peer.connected);
    // Connected, nothing is due: a driver sleeping on poll_timeout must not spin.
    let next = ep.poll_timeout().unwrap();
    assert!(next > t0, "timer already due after connecting");
    ep.handle_timeout(t0);
    assert!(ep.poll_transmit().is_none());

    // Client -> SFU: RTP and RTCP arrive decrypted, in order.
    for seq in 0..20u16 {
        let wire = peer.protect_rtp(seq, 0x1111, 1000);
        ep.handle_datagram(t0, peer.addr, server_addr(), &wire);
    }
    let rr = peer.protect_rtcp(0x2222);
    ep.handle_datagram(t0, peer.addr, server_addr(), &rr);
    let events = pump(&mut ep, &mut [&mut peer], t0);
    let received: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Rtp { session: s, packet } if *s == session => Some(packet.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), 20);
    for (seq, p) in received.iter().enumerate() {
        assert_eq!(&p[..], &rtp_packet(seq as u16)[..]);
    }
    assert!(events.iter().any(
        |e| matches!(e, EndpointEvent::Rtcp { packet, .. } if packet[..] == receiver_report(0x2222)[..])
    ));

    // SFU -> client.
    for seq in 100..110u16 {
        ep.send_rtp(session, &rtp(seq, 0x5001, 800)).unwrap();
    }
    ep.send_rtcp(session, &receiver_report(0x5001)).unwrap();
    pump(&mut ep, &mut [&mut peer], t0);
    assert_eq!(peer.rtp.len(), 10);
    assert_eq!(&peer.rtp[3][..], &rtp(103, 0x5001, 800)[..]);
    assert_eq!(&peer.rtcp[0][..], &receiver_report(0x5001)[..]);

    // Consent: a check at 25 s keeps the session past 30 s.
    let t25 = t0 + secs(25);
    ep.handle_timeout(t25);
    ep.handle_datagram(t25, peer.addr, server_addr(), &peer.check(false));
    pump(&mut ep, &mut [&mut peer], t25);
    ep.handle_timeout(t0 + secs(40));
    assert_eq!(ep.session_count(), 1);
    assert!(ep.poll_timeout().unwrap() <= t25 + secs(30));

    // Silence until 30 s after the last check closes it, with one event.
    ep.handle_timeout(t25 + secs(30));
    let events = pump(&mut ep, &mut [&mut peer], t25 + secs(30));
    assert!(
        matches!(events[..], [EndpointEvent::Closed { session: s, reason: CloseReason::ConsentExpired }] if s == session),
        "{events:?}"
    );
    assert_eq!(
        (
            ep.session_count(),
            ep.ufrag_route_count(),
            ep.path_route_count()
        ),
        (0, 0, 0)
    );
    assert!(ep.send_rtp(session, &rtp(1, 0x5001, 10)).is_err());

    // A check for the closed session now gets nothing.
    ep.handle_datagram(t25 + secs(31), peer.addr, server_addr(), &peer.check(true));
    assert!(ep.poll_transmit().is_none());
}

fn rtp_packet(seq: u16) -> Vec<u8> {
    rtp(seq, 0x1111, 1000)
}

#[test]
fn consent_expires_for_a_session_never_checked() {
    let t0 = std::time::Instant::now();
    let config = EndpointConfig::default().with_consent_timeout(secs(5));
    let mut ep = endpoint(config);
    let (_peer, session) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![], None);
    assert_eq!(ep.poll_timeout(), Some(t0 + secs(5)));
    ep.handle_timeout(t0 + secs(4));
    assert_eq!(ep.session_count(), 1);
    ep.handle_timeout(t0 + secs(5));
    assert!(matches!(
        ep.poll_event(),
        Some(EndpointEvent::Closed { session: s, reason: CloseReason::ConsentExpired }) if s == session
    ));
}
