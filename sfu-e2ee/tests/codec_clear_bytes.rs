//! Codec clear bytes: what stays readable for packetizers and the SFU, and
//! that every clear byte is authenticated.

use std::time::Instant;

use sfu_e2ee::Error;
use sfu_e2ee::codec::{Codec, H264_SLICE_CLEAR, vp8_is_keyframe};
use sfu_e2ee::frame::{DEFAULT_GRACE, FrameDecryptor, FrameEncryptor};
use sfu_e2ee::sframe::{CipherSuite, SframeKey};

fn pair() -> (FrameEncryptor, FrameDecryptor) {
    let key = SframeKey::derive(CipherSuite::AesGcm128Sha256, 0x21, b"epoch base key").unwrap();
    let mut enc = FrameEncryptor::new();
    enc.set_key(key.clone());
    let mut dec = FrameDecryptor::new(DEFAULT_GRACE);
    dec.keys().install_epoch(Instant::now(), 1, [key]);
    (enc, dec)
}

fn roundtrip(codec: Codec, frame: &[u8]) -> Vec<u8> {
    let (mut enc, mut dec) = pair();
    let mut protected = Vec::new();
    enc.encrypt(codec, frame, &mut protected).unwrap();
    let mut plain = Vec::new();
    dec.decrypt(Instant::now(), codec, &protected, &mut plain)
        .unwrap();
    assert_eq!(plain, frame, "{codec:?} roundtrip");
    // Every single-bit flip anywhere is rejected: clear bytes are authenticated.
    for i in 0..protected.len() {
        let mut bad = protected.clone();
        bad[i] ^= 0x01;
        let (_, mut dec) = pair();
        assert!(
            dec.decrypt(Instant::now(), codec, &bad, &mut plain)
                .is_err(),
            "{codec:?} flip at {i}"
        );
    }
    protected
}

fn vp8_keyframe(len: usize) -> Vec<u8> {
    // Frame tag with bit 0 = 0 (keyframe), start code 9d 01 2a, 640x480.
    let mut f = sfu_testkit::rtp::VP8_KEYFRAME_HEADER.to_vec();
    f.extend((0..len - 10).map(|i| (i * 7 + 3) as u8));
    f
}

#[test]
fn vp8_keyframe_flag_is_the_least_significant_bit() {
    assert!(vp8_is_keyframe(&[0x50]));
    assert!(!vp8_is_keyframe(&[0x51]));
    // The most significant bit is the show_frame/size field, not the flag.
    assert!(vp8_is_keyframe(&[0x80]));
    assert!(!vp8_is_keyframe(&[0x81]));
}

#[test]
fn vp8_keyframe_keeps_ten_clear_bytes() {
    let frame = vp8_keyframe(300);
    let protected = roundtrip(Codec::Vp8, &frame);
    assert_eq!(&protected[..10], &frame[..10]);
    assert_ne!(&protected[10..20], &frame[10..20]);
}

#[test]
fn vp8_interframe_keeps_one_clear_byte() {
    let frame: Vec<u8> = [0x31u8]
        .into_iter()
        .chain((0..200).map(|i| i as u8))
        .collect();
    let protected = roundtrip(Codec::Vp8, &frame);
    assert_eq!(protected[0], 0x31);
    assert_ne!(&protected[1..11], &frame[1..11]);
}

#[test]
fn vp8_keyframe_shorter_than_its_clear_bytes_is_refused() {
    let (mut enc, _) = pair();
    let mut out = Vec::new();
    assert_eq!(
        enc.encrypt(Codec::Vp8, &[0x50, 1, 2], &mut out),
        Err(Error::FrameTooShort)
    );
    assert_eq!(
        enc.encrypt(Codec::Vp8, &[], &mut out),
        Err(Error::FrameTooShort)
    );
}

#[test]
fn opus_and_vp9_frames_are_fully_encrypted() {
    for codec in [Codec::Opus, Codec::Vp9] {
        let frame: Vec<u8> = (0..120).map(|i| (i * 3) as u8).collect();
        let protected = roundtrip(codec, &frame);
        // The first byte on the wire is the SFrame config byte, not media.
        // Config byte (KID in one extra byte, CTR 0 inline), then KID 0x21.
        assert_eq!(&protected[..2], &[0x80, 0x21]);
        assert!(
            !protected
                .windows(8)
                .any(|w| frame.windows(8).any(|f| f == w))
        );
    }
}

fn h264_frame() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend([0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda]); // SPS
    f.extend([0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]); // PPS
    f.extend([0, 0, 1, 0x06, 0x05, 0x01, 0xaa, 0x80]); // SEI
    f.extend([0, 0, 1, 0x65]); // IDR slice 1
    f.extend((0..400).map(|i| if i % 50 < 3 { 0 } else { (i % 251) as u8 }));
    f.push(0x80);
    f.extend([0, 0, 1, 0x65]); // IDR slice 2
    f.extend(
        (0..300)
            .map(|i| (i * 13 % 256) as u8)
            .map(|b| if b < 4 { 0x10 } else { b }),
    );
    f.push(0x80);
    f
}

fn nal_units(frame: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut start = None;
    while i + 3 <= frame.len() {
        if frame[i..i + 3] == [0, 0, 1] {
            if let Some(s) = start {
                let mut e = i;
                if frame[e - 1] == 0 {
                    e -= 1;
                }
                out.push(frame[s..e].to_vec());
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    out.push(frame[start.unwrap()..].to_vec());
    out
}

#[test]
fn h264_headers_and_parameter_sets_stay_clear_without_start_code_emulation() {
    let frame = h264_frame();
    let protected = roundtrip(Codec::H264, &frame);
    let (orig, prot) = (nal_units(&frame), nal_units(&protected));
    assert_eq!(orig.len(), prot.len(), "same NAL units on the wire");
    for (o, p) in orig.iter().zip(&prot) {
        assert_eq!(o[0], p[0], "NAL header clear");
        if !(1..=5).contains(&(o[0] & 0x1f)) {
            assert_eq!(o, p, "non-VCL unit clear");
        } else {
            // The slice header's start (its PPS id) stays clear, for
            // libwebrtc's receiver; the clear run never ends in 00.
            let mut clear = (1 + H264_SLICE_CLEAR).min(o.len());
            while clear < o.len() && o[clear - 1] == 0 {
                clear += 1;
            }
            assert_eq!(o[..clear], p[..clear], "slice header start clear");
            assert_ne!(o[clear..], p[clear..p.len().min(o.len())]);
            assert_ne!(*p.last().unwrap(), 0, "protected slice never ends in 00");
            // From the last two clear bytes on (the clear run is the
            // encoder's own bytes): nothing we wrote, nor the boundary,
            // emulates a start code.
            assert!(
                !p[clear.saturating_sub(2).max(1)..]
                    .windows(3)
                    .any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 3),
                "emulation"
            );
        }
    }
}

#[test]
fn h264_clear_run_extends_over_zeros_and_short_slices_stay_clear() {
    // A slice whose first clear bytes end in 00 00: the run takes them and
    // the next byte, so ciphertext after it cannot complete a start code.
    let mut frame = vec![0, 0, 0, 1, 0x41, 0x9a, 0x20, 0x00, 0x00, 0x03, 0x7f];
    frame.extend((0..200).map(|i| (i * 7 % 251) as u8 | 0x10));
    frame.push(0x80);
    // A short slice, no longer than its clear run, stays clear whole.
    let short = [0, 0, 1, 0x41, 0x9a, 0x21, 0x80];
    frame.extend(short);
    let protected = roundtrip(Codec::H264, &frame);
    assert_eq!(
        protected[..10],
        frame[..10],
        "clear run extended over 00 00 to 03"
    );
    assert_ne!(protected[10..30], frame[10..30]);
    assert!(protected.ends_with(&short), "short slice clear whole");

    let (mut enc, _) = pair();
    let mut out = Vec::new();
    let only_short = [0, 0, 0, 1, 0x41, 0x9a, 0x21, 0x80];
    assert_eq!(
        enc.encrypt(Codec::H264, &only_short, &mut out),
        Err(Error::NothingToEncrypt)
    );
}

#[test]
fn h264_frame_without_slices_is_refused() {
    let (mut enc, _) = pair();
    let mut out = Vec::new();
    let sps_only = [0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f];
    assert_eq!(
        enc.encrypt(Codec::H264, &sps_only, &mut out),
        Err(Error::NothingToEncrypt)
    );
    assert_eq!(
        enc.encrypt(Codec::H264, &[0x65, 1, 2], &mut out),
        Err(Error::MalformedH264)
    );
}

fn av1_temporal_unit() -> Vec<u8> {
    let mut f = vec![0x12, 0x00]; // temporal delimiter, size 0
    f.extend([
        0x0a, 0x0b, 0x00, 0x00, 0x00, 0x24, 0xc4, 0xff, 0xdf, 0x00, 0x68, 0x02, 0x10,
    ]); // seq header
    f.push(0x32); // frame OBU, has_size
    f.extend([0x90, 0x03]); // size 400 (leb128)
    f.extend((0..400).map(|i| (i % 256) as u8));
    f
}

#[test]
fn av1_obu_headers_and_sequence_header_stay_clear() {
    let frame = av1_temporal_unit();
    let protected = roundtrip(Codec::Av1, &frame);
    assert_eq!(
        &protected[..15],
        &frame[..15],
        "TD and sequence header clear"
    );
    assert_eq!(protected[15], 0x32, "frame OBU header clear");
    // Size rewritten to the protected length: 400 + SFrame header (2) + tag (16).
    assert_eq!(&protected[16..18], &[0xa2, 0x03]);
    assert_eq!(protected.len(), 18 + 418);
}

#[test]
fn av1_last_obu_without_size_field_roundtrips() {
    let mut f = vec![0x12, 0x00, 0x30]; // TD, then frame OBU without size
    f.extend((0..64).map(|i| i as u8));
    roundtrip(Codec::Av1, &f);
    let (mut enc, _) = pair();
    let mut out = Vec::new();
    assert_eq!(
        enc.encrypt(Codec::Av1, &[0x32, 0x05, 1], &mut out),
        Err(Error::MalformedAv1)
    );
}

#[test]
fn garbage_frames_do_not_panic() {
    let (_, mut dec) = pair();
    let mut out = Vec::new();
    let mut x = 0x1234_5678u32;
    for len in 0..300 {
        let frame: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect();
        for codec in [Codec::Opus, Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1] {
            assert!(
                dec.decrypt(Instant::now(), codec, &frame, &mut out)
                    .is_err()
            );
        }
    }
}
