//! Steady-state frame encryption and decryption allocate nothing: buffers
//! are reused across frames.

use std::time::{Duration, Instant};

use sfu_e2ee::codec::Codec;
use sfu_e2ee::frame::{FrameDecryptor, FrameEncryptor};
use sfu_e2ee::sframe::{CipherSuite, SframeKey};
use sfu_testkit::alloc;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

fn h264() -> Vec<u8> {
    let mut f = vec![0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 1, 0x65];
    f.extend((0..1100).map(|i| (i % 253) as u8 | 1));
    f
}

#[test]
fn encrypt_and_decrypt_allocate_nothing_after_warm_up() {
    let now = Instant::now();
    for suite in [
        CipherSuite::AesGcm128Sha256,
        CipherSuite::AesCtr128HmacSha256_80,
    ] {
        let key = SframeKey::derive(suite, 0x42, b"steady state").unwrap();
        let mut enc = FrameEncryptor::new();
        enc.set_key(key.clone());
        let mut dec = FrameDecryptor::new(Duration::from_secs(10));
        dec.keys().install_epoch(now, 1, [key]);
        let mut vp8 = sfu_testkit::rtp::VP8_KEYFRAME_HEADER.to_vec();
        vp8.extend((0..1190).map(|i| i as u8));
        let frames = [
            (Codec::Vp8, vp8),
            (Codec::Opus, vec![7u8; 160]),
            (Codec::H264, h264()),
        ];
        let (mut wire, mut out) = (Vec::new(), Vec::new());
        let mut run = |n: usize| {
            for _ in 0..n {
                for (codec, f) in &frames {
                    enc.encrypt(*codec, f, &mut wire).unwrap();
                    dec.decrypt(now, *codec, &wire, &mut out).unwrap();
                    assert_eq!(&out, f);
                }
            }
        };
        run(3);
        let ((), allocations) = alloc::count(|| run(100));
        assert_eq!(allocations, 0, "{suite:?}");
    }
}
