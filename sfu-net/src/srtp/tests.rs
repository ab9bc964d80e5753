use super::*;

const PROFILES: [SrtpProfile; 3] = [
    SrtpProfile::AeadAes128Gcm,
    SrtpProfile::AeadAes256Gcm,
    SrtpProfile::Aes128CmHmacSha1_80,
];

fn pair(profile: SrtpProfile) -> (SrtpSession, SrtpSession) {
    let material: Vec<u8> = (0..profile.keying_material_len())
        .map(|i| i as u8)
        .collect();
    let client = SrtpSession::from_dtls_keying(&material, profile, DtlsRole::Client).unwrap();
    let server = SrtpSession::from_dtls_keying(&material, profile, DtlsRole::Server).unwrap();
    (client, server)
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&1234u32.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..200).map(|i| i as u8));
    p
}

fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

#[test]
fn both_directions_round_trip_for_every_profile() {
    for profile in PROFILES {
        let (mut client, mut server) = pair(profile);
        server.allow_remote_ssrc(7);
        client.allow_remote_ssrc(9);
        let sent = rtp(1, 7);
        let wire = client.protect_rtp(&sent).unwrap();
        assert_ne!(
            &wire[12..212],
            &sent[12..],
            "{profile:?} payload not encrypted"
        );
        assert_eq!(&server.unprotect_rtp(&wire).unwrap()[..], &sent[..]);
        let back = server.protect_rtp(&rtp(5, 9)).unwrap();
        assert_eq!(&client.unprotect_rtp(&back).unwrap()[..], &rtp(5, 9)[..]);
        let rr = client.protect_rtcp(&rtcp_rr(7)).unwrap();
        assert_eq!(&server.unprotect_rtcp(&rr).unwrap()[..], &rtcp_rr(7)[..]);
    }
}

#[test]
fn replayed_packets_are_dropped() {
    for profile in PROFILES {
        let (mut client, mut server) = pair(profile);
        server.allow_remote_ssrc(7);
        let wire = client.protect_rtp(&rtp(10, 7)).unwrap();
        assert!(server.unprotect_rtp(&wire).is_ok());
        assert_eq!(server.unprotect_rtp(&wire), Err(SrtpDrop::Replayed));
        let rr = client.protect_rtcp(&rtcp_rr(7)).unwrap();
        assert!(server.unprotect_rtcp(&rr).is_ok());
        assert_eq!(server.unprotect_rtcp(&rr), Err(SrtpDrop::Replayed));
    }
}

#[test]
fn unnegotiated_ssrc_never_reaches_the_decryptor() {
    let (mut client, mut server) = pair(SrtpProfile::AeadAes128Gcm);
    server.allow_remote_ssrc(7);
    let wire = client.protect_rtp(&rtp(1, 8)).unwrap();
    assert_eq!(
        server.unprotect_rtp(&wire),
        Err(SrtpDrop::SsrcNotNegotiated(8))
    );
    let rr = client.protect_rtcp(&rtcp_rr(8)).unwrap();
    assert_eq!(
        server.unprotect_rtcp(&rr),
        Err(SrtpDrop::SsrcNotNegotiated(8))
    );
    assert_eq!(server.remote_ssrcs(), &[7]);
}

#[test]
fn tampered_packets_fail_authentication_and_do_not_burn_the_sequence() {
    for profile in PROFILES {
        let (mut client, mut server) = pair(profile);
        server.allow_remote_ssrc(7);
        let wire = client.protect_rtp(&rtp(3, 7)).unwrap();
        let mut bad = wire.to_vec();
        bad[40] ^= 1;
        assert_eq!(server.unprotect_rtp(&bad), Err(SrtpDrop::AuthFailed));
        // A forged copy must not mark the sequence number as seen.
        assert!(server.unprotect_rtp(&wire).is_ok(), "{profile:?}");
    }
}

#[test]
fn truncated_packets_are_malformed_not_panics() {
    let (mut client, mut server) = pair(SrtpProfile::AeadAes128Gcm);
    server.allow_remote_ssrc(7);
    let wire = client.protect_rtp(&rtp(3, 7)).unwrap();
    for len in 0..wire.len() {
        assert!(server.unprotect_rtp(&wire[..len]).is_err());
    }
    let rr = client.protect_rtcp(&rtcp_rr(7)).unwrap();
    for len in 0..rr.len() {
        assert!(server.unprotect_rtcp(&rr[..len]).is_err());
    }
}

#[test]
fn wrong_keying_length_is_an_error() {
    assert!(
        SrtpSession::from_dtls_keying(&[0; 10], SrtpProfile::AeadAes128Gcm, DtlsRole::Server)
            .is_err()
    );
}

#[test]
fn learning_admits_only_authenticated_ssrcs_up_to_the_limit() {
    for profile in PROFILES {
        let (mut client, mut server) = pair(profile);
        server.allow_remote_ssrc(7);
        server.learn_remote_ssrcs(3);
        // A forged packet from a new SSRC is not learned.
        let mut forged = client.protect_rtp(&rtp(1, 100)).unwrap().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(
            server.unprotect_rtp(&forged),
            Err(SrtpDrop::SsrcNotNegotiated(100))
        );
        assert_eq!(server.remote_ssrcs(), &[7]);
        // Genuine ones are, RTP and RTCP alike, until the limit.
        let wire = client.protect_rtp(&rtp(2, 100)).unwrap();
        assert_eq!(&server.unprotect_rtp(&wire).unwrap()[..], &rtp(2, 100)[..]);
        assert_eq!(server.unprotect_rtp(&wire), Err(SrtpDrop::Replayed));
        let rr = client.protect_rtcp(&rtcp_rr(1)).unwrap();
        assert_eq!(&server.unprotect_rtcp(&rr).unwrap()[..], &rtcp_rr(1)[..]);
        assert_eq!(server.remote_ssrcs(), &[7, 100, 1]);
        let wire = client.protect_rtp(&rtp(1, 200)).unwrap();
        assert_eq!(
            server.unprotect_rtp(&wire),
            Err(SrtpDrop::SsrcNotNegotiated(200)),
            "{profile:?}"
        );
    }
}

fn rtp_with_extensions(seq: u16, ssrc: u32) -> Vec<u8> {
    // X bit, 1 CSRC, a one-byte-header extension block of 2 words.
    let mut p = vec![0x91, 0xe0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 90).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&0xdead_beefu32.to_be_bytes());
    p.extend_from_slice(&[0xbe, 0xde, 0, 2, 0x10, 0xaa, 0x21, 0xbb, 0xcc, 0, 0, 0]);
    p.extend((0..300).map(|i| (i * 7) as u8));
    p
}

/// The in-place AEAD_AES_128_GCM path against rtc-srtp, byte for byte,
/// across a sequence-number rollover and headers with CSRCs and extensions.
#[test]
fn in_place_gcm_matches_rtc_srtp_both_ways() {
    in_place_matches_rtc_srtp(SrtpProfile::AeadAes128Gcm);
    in_place_matches_rtc_srtp(SrtpProfile::AeadAes256Gcm);
}

fn in_place_matches_rtc_srtp(profile: SrtpProfile) {
    let material: Vec<u8> = (0..profile.keying_material_len())
        .map(|i| (i * 37 + 5) as u8)
        .collect();
    let k = profile.rtc().key_len();
    let (client_key, server_key) = (&material[..k], &material[k..2 * k]);
    let (client_salt, server_salt) = (&material[2 * k..2 * k + 12], &material[2 * k + 12..]);
    let provider = rtc_crypto::default_provider().unwrap();
    let mut reference_tx = Context::new(
        client_key,
        client_salt,
        profile.rtc(),
        None,
        None,
        provider.crypto(),
    )
    .unwrap();
    let mut reference_rx = Context::new(
        server_key,
        server_salt,
        profile.rtc(),
        None,
        None,
        provider.crypto(),
    )
    .unwrap();
    let mut client = SrtpSession::from_dtls_keying(&material, profile, DtlsRole::Client).unwrap();
    let mut server = SrtpSession::from_dtls_keying(&material, profile, DtlsRole::Server).unwrap();
    assert!(client.gcm.is_some() && server.gcm.is_some());
    server.allow_remote_ssrc(0x1234);
    client.allow_remote_ssrc(0x4321);
    for n in 0..200u32 {
        let seq = (65_436 + n) as u16;
        let plain = if n % 3 == 0 {
            rtp_with_extensions(seq, 0x1234)
        } else {
            rtp(seq, 0x1234)
        };
        let ours = client.protect_rtp(&plain).unwrap();
        let theirs = reference_tx.encrypt_rtp(&plain).unwrap();
        assert_eq!(
            &ours[..],
            &theirs[..],
            "{profile:?} client->server packet {n} (seq {seq})"
        );
        assert_eq!(&server.unprotect_rtp(&theirs).unwrap()[..], &plain[..]);

        let back = rtp_with_extensions(seq, 0x4321);
        let ours = server.protect_rtp(&back).unwrap();
        let mut reference_dec = reference_rx.decrypt_rtp(&ours).unwrap();
        assert_eq!(&reference_dec[..], &back[..], "server->client packet {n}");
        reference_dec.clear();
        assert_eq!(&client.unprotect_rtp(&ours).unwrap()[..], &back[..]);
    }
}

#[test]
fn in_place_paths_reuse_the_callers_buffer() {
    let (mut client, mut server) = pair(SrtpProfile::AeadAes128Gcm);
    server.allow_remote_ssrc(7);
    let plain = rtp(9, 7);
    let mut buf = Vec::with_capacity(plain.len() + 16);
    buf.extend_from_slice(&plain);
    let before = buf.as_ptr();
    client.protect_rtp_in_place(&mut buf).unwrap();
    assert_eq!((buf.as_ptr(), buf.len()), (before, plain.len() + 16));
    let len = server.unprotect_rtp_in_place(&mut buf).unwrap();
    assert_eq!(&buf[..len], &plain[..]);
    // Forged tag: no state for a new SSRC, nothing learned.
    let mut forged = client.protect_rtp(&rtp(1, 8)).unwrap().to_vec();
    server.learn_remote_ssrcs(8);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        server.unprotect_rtp_in_place(&mut forged),
        Err(SrtpDrop::SsrcNotNegotiated(8))
    );
    assert_eq!(server.remote_ssrcs(), &[7]);
}
