//! A full session in memory: ICE check, DTLS handshake, SRTP and SRTCP
//! both ways, consent kept alive by checks, then consent expiry closes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use sfu_net::{CloseReason, EndpointConfig, EndpointEvent, SrtpProfile};
use sfu_testkit::peer::SrtpProfile as PeerProfile;
use sfu_testkit::rtp::{Rtcp, rtcp_packets};

#[test]
fn check_handshake_media_both_ways_then_consent_expiry_closes() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(now, "198.51.100.7:50000", 1);
    let ours = publish(&mut ep, &mut peer, 1, now);
    let audio_ssrc = peer.sending_ssrcs("0")[0].1;

    // The check is answered with our view of the peer's address.
    let first = first_check(&mut peer, now);
    ep.handle_datagram(now, peer.addr(), server_addr(), &first);
    let reply = ep.poll_transmit().unwrap();
    assert_eq!(
        verify_binding_response(&reply.contents, ours.pwd()),
        Some(peer.addr())
    );
    let events: Vec<_> = std::iter::from_fn(|| ep.poll_event()).collect();
    assert!(
        matches!(events[..], [EndpointEvent::PathSelected { session: 1, remote, .. }] if remote == peer.addr()),
        "{events:?}"
    );
    assert_eq!(ep.selected_path(1), Some((peer.addr(), server_addr())));

    // The answer starts the peer's DTLS client.
    peer.handle_datagram(now, reply.source, &reply.contents);
    assert!(peer.ice_succeeded());
    let events = pump(&mut ep, &mut [&mut peer], now);
    assert!(
        events
            .iter()
            // The client offers every profile: an AEAD one wins over AES-CM + HMAC.
            .any(|e| matches!(
                e,
                EndpointEvent::Connected {
                    session: 1,
                    profile: SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm
                }
            )),
        "{events:?}"
    );
    assert!(peer.is_connected());
    assert!(matches!(
        peer.srtp_profile(),
        Some(PeerProfile::AeadAes128Gcm | PeerProfile::AeadAes256Gcm)
    ));
    // Connected, nothing is due: a driver sleeping on poll_timeout must not spin.
    let next = ep.poll_timeout().unwrap();
    assert!(next > now, "timer already due after connecting");
    ep.handle_timeout(now);
    assert!(ep.poll_transmit().is_none());

    // Client -> SFU: RTP arrives decrypted, in order, as sent.
    for seq in 0..20u16 {
        let timestamp = 960 * u32::from(seq);
        peer.send_media(now, "0", None, false, timestamp, &payload(seq, 1000))
            .unwrap();
    }
    let events = pump(&mut ep, &mut [&mut peer], now);
    let received: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Rtp { session: 1, packet } => Some(packet.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), 20);
    let first_seq = rtp_fields(&received[0]).1;
    for (i, p) in received.iter().enumerate() {
        let (pt, seq, ssrc, body) = rtp_fields(p);
        assert_eq!((pt, ssrc), (111, audio_ssrc));
        assert_eq!(seq, first_seq.wrapping_add(i as u16));
        assert_eq!(body, &payload(i as u16, 1000)[..]);
    }
    // ... and its RTCP: a sender report a second later.
    let until = now + secs(1);
    let events = run(&mut ep, &mut [&mut peer], &mut now, until);
    assert!(
        events.iter().any(|e| matches!(
            e,
            EndpointEvent::Rtcp { session: 1, packet }
                if rtcp_packets(packet).first().is_some_and(|(pt, _, body)| *pt == 200 && body[..4] == audio_ssrc.to_be_bytes())
        )),
        "{events:?}"
    );

    // SFU -> client: RTP, then a receiver report and a PLI the peer acts on.
    for seq in 100..110u16 {
        ep.send_rtp(1, &rtp(seq, 0x5001, 800)).unwrap();
    }
    let rtcp = Rtcp::new().rr(0x5001, &[]).pli(0x5001, audio_ssrc).build();
    ep.send_rtcp(1, &rtcp).unwrap();
    pump(&mut ep, &mut [&mut peer], now);
    let got = peer.take_received();
    assert_eq!(got.len(), 10);
    assert_eq!(
        (got[3].ssrc, got[3].seq, got[3].pt, got[3].timestamp),
        (0x5001, 103, 96, 103 * 3000)
    );
    assert_eq!(got[3].payload, payload(103, 800));
    assert_eq!(peer.stats().rtcp_received, 1);
    assert!(peer.keyframe_requested(), "the PLI decrypted and read");
    assert_eq!(peer.stats().decrypt_failures, 0);

    // Consent: the peer's checks every 5 s, the last at 25 s, keep the
    // session past 30 s.
    let t25 = t0 + secs(25);
    run(&mut ep, &mut [&mut peer], &mut now, t25);
    assert_eq!(
        peer.stats().check_responses,
        6,
        "the first check and consent checks at 5, 10, 15, 20 and 25 s"
    );
    peer.stop_consent();
    ep.handle_timeout(t0 + secs(40));
    assert_eq!(ep.session_count(), 1);
    assert!(ep.poll_timeout().unwrap() <= t25 + secs(30));

    // Silence until 30 s after the last check closes it, with one event.
    ep.handle_timeout(t25 + secs(30));
    let events: Vec<_> = std::iter::from_fn(|| ep.poll_event()).collect();
    assert!(
        matches!(
            events[..],
            [EndpointEvent::Closed {
                session: 1,
                reason: CloseReason::ConsentExpired
            }]
        ),
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
    assert!(ep.send_rtp(1, &rtp(1, 0x5001, 10)).is_err());

    // The peer's check, sent again for the closed session, now gets nothing.
    ep.handle_datagram(t25 + secs(31), peer.addr(), server_addr(), &first);
    assert!(ep.poll_transmit().is_none());
}

#[test]
fn consent_expires_for_a_session_never_checked() {
    let t0 = Instant::now();
    let config = EndpointConfig::default().with_consent_timeout(secs(5));
    let mut ep = endpoint(config);
    let mut peer = audio_peer(t0, "198.51.100.7:50000", 1);
    publish(&mut ep, &mut peer, 1, t0);
    assert_eq!(ep.poll_timeout(), Some(t0 + secs(5)));
    ep.handle_timeout(t0 + secs(4));
    assert_eq!(ep.session_count(), 1);
    ep.handle_timeout(t0 + secs(5));
    assert!(matches!(
        ep.poll_event(),
        Some(EndpointEvent::Closed {
            session: 1,
            reason: CloseReason::ConsentExpired
        })
    ));
}
