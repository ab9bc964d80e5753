//! A session that learns unsignalled SSRCs authenticates a packet from an
//! unknown SSRC before it admits the SSRC (a "probe"). Forged SRTCP never
//! authenticates, so it never fills the learning limit: before issue 10
//! (item 5) every forged packet from a fresh SSRC cost a full SRTP/SRTCP key
//! derivation and a decrypt, forever. Now the probe context is keyed once
//! per session, and probes are spent from a per-session token bucket that
//! refills with the time the caller passes in; past it, unknown SSRCs are
//! dropped before any crypto, and counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use sfu_net::EndpointConfig;
use sfu_net::SrtpProfile;
use sfu_net::srtp::{DtlsRole, SrtpDrop, SrtpSession};

const PROFILES: [SrtpProfile; 3] = [
    SrtpProfile::AeadAes128Gcm,
    SrtpProfile::AeadAes256Gcm,
    SrtpProfile::Aes128CmHmacSha1_80,
];

/// A peer (DTLS client) and the SFU's side (DTLS server), the SFU learning
/// up to 64 SSRCs and knowing SSRC 7.
fn pair(profile: SrtpProfile) -> (SrtpSession, SrtpSession) {
    let material: Vec<u8> = (0..profile.keying_material_len())
        .map(|i| (i * 13 + 1) as u8)
        .collect();
    let peer = SrtpSession::from_dtls_keying(&material, profile, DtlsRole::Client).unwrap();
    let mut sfu = SrtpSession::from_dtls_keying(&material, profile, DtlsRole::Server).unwrap();
    sfu.allow_remote_ssrc(7);
    sfu.learn_remote_ssrcs(64);
    (peer, sfu)
}

fn receiver_report(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

/// SRTCP from `ssrc` as the peer would send it, with its tag broken: the
/// shape of a forgery by someone without the keys.
fn forged_rtcp(peer: &mut SrtpSession, ssrc: u32) -> Vec<u8> {
    let mut p = peer.protect_rtcp(&receiver_report(ssrc)).unwrap().to_vec();
    let tag_byte = p.len() - 5;
    p[tag_byte] ^= 0x5A;
    p
}

fn is_refused(r: &Result<bytes::Bytes, SrtpDrop>, ssrc: u32) -> bool {
    matches!(
        r,
        Err(SrtpDrop::SsrcNotNegotiated(s) | SrtpDrop::LearningBudgetSpent(s)) if *s == ssrc
    )
}

#[test]
fn forged_srtcp_from_1000_unknown_ssrcs_costs_at_most_the_burst_in_probes() {
    for profile in PROFILES {
        let (mut peer, mut sfu) = pair(profile);
        let now = Instant::now();
        for i in 0..1000u32 {
            let ssrc = 0x1000 + i;
            let r = sfu.unprotect_rtcp_at(now, &forged_rtcp(&mut peer, ssrc));
            assert!(is_refused(&r, ssrc), "{profile:?} {r:?}");
        }
        let stats = sfu.learning_stats();
        eprintln!("{profile:?}: 1000 forged SSRCs at one instant: {stats:?}");
        assert!(stats.probes <= 16, "{profile:?}: {stats:?}");
        assert!(stats.probe_key_derivations <= 1, "{profile:?}: {stats:?}");
        assert_eq!(stats.probes + stats.probes_refused, 1000);
        assert_eq!(sfu.remote_ssrcs(), &[7]);
    }
}

#[test]
fn probes_reuse_the_session_keys_instead_of_deriving_them_again() {
    for profile in PROFILES {
        let (mut peer, mut sfu) = pair(profile);
        let mut now = Instant::now();
        // One forgery a second: within any budget, so every one is probed.
        for i in 0..300u32 {
            now += Duration::from_secs(1);
            let ssrc = 0x1000 + i;
            let r = sfu.unprotect_rtcp_at(now, &forged_rtcp(&mut peer, ssrc));
            assert!(is_refused(&r, ssrc), "{profile:?} {r:?}");
        }
        let stats = sfu.learning_stats();
        eprintln!("{profile:?}: 300 forged SSRCs, one a second: {stats:?}");
        assert_eq!(stats.probes, 300, "{profile:?}");
        // The probe context is rebuilt now and then to bound its per-SSRC
        // state, never once per probe.
        assert!(stats.probe_key_derivations <= 5, "{profile:?}: {stats:?}");
    }
}

#[test]
fn after_a_flood_the_budget_refills_and_genuine_ssrcs_are_learned() {
    for profile in PROFILES {
        let (mut peer, mut sfu) = pair(profile);
        let mut now = Instant::now();
        for i in 0..500u32 {
            let _ = sfu.unprotect_rtcp_at(now, &forged_rtcp(&mut peer, 0x1000 + i));
        }
        let genuine = peer.protect_rtcp(&receiver_report(0x9999)).unwrap();
        assert_eq!(
            sfu.unprotect_rtcp_at(now, &genuine),
            Err(SrtpDrop::LearningBudgetSpent(0x9999)),
            "{profile:?}"
        );
        // Known SSRCs are never budgeted.
        let known = peer.protect_rtcp(&receiver_report(7)).unwrap();
        assert_eq!(
            &sfu.unprotect_rtcp_at(now, &known).unwrap()[..],
            &receiver_report(7)[..]
        );
        // A second later the same genuine packet (dropped unread, so not a
        // replay) is probed and learned.
        now += Duration::from_secs(1);
        assert_eq!(
            &sfu.unprotect_rtcp_at(now, &genuine).unwrap()[..],
            &receiver_report(0x9999)[..],
            "{profile:?}"
        );
        assert_eq!(sfu.remote_ssrcs(), &[7, 0x9999]);
    }
}

#[test]
fn the_endpoint_counts_unknown_ssrcs_dropped_past_the_budget() {
    let mut now = Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let mut peer = audio_peer(now, "198.51.100.7:50000", 3);
    let setup = Setup {
        learn_remote_ssrcs: true,
        ..Setup::default()
    };
    publish_with(&mut ep, &mut peer, 1, now, setup);
    connect(&mut ep, &mut peer, 1, &mut now);
    assert!(peer.is_connected());
    let before = ep.stats();
    // SRTCP-shaped datagrams from the peer's own address and unknown SSRCs:
    // RR header, sender SSRC, 16 bytes of "tag", E flag and SRTCP index.
    for i in 0..1000u32 {
        let mut p = vec![0x80, 201, 0, 1];
        p.extend_from_slice(&(0x7000_0000 + i).to_be_bytes());
        p.extend_from_slice(&[0xAB; 16]);
        p.extend_from_slice(&(0x8000_0001u32 + i).to_be_bytes());
        ep.handle_datagram(now, peer.addr(), server_addr(), &p);
    }
    let after = ep.stats();
    let probed = after.srtp_ssrc_not_negotiated - before.srtp_ssrc_not_negotiated;
    let spent = after.srtp_learning_budget_spent - before.srtp_learning_budget_spent;
    eprintln!("endpoint: {probed} probed, {spent} dropped past the budget");
    assert!(probed <= 16, "{probed} probed");
    assert_eq!(probed + spent, 1000);
}
