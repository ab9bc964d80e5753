//! Every vector of the RFC 9605 test-vector file (shared with the
//! `sframe_vectors` example) passes in both directions.

use serde_json::Value;
use sfu_e2ee::sframe::{
    AeadKey, CipherSuite, Header, KeyMaterial, MAX_HEADER_LEN, MAX_TAG_LEN, SframeKey,
};

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/sframe-rfc9605.json"
);

fn load() -> Value {
    serde_json::from_str(&std::fs::read_to_string(FILE).expect("vector file")).expect("json")
}

fn hex(v: &Value, f: &str) -> Vec<u8> {
    let s = v[f].as_str().expect(f);
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn suite(v: &Value) -> CipherSuite {
    CipherSuite::from_id(v["cipher_suite"].as_u64().unwrap() as u16).unwrap()
}

#[test]
fn header_vectors_encode_and_decode() {
    let doc = load();
    let vectors = doc["header"].as_array().unwrap();
    assert_eq!(vectors.len(), 289);
    for v in vectors {
        let h = Header::new(v["kid"].as_u64().unwrap(), v["ctr"].as_u64().unwrap());
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut buf);
        assert_eq!(&buf[..n], &hex(v, "encoded")[..], "{h:?}");
        assert_eq!(h.len(), n);
        assert_eq!(Header::decode(&buf[..n]).unwrap(), (h, n));
        assert!(Header::decode(&buf[..n - 1]).is_err() || n == 1);
    }
}

#[test]
fn ctr_hmac_vectors_seal_and_open() {
    let doc = load();
    for section in ["aes_ctr_hmac", "aes_256_ctr_hmac"] {
        for v in doc[section].as_array().unwrap() {
            let aead = AeadKey::new(suite(v), &hex(v, "key")).unwrap();
            let nonce: [u8; 12] = hex(v, "nonce").try_into().unwrap();
            let mut buf = hex(v, "pt");
            let mut tag = [0u8; MAX_TAG_LEN];
            aead.seal_in_place(&nonce, &hex(v, "aad"), &mut buf, &mut tag)
                .unwrap();
            buf.extend_from_slice(&tag[..aead.tag_len()]);
            assert_eq!(buf, hex(v, "ct"));
            let (body, tag) = buf.split_at(buf.len() - aead.tag_len());
            let mut body = body.to_vec();
            aead.open_in_place(&nonce, &hex(v, "aad"), &mut body, tag)
                .unwrap();
            assert_eq!(body, hex(v, "pt"));
        }
    }
}

#[test]
fn sframe_vectors_derive_seal_and_open() {
    let doc = load();
    let vectors = doc["sframe"].as_array().unwrap();
    assert_eq!(vectors.len(), 5);
    for v in vectors {
        let (kid, ctr) = (v["kid"].as_u64().unwrap(), v["ctr"].as_u64().unwrap());
        let m = KeyMaterial::derive(suite(v), kid, &hex(v, "base_key")).unwrap();
        assert_eq!(m.secret, hex(v, "sframe_secret"));
        assert_eq!(m.key, hex(v, "sframe_key"));
        assert_eq!(m.salt.to_vec(), hex(v, "sframe_salt"));
        let key = SframeKey::derive(suite(v), kid, &hex(v, "base_key")).unwrap();
        assert_eq!(key.nonce(ctr).to_vec(), hex(v, "nonce"));
        let mut out = Vec::new();
        key.seal(ctr, &hex(v, "metadata"), &hex(v, "pt"), &mut out)
            .unwrap();
        assert_eq!(out, hex(v, "ct"));
        let (h, n) = Header::decode(&out).unwrap();
        let mut plain = Vec::new();
        key.open(h, n, &hex(v, "metadata"), &out, &mut plain)
            .unwrap();
        assert_eq!(plain, hex(v, "pt"));
    }
}

#[test]
fn truncated_and_tampered_frames_are_rejected_without_panic() {
    let key = SframeKey::derive(CipherSuite::AesGcm128Sha256, 7, b"base").unwrap();
    let mut out = Vec::new();
    key.seal(1234, b"meta", b"hello frame", &mut out).unwrap();
    let (h, n) = Header::decode(&out).unwrap();
    let mut plain = Vec::new();
    for cut in 0..out.len() {
        let r = Header::decode(&out[..cut])
            .and_then(|(h, n)| key.open(h, n, b"meta", &out[..cut], &mut plain));
        assert!(r.is_err(), "prefix of {cut} bytes accepted");
    }
    for i in 0..out.len() {
        let mut bad = out.clone();
        bad[i] ^= 0x40;
        let r = Header::decode(&bad).and_then(|(h, n)| key.open(h, n, b"meta", &bad, &mut plain));
        assert!(r.is_err(), "bit flip at {i} accepted");
    }
    assert!(key.open(h, n, b"meta", &out, &mut plain).is_ok());
}
