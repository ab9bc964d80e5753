//! Cost of end-to-end encryption on the client.
//!
//! - `e2ee/sframe_gcm_encrypt_decrypt_1200`: one 1200-byte frame through
//!   `FrameEncryptor` and `FrameDecryptor` (AES_128_GCM_SHA256_128, header
//!   encode/parse, key-ring lookup, replay window), into reused buffers.
//! - `e2ee/raw_aes128gcm_seal_open_1200`: the floor: the same AEAD crate
//!   sealing and opening 1200 bytes in place with a pre-expanded key,
//!   measured in the same run. Goal: SFrame at most 1.5x this.
//! - `e2ee/mls_join/{2,10,50}`: one Add at that group size with real openmls:
//!   the committer builds the Commit and Welcome and merges, every other
//!   member applies the Commit, the joiner processes the Welcome. Key
//!   package generation and the later removal that restores the group size
//!   are outside the timing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes_gcm::Aes128Gcm;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sfu_e2ee::codec::Codec;
use sfu_e2ee::committer::GroupKeying;
use sfu_e2ee::frame::{FrameDecryptor, FrameEncryptor};
use sfu_e2ee::mls::MlsKeying;
use sfu_e2ee::sframe::{CipherSuite, SframeKey};
use sfu_e2ee::wire::ClientId;

const FRAME: usize = 1200;

fn sframe(c: &mut Criterion) {
    let mut g = c.benchmark_group("e2ee");
    g.throughput(Throughput::Bytes(FRAME as u64));
    let key = SframeKey::derive(CipherSuite::AesGcm128Sha256, 0x123, b"bench base key").unwrap();
    let mut enc = FrameEncryptor::new();
    enc.set_key(key.clone());
    let now = Instant::now();
    let mut dec = FrameDecryptor::new(Duration::from_secs(10));
    dec.keys().install_epoch(now, 1, [key]);
    let frame: Vec<u8> = (0..FRAME).map(|i| i as u8).collect();
    let (mut wire, mut out) = (Vec::with_capacity(2048), Vec::with_capacity(2048));
    g.bench_function("sframe_gcm_encrypt_decrypt_1200", |b| {
        b.iter(|| {
            enc.encrypt(Codec::Opus, black_box(&frame), &mut wire)
                .unwrap();
            dec.decrypt(now, Codec::Opus, black_box(&wire), &mut out)
                .unwrap();
            black_box(&out);
        })
    });

    let aead = Aes128Gcm::new_from_slice(&[7u8; 16]).unwrap();
    let mut buf = frame.clone();
    let aad = [0x91u8, 0x23, 0x05];
    let mut n = 0u64;
    g.bench_function("raw_aes128gcm_seal_open_1200", |b| {
        b.iter(|| {
            n += 1;
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&n.to_be_bytes());
            buf.copy_from_slice(&frame);
            let tag = aead
                .encrypt_in_place_detached(&nonce.into(), &aad, &mut buf)
                .unwrap();
            aead.decrypt_in_place_detached(&nonce.into(), &aad, &mut buf, &tag)
                .unwrap();
            black_box(&buf);
        })
    });
    g.finish();
}

/// A group of `size` members built with real MLS; member 0 commits.
fn group(size: u64) -> Vec<MlsKeying> {
    let mut members = vec![MlsKeying::new(ClientId(0)).unwrap()];
    members[0].found().unwrap();
    for id in 1..size {
        let mut j = MlsKeying::new(ClientId(id)).unwrap();
        let kp = j.key_package().unwrap();
        let (commit, welcome) = members[0]
            .commit(&[(ClientId(id), kp.as_slice())], &[])
            .unwrap();
        members[0].merge_own_commit().unwrap();
        for m in members.iter_mut().skip(1) {
            m.apply_commit(&commit).unwrap();
        }
        j.join(&welcome.unwrap()).unwrap();
        members.push(j);
    }
    members
}

fn mls_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("e2ee/mls_join");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    for size in [2u64, 10, 50] {
        let mut members = group(size);
        let mut next_id = 1000;
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    next_id += 1;
                    let mut j = MlsKeying::new(ClientId(next_id)).unwrap();
                    let kp = j.key_package().unwrap();
                    let t = Instant::now();
                    let (commit, welcome) = members[0]
                        .commit(&[(ClientId(next_id), kp.as_slice())], &[])
                        .unwrap();
                    members[0].merge_own_commit().unwrap();
                    for m in members.iter_mut().skip(1) {
                        m.apply_commit(&commit).unwrap();
                    }
                    j.join(&welcome.unwrap()).unwrap();
                    total += t.elapsed();
                    // Restore the size: remove the joiner again (untimed).
                    let leaf = j.own_leaf().unwrap();
                    let (remove, _) = members[0].commit(&[], &[leaf]).unwrap();
                    members[0].merge_own_commit().unwrap();
                    for m in members.iter_mut().skip(1) {
                        m.apply_commit(&remove).unwrap();
                    }
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, sframe, mls_join);
criterion_main!(benches);
