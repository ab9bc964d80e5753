//! The browser's SFrame twin (`examples/server/pages/e2ee/{sframe,codec,
//! frames,transform}.js`) is byte-compatible with `sfu-e2ee`, in real
//! Chromium: the crate writes fresh cross vectors (random keys from a seed
//! printed at the start; `SFRAME_CROSS_SEED=N` repeats a run) with frames of
//! every codec under every cipher suite, tampered frames and a key-ring
//! script; `tests/browser/e2ee_sframe.mjs` runs the RFC 9605 vectors,
//! decrypts all of it, replays the script and encrypts the same plaintexts,
//! in a page and in a worker, and drives `transform.js` (through streams,
//! and in real calls between two peer connections per video codec, which
//! must decode). Back here the
//! browser's ciphertext must equal the crate's byte for byte, decrypt with
//! the crate's `FrameDecryptor`, and fail once a byte is flipped. Runs in a
//! private network namespace with only loopback, as root; the peers are
//! installed on first use as for `tests/browser_interop.rs`.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sfu::e2ee::Error;
use sfu::e2ee::codec::{Codec, H264_SLICE_CLEAR};
use sfu::e2ee::frame::{DEFAULT_GRACE, FrameDecryptor, FrameEncryptor};
use sfu::e2ee::mls::KidLayout;
use sfu::e2ee::sframe::{CipherSuite, Header, SframeKey};

/// splitmix64: every key and frame of a run from one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Bytes without zeros: no start code or emulation appears by chance.
    fn nonzero(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() % 255) as u8 + 1).collect()
    }

    /// A u64 of 1 to 8 significant bytes (any header length).
    fn wide(&mut self) -> u64 {
        let bytes = self.range(1, 9);
        self.next() >> (64 - 8 * bytes)
    }
}

fn seed() -> u64 {
    if let Ok(s) = std::env::var("SFRAME_CROSS_SEED") {
        return s.parse().expect("SFRAME_CROSS_SEED is a u64");
    }
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("/dev/urandom");
    u64::from_le_bytes(b)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn codec_name(c: Codec) -> &'static str {
    match c {
        Codec::Opus => "opus",
        Codec::Vp8 => "vp8",
        Codec::Vp9 => "vp9",
        Codec::H264 => "h264",
        Codec::Av1 => "av1",
    }
}

/// The variant name, as the JS `E2eeError.code`.
fn code(e: &Error) -> String {
    let d = format!("{e:?}");
    d.split(['(', ' ', '{']).next().unwrap_or("").to_owned()
}

struct KeySpec {
    suite: CipherSuite,
    kid: u64,
    base: Vec<u8>,
}

impl KeySpec {
    fn new(rng: &mut Rng, suite: CipherSuite, kid: u64) -> Self {
        let base = rng.bytes(suite.hash_len());
        Self { suite, kid, base }
    }

    fn key(&self) -> SframeKey {
        SframeKey::derive(self.suite, self.kid, &self.base).unwrap()
    }

    fn json(&self) -> Value {
        json!({"suite": self.suite.id(), "kid": self.kid.to_string(), "base_key": hex(&self.base)})
    }
}

struct Frame {
    codec: Codec,
    plain: Vec<u8>,
    out: Result<Vec<u8>, Error>,
}

struct Sequence {
    name: String,
    key: usize,
    frames: Vec<Frame>,
}

/// `n` keystream bytes of `key` at `ctr`: both AEAD families XOR the
/// plaintext with a keystream that does not depend on the AAD.
fn keystream(key: &SframeKey, ctr: u64, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    key.seal(ctr, &[], &vec![0; n], &mut out).unwrap();
    let h = Header::new(key.kid(), ctr).len();
    out[h..h + n].to_vec()
}

fn no_start_code(p: &[u8]) -> bool {
    !p.windows(3).any(|w| w == [0, 0, 1]) && p.last() != Some(&0)
}

/// An IDR access unit (SPS, PPS, SEI, two slices) whose slice ciphertext
/// under `key` at `ctr` contains `00 00 01`, `00 00 00`, `00 00 03` and
/// `00 00 02` (each needs an emulation prevention byte) and whose first
/// slice's ciphertext ends in `00 00` (the trailer keeps it off the next
/// start code). The plaintext already holds an escaped `00 00 03 01`.
fn h264_frame(rng: &mut Rng, key: &SframeKey, ctr: u64) -> Vec<u8> {
    let ks = keystream(key, ctr, 1000);
    loop {
        let (l1, l2) = (rng.range(200, 600), rng.range(40, 300));
        let mut p1 = rng.nonzero(l1);
        let mut p2 = rng.nonzero(l2);
        p1[30..34].copy_from_slice(&[0, 0, 3, 1]);
        // Byte `at` of a slice is byte `base + at - H264_SLICE_CLEAR` of
        // the SFrame plaintext: each slice's clear run (here exactly
        // H264_SLICE_CLEAR nonzero bytes) is not encrypted.
        let force = |p: &mut [u8], base: usize, at: usize, want: &[u8]| {
            for (i, w) in want.iter().enumerate() {
                p[at + i] = ks[base + at + i - H264_SLICE_CLEAR] ^ w;
            }
        };
        force(&mut p1, 0, 10, &[0, 0, 1]);
        force(&mut p1, 0, 60, &[0, 0, 0]);
        force(&mut p1, 0, 100, &[0, 0, 3]);
        force(&mut p1, 0, l1 - 2, &[0, 0]);
        force(&mut p2, l1 - H264_SLICE_CLEAR, 5, &[0, 0, 2]);
        // The plaintext must parse into exactly these units.
        if !no_start_code(&p1) || !no_start_code(&p2) {
            continue;
        }
        let mut f = vec![0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda]; // SPS
        f.extend([0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]); // PPS
        f.extend([0, 0, 1, 0x06, 0x05, 0x01, 0xaa, 0x80]); // SEI
        f.extend([0, 0, 0, 1, 0x65]); // IDR slice 1
        f.extend(&p1);
        f.extend([0, 0, 1, 0x65]); // IDR slice 2
        f.extend(&p2);
        return f;
    }
}

fn leb128(mut v: usize, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn obu(f: &mut Vec<u8>, header: &[u8], payload: &[u8]) {
    f.extend(header);
    leb128(payload.len(), f);
    f.extend(payload);
}

/// A temporal unit with every kind of OBU the rule tells apart: temporal
/// delimiter, sequence header and padding (clear), metadata, a frame
/// header whose protected size needs one more LEB128 byte, an empty frame
/// header (clear), a tile group, a frame with an extension header, and a
/// last frame OBU without a size field.
fn av1_frame(rng: &mut Rng) -> Vec<u8> {
    let mut f = vec![0x12, 0x00];
    obu(&mut f, &[0x0a], &rng.bytes(12));
    let n = rng.range(1, 30);
    obu(&mut f, &[0x2a], &rng.bytes(n));
    let n = rng.range(100, 127);
    obu(&mut f, &[0x1a], &rng.bytes(n));
    obu(&mut f, &[0x1a], &[]);
    let n = rng.range(200, 900);
    obu(&mut f, &[0x22], &rng.bytes(n));
    obu(&mut f, &[0x7a], &rng.bytes(5));
    let n = rng.range(1, 200);
    obu(&mut f, &[0x36, 0x28], &rng.bytes(n));
    f.push(0x30);
    let n = rng.range(1, 80);
    f.extend(rng.bytes(n));
    f
}

fn vp8_keyframe(rng: &mut Rng) -> Vec<u8> {
    let mut f = vec![rng.next() as u8 & 0xfe, rng.next() as u8, rng.next() as u8];
    f.extend([0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
    let n = rng.range(0, 600);
    f.extend(rng.bytes(n));
    f
}

fn vp8_delta(rng: &mut Rng) -> Vec<u8> {
    let mut f = vec![rng.next() as u8 | 1];
    let n = rng.range(0, 400);
    f.extend(rng.bytes(n));
    f
}

/// Encrypts `plain` frames in order with one `FrameEncryptor`, as the
/// browser must.
fn sequence(name: &str, key: usize, spec: &KeySpec, plain: Vec<(Codec, Vec<u8>)>) -> Sequence {
    let mut enc = FrameEncryptor::new();
    enc.set_key(spec.key());
    let mut dec = FrameDecryptor::new(DEFAULT_GRACE);
    dec.keys().install_epoch(Instant::now(), 1, [spec.key()]);
    let frames = plain
        .into_iter()
        .map(|(codec, plain)| {
            let mut out = Vec::new();
            let out = enc.encrypt(codec, &plain, &mut out).map(|()| out);
            if let Ok(p) = &out {
                let mut back = Vec::new();
                dec.decrypt(Instant::now(), codec, p, &mut back).unwrap();
                assert_eq!(back, plain, "{name}: the crate's own roundtrip");
            }
            Frame { codec, plain, out }
        })
        .collect();
    Sequence {
        name: name.to_owned(),
        key,
        frames,
    }
}

/// Every codec, the errors that still consume a counter, and enough frames
/// for the CTR to leave the config byte.
fn mixed_frames(rng: &mut Rng, key: &SframeKey) -> Vec<(Codec, Vec<u8>)> {
    let mut v: Vec<(Codec, Vec<u8>)> = Vec::new();
    let n = rng.range(0, 300);
    v.push((Codec::Opus, rng.bytes(n)));
    v.push((Codec::Opus, Vec::new()));
    v.push((Codec::Vp8, vp8_keyframe(rng)));
    v.push((Codec::Vp8, vp8_delta(rng)));
    v.push((Codec::Vp8, vec![0x31]));
    let n = rng.range(1, 500);
    v.push((Codec::Vp9, rng.bytes(n)));
    let ctr = v.len() as u64;
    v.push((Codec::H264, h264_frame(rng, key, ctr)));
    v.push((Codec::Av1, av1_frame(rng)));
    let mut small = vec![0x12, 0x00];
    let n = rng.range(1, 60);
    obu(&mut small, &[0x32], &rng.bytes(n));
    v.push((Codec::Av1, small));
    v.push((Codec::Vp8, vec![0x50, 1, 2])); // FrameTooShort
    v.push((Codec::H264, vec![0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f])); // NothingToEncrypt
    v.push((Codec::H264, vec![0x65, 1, 2])); // MalformedH264
    v.push((Codec::Av1, vec![0x32, 0x05, 1])); // MalformedAv1
    let ctr = v.len() as u64;
    v.push((Codec::H264, h264_frame(rng, key, ctr)));
    v.push((Codec::Vp8, vp8_keyframe(rng)));
    v.push((Codec::Av1, av1_frame(rng)));
    v
}

/// The emulation prevention bytes the crate inserted into a protected H.264 frame.
fn h264_escapes(plain: &[u8], protected: &[u8], key: &SframeKey, ctr: u64) -> usize {
    let overhead = Header::new(key.kid(), ctr).len() + key.suite().tag_len() + 2; // two trailers
    protected.len() - plain.len() - overhead
}

struct Ring {
    specs: Vec<KeySpec>,
    ops: Vec<Value>,
}

/// A key-ring script: the crate's outcome of every step, for the browser
/// to reproduce (grace period, expiry, replay window, only one previous
/// epoch, reinstalling an epoch, a KID whose epoch bits wrapped).
fn ring_script(rng: &mut Rng, first_key: usize) -> Ring {
    let layout = KidLayout::default();
    let spec = |rng: &mut Rng, epoch: u64, leaf: u32| {
        KeySpec::new(
            rng,
            CipherSuite::AesGcm128Sha256,
            layout.kid(epoch, leaf).unwrap(),
        )
    };
    // A1 B1 A2 B2 A3 A4 A20 C1 (C1 never installed; A20's KID is A4's).
    let specs = vec![
        spec(rng, 1, 1),
        spec(rng, 1, 2),
        spec(rng, 2, 1),
        spec(rng, 2, 2),
        spec(rng, 3, 1),
        spec(rng, 4, 1),
        spec(rng, 20, 1),
        spec(rng, 1, 3),
    ];
    assert_eq!(specs[5].kid, specs[6].kid);
    let keys: Vec<SframeKey> = specs.iter().map(KeySpec::key).collect();
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut dec = FrameDecryptor::new(DEFAULT_GRACE);
    let mut ops = Vec::new();
    let install =
        |dec: &mut FrameDecryptor, ops: &mut Vec<Value>, now, epoch: u64, ks: &[usize]| {
            dec.keys()
                .install_epoch(at(now), epoch, ks.iter().map(|&k| keys[k].clone()));
            let idx: Vec<usize> = ks.iter().map(|k| k + first_key).collect();
            ops.push(json!({"op": "install", "now": now, "epoch": epoch.to_string(), "keys": idx}));
        };
    let mut frame_rng = Rng(rng.next());
    let mut decrypt = |dec: &mut FrameDecryptor, ops: &mut Vec<Value>, now, k: usize, ctr: u64| {
        let n = frame_rng.range(1, 120);
        let plain = frame_rng.bytes(n);
        let mut p = Vec::new();
        keys[k].seal(ctr, &[], &plain, &mut p).unwrap();
        let mut out = Vec::new();
        let mut op = json!({"op": "decrypt", "now": now, "codec": "opus", "protected": hex(&p)});
        match dec.decrypt(at(now), Codec::Opus, &p, &mut out) {
            Ok(h) => {
                assert_eq!(out, plain);
                op["plain"] = json!(hex(&out));
                op["kid"] = json!(h.kid.to_string());
                op["ctr"] = json!(h.ctr.to_string());
            }
            Err(e) => op["error"] = json!(code(&e)),
        }
        ops.push(op);
    };
    let poll = |dec: &mut FrameDecryptor, ops: &mut Vec<Value>| {
        let t = dec
            .keys()
            .poll_timeout()
            .map(|t| (t - t0).as_millis() as u64);
        ops.push(json!({"op": "poll", "timeout": t, "len": dec.keys().len()}));
    };
    let timeout = |dec: &mut FrameDecryptor, ops: &mut Vec<Value>, now| {
        dec.keys().handle_timeout(at(now));
        ops.push(json!({"op": "timeout", "now": now}));
    };
    let d = &mut dec;
    let o = &mut ops;
    install(d, o, 0, 1, &[0, 1]);
    decrypt(d, o, 0, 0, 0);
    decrypt(d, o, 0, 0, 0); // replayed
    decrypt(d, o, 0, 1, 5);
    decrypt(d, o, 0, 0, 2000);
    decrypt(d, o, 0, 0, 976); // one past the window
    decrypt(d, o, 0, 0, 977);
    decrypt(d, o, 0, 0, 977); // replayed inside the window
    decrypt(d, o, 0, 7, 0); // unknown KID
    poll(d, o);
    install(d, o, 1000, 2, &[2, 3]);
    poll(d, o);
    decrypt(d, o, 5000, 0, 2001); // grace
    decrypt(d, o, 10_999, 1, 6);
    decrypt(d, o, 11_000, 0, 2002); // expired
    timeout(d, o, 10_999);
    poll(d, o);
    timeout(d, o, 11_000);
    poll(d, o);
    decrypt(d, o, 11_000, 0, 2003); // gone
    install(d, o, 12_000, 3, &[4]);
    install(d, o, 12_500, 4, &[5]); // epoch 2 dropped, 3 in grace
    poll(d, o);
    decrypt(d, o, 12_600, 2, 1);
    decrypt(d, o, 12_600, 4, 0);
    decrypt(d, o, 12_600, 5, 0);
    install(d, o, 13_000, 4, &[5]); // the same epoch again: fresh window
    poll(d, o);
    decrypt(d, o, 13_000, 5, 0);
    install(d, o, 14_000, 20, &[6]); // KID of epoch 4 again
    decrypt(d, o, 14_000, 6, 0);
    decrypt(d, o, 14_000, 5, 1); // the current key is tried, not epoch 4's
    poll(d, o);
    timeout(d, o, 24_000);
    poll(d, o);
    let outcome = |i: usize| ops[i]["error"].as_str().unwrap_or("ok").to_owned();
    assert_eq!(outcome(2), "Replayed");
    assert_eq!(outcome(5), "Replayed");
    assert_eq!(outcome(14), "KeyExpired");
    Ring { specs, ops }
}

/// The frames of `seq` as the crate wrote them, or its errors.
fn expected(seq: &Sequence) -> Vec<Value> {
    seq.frames
        .iter()
        .map(|f| match &f.out {
            Ok(p) => json!({"protected": hex(p)}),
            Err(e) => json!({"error": code(e)}),
        })
        .collect()
}

#[test]
fn browser_sframe_twin_matches_the_crate_byte_for_byte() {
    let _turn = support::one_browser_at_a_time();
    let seed = seed();
    println!("SFRAME_CROSS_SEED={seed}");
    let mut rng = Rng(seed);

    let mut specs = Vec::new();
    let mut seqs = Vec::new();
    let kids = [
        3,
        0x21,
        0x1234,
        rng.next() >> 32,
        rng.next(),
        0x0100,
        u64::MAX,
        7,
    ];
    for (id, kid) in (1..=8).zip(kids) {
        let suite = CipherSuite::from_id(id).unwrap();
        let spec = KeySpec::new(&mut rng, suite, kid);
        let key = spec.key();
        let plain = mixed_frames(&mut rng, &key);
        let seq = sequence(
            &format!("suite {id} kid {kid:#x}"),
            specs.len(),
            &spec,
            plain,
        );
        for (ctr, f) in seq.frames.iter().enumerate() {
            if let (Codec::H264, Ok(p)) = (f.codec, &f.out) {
                let escapes = h264_escapes(&f.plain, p, &key, ctr as u64);
                assert!(escapes >= 4, "{}: {escapes} escapes", seq.name);
            }
        }
        specs.push(spec);
        seqs.push(seq);
    }
    // transform.js: our audio (send) and another member's video (receive).
    let layout = KidLayout::default();
    let gcm = CipherSuite::AesGcm128Sha256;
    let send_spec = KeySpec::new(&mut rng, gcm, layout.kid(1, 1).unwrap());
    let plain = (0..12)
        .map(|_| {
            let n = rng.range(1, 200);
            (Codec::Opus, rng.bytes(n))
        })
        .collect();
    seqs.push(sequence("transform send", specs.len(), &send_spec, plain));
    specs.push(send_spec);
    let recv_spec = KeySpec::new(&mut rng, gcm, layout.kid(1, 2).unwrap());
    let plain = vec![
        (Codec::Vp8, vp8_keyframe(&mut rng)),
        (Codec::Vp8, vp8_delta(&mut rng)),
        (Codec::Vp8, vp8_delta(&mut rng)),
        (Codec::Vp8, vp8_keyframe(&mut rng)),
        (Codec::Vp8, vp8_delta(&mut rng)),
    ];
    seqs.push(sequence(
        "transform receive",
        specs.len(),
        &recv_spec,
        plain,
    ));
    specs.push(recv_spec);
    let transform = json!({"send": seqs.len() - 2, "receive": seqs.len() - 1});

    // Whole-frame seals at any KID and CTR width, metadata past the inline AAD.
    let mut seals = Vec::new();
    for i in 0..24 {
        let suite = CipherSuite::from_id(1 + i % 8).unwrap();
        let kid = rng.wide();
        let spec = KeySpec::new(&mut rng, suite, kid);
        let ctr = match i {
            0 => 0,
            1 => 7,
            2 => 8,
            3 => u64::MAX,
            _ => rng.wide(),
        };
        let n = rng.range(0, 120);
        let metadata = rng.bytes(n);
        let n = rng.range(0, 300);
        let pt = rng.bytes(n);
        let mut ct = Vec::new();
        spec.key().seal(ctr, &metadata, &pt, &mut ct).unwrap();
        seals.push(json!({"key": specs.len(), "ctr": ctr.to_string(), "metadata": hex(&metadata), "pt": hex(&pt), "ct": hex(&ct)}));
        specs.push(spec);
    }

    // Tampered frames: a flipped bit, a cut, another sender's frame.
    let mut tampered = Vec::new();
    for (si, seq) in seqs.iter().enumerate() {
        for f in &seq.frames {
            let Ok(p) = &f.out else { continue };
            let mut flipped = p.clone();
            let i = rng.range(0, p.len());
            flipped[i] ^= 1 << rng.range(0, 8);
            let cut = p[..rng.range(0, p.len())].to_vec();
            let other = &seqs[(si + 1) % seqs.len()];
            let foreign = other
                .frames
                .iter()
                .find(|g| g.codec == f.codec && g.out.is_ok());
            let mut bad = vec![flipped, cut];
            if let Some(Frame { out: Ok(g), .. }) = foreign {
                bad.push(g.clone());
            }
            for b in bad {
                let mut dec = FrameDecryptor::new(DEFAULT_GRACE);
                dec.keys()
                    .install_epoch(Instant::now(), 1, [specs[seq.key].key()]);
                let err = dec
                    .decrypt(Instant::now(), f.codec, &b, &mut Vec::new())
                    .expect_err("tampered frame accepted");
                tampered.push(json!({"key": seq.key, "codec": codec_name(f.codec), "protected": hex(&b), "error": code(&err)}));
            }
        }
    }

    let ring = ring_script(&mut rng, specs.len());
    specs.extend(ring.specs);

    let cross = json!({
        "seed": seed.to_string(),
        "keys": specs.iter().map(KeySpec::json).collect::<Vec<_>>(),
        "sequences": seqs.iter().map(|s| json!({
            "name": s.name,
            "key": s.key,
            "frames": s.frames.iter().map(|f| {
                let mut v = json!({"codec": codec_name(f.codec), "plain": hex(&f.plain)});
                match &f.out {
                    Ok(p) => v["protected"] = json!(hex(p)),
                    Err(e) => v["error"] = json!(code(e)),
                }
                v
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "seals": seals,
        "tampered": tampered,
        "ring": {"grace_ms": DEFAULT_GRACE.as_millis() as u64, "ops": ring.ops},
        "transform": transform,
    });

    let dir = std::env::temp_dir().join(format!("sfu-e2ee-sframe-{}-{seed:x}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cross_path = dir.join("cross.json");
    let out_path = dir.join("browser.json");
    std::fs::write(&cross_path, cross.to_string()).unwrap();
    let vectors = support::root().join("../shared/vectors/sframe-rfc9605.json");
    assert!(vectors.exists(), "{} is missing", vectors.display());
    support::run_node_unshared(
        "ip link set lo up",
        &[
            "e2ee_sframe.mjs",
            "--vectors",
            &vectors.display().to_string(),
            "--cross",
            &cross_path.display().to_string(),
            "--out",
            &out_path.display().to_string(),
        ],
        "e2ee sframe ok",
    );
    let browser: Value =
        serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).ok();

    for side in ["page", "worker"] {
        let out = &browser[side];
        for (seq, got) in seqs.iter().zip(out["sequences"].as_array().unwrap()) {
            let want = expected(seq);
            let got = got["frames"].as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{side} {}", seq.name);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g, w, "{side} {} frame {i}: browser vs crate", seq.name);
            }
            // The crate decrypts the browser's frames, and none once a byte is flipped.
            let key = specs[seq.key].key();
            let mut dec = FrameDecryptor::new(DEFAULT_GRACE);
            dec.keys().install_epoch(Instant::now(), 1, [key.clone()]);
            for (f, g) in seq.frames.iter().zip(got) {
                let Some(p) = g["protected"].as_str().map(unhex) else {
                    continue;
                };
                let mut bad = p.clone();
                let i = rng.range(0, p.len());
                bad[i] ^= 1 << rng.range(0, 8);
                let mut fresh = FrameDecryptor::new(DEFAULT_GRACE);
                fresh.keys().install_epoch(Instant::now(), 1, [key.clone()]);
                let mut out = Vec::new();
                assert!(
                    fresh
                        .decrypt(Instant::now(), f.codec, &bad, &mut out)
                        .is_err(),
                    "{side} {}: flip at {i} accepted",
                    seq.name
                );
                dec.decrypt(Instant::now(), f.codec, &p, &mut out).unwrap();
                assert_eq!(out, f.plain, "{side} {}", seq.name);
            }
        }
        let got_seals = out["seals"].as_array().unwrap();
        assert_eq!(got_seals.len(), seals.len());
        for (g, w) in got_seals.iter().zip(&seals) {
            assert_eq!(g, &w["ct"], "{side} seal");
        }
    }
}
