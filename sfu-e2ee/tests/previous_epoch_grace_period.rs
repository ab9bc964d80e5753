//! Keys of the previous epoch decrypt for the grace period, then stop;
//! replayed frames are refused.

use std::time::{Duration, Instant};

use sfu_e2ee::Error;
use sfu_e2ee::codec::Codec;
use sfu_e2ee::frame::{FrameDecryptor, FrameEncryptor};
use sfu_e2ee::sframe::{CipherSuite, SframeKey};

fn key(kid: u64, epoch_secret: &[u8]) -> SframeKey {
    SframeKey::derive(CipherSuite::AesGcm128Sha256, kid, epoch_secret).unwrap()
}

#[test]
fn previous_epoch_frames_decrypt_until_the_grace_period_ends() {
    let t0 = Instant::now();
    let grace = Duration::from_secs(10);
    let mut dec = FrameDecryptor::new(grace);
    dec.keys().install_epoch(t0, 1, [key(0x11, b"epoch one")]);
    let mut old = FrameEncryptor::new();
    old.set_key(key(0x11, b"epoch one"));
    let mut in_flight = Vec::new();
    old.encrypt(Codec::Opus, b"said in epoch one", &mut in_flight)
        .unwrap();

    let t1 = t0 + Duration::from_secs(1);
    dec.keys().install_epoch(t1, 2, [key(0x12, b"epoch two")]);
    assert_eq!(dec.keys().poll_timeout(), Some(t1 + grace));
    let mut out = Vec::new();
    dec.decrypt(
        t1 + Duration::from_secs(9),
        Codec::Opus,
        &in_flight,
        &mut out,
    )
    .unwrap();
    assert_eq!(out, b"said in epoch one");

    old.encrypt(Codec::Opus, b"late frame", &mut in_flight)
        .unwrap();
    assert_eq!(
        dec.decrypt(t1 + grace, Codec::Opus, &in_flight, &mut out),
        Err(Error::KeyExpired(0x11))
    );
    dec.keys().handle_timeout(t1 + grace);
    assert_eq!(dec.keys().len(), 1);
    assert_eq!(
        dec.decrypt(t1 + grace, Codec::Opus, &in_flight, &mut out),
        Err(Error::UnknownKeyId(0x11))
    );
}

#[test]
fn only_one_previous_epoch_is_kept() {
    let t0 = Instant::now();
    let mut dec = FrameDecryptor::new(Duration::from_secs(10));
    dec.keys().install_epoch(t0, 1, [key(1, b"e1")]);
    dec.keys().install_epoch(t0, 2, [key(2, b"e2")]);
    dec.keys().install_epoch(t0, 3, [key(3, b"e3")]);
    assert_eq!(dec.keys().len(), 2);
    let mut enc = FrameEncryptor::new();
    enc.set_key(key(1, b"e1"));
    let (mut p, mut out) = (Vec::new(), Vec::new());
    enc.encrypt(Codec::Opus, b"x", &mut p).unwrap();
    assert_eq!(
        dec.decrypt(t0, Codec::Opus, &p, &mut out),
        Err(Error::UnknownKeyId(1))
    );
}

#[test]
fn replayed_frame_is_refused_and_reordered_frame_is_accepted() {
    let t0 = Instant::now();
    let mut dec = FrameDecryptor::new(Duration::from_secs(10));
    dec.keys().install_epoch(t0, 1, [key(5, b"e")]);
    let mut enc = FrameEncryptor::new();
    enc.set_key(key(5, b"e"));
    let frames: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let mut p = Vec::new();
            enc.encrypt(Codec::Opus, &[i; 20], &mut p).unwrap();
            p
        })
        .collect();
    let mut out = Vec::new();
    dec.decrypt(t0, Codec::Opus, &frames[2], &mut out).unwrap();
    dec.decrypt(t0, Codec::Opus, &frames[0], &mut out).unwrap();
    assert_eq!(
        dec.decrypt(t0, Codec::Opus, &frames[0], &mut out),
        Err(Error::Replayed { kid: 5, ctr: 0 })
    );
    dec.decrypt(t0, Codec::Opus, &frames[1], &mut out).unwrap();
    assert_eq!(out, [1; 20]);
}
