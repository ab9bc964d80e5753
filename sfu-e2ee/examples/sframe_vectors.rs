//! Checks every SFrame test vector in a JSON file of RFC 9605's format
//! (sections `header`, `aes_ctr_hmac`, `aes_256_ctr_hmac`, `sframe`) against
//! `sfu-e2ee`, in both directions, and prints `passed N/N` as its last line.
//! Exits non-zero if any vector fails or the file cannot be read.
//!
//! Run: `cargo run --release -p sfu-e2ee --example sframe_vectors -- ../shared/vectors/sframe-rfc9605.json`

use std::process::ExitCode;

use serde_json::Value;
use sfu_e2ee::sframe::{
    AeadKey, CipherSuite, Header, KeyMaterial, MAX_HEADER_LEN, MAX_TAG_LEN, SframeKey,
};

fn hex(v: &Value, field: &str) -> Result<Vec<u8>, String> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing {field}"))?;
    if s.len() % 2 != 0 {
        return Err(format!("odd-length hex in {field}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16)
                .map_err(|e| format!("{field}: {e}"))
        })
        .collect()
}

fn num(v: &Value, field: &str) -> Result<u64, String> {
    v.get(field)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("missing {field}"))
}

fn expect(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what} mismatch"))
    }
}

fn check_header(v: &Value) -> Result<(), String> {
    let (kid, ctr, encoded) = (num(v, "kid")?, num(v, "ctr")?, hex(v, "encoded")?);
    let mut buf = [0u8; MAX_HEADER_LEN];
    let n = Header::new(kid, ctr).encode(&mut buf);
    expect("encoded header", buf.get(..n).unwrap_or(&[]), &encoded)?;
    let (parsed, len) = Header::decode(&encoded).map_err(|e| e.to_string())?;
    if parsed != Header::new(kid, ctr) || len != encoded.len() {
        return Err("decoded header mismatch".into());
    }
    Ok(())
}

fn suite(v: &Value) -> Result<CipherSuite, String> {
    let id = u16::try_from(num(v, "cipher_suite")?).map_err(|e| e.to_string())?;
    CipherSuite::from_id(id).map_err(|e| e.to_string())
}

fn check_aead(v: &Value) -> Result<(), String> {
    let suite = suite(v)?;
    let (key, enc_key, auth_key) = (hex(v, "key")?, hex(v, "enc_key")?, hex(v, "auth_key")?);
    expect("enc_key || auth_key", &[enc_key, auth_key].concat(), &key)?;
    let nonce: [u8; 12] = hex(v, "nonce")?.try_into().map_err(|_| "nonce length")?;
    let (aad, pt, ct) = (hex(v, "aad")?, hex(v, "pt")?, hex(v, "ct")?);
    let aead = AeadKey::new(suite, &key).map_err(|e| e.to_string())?;
    let mut buf = pt.clone();
    let mut tag = [0u8; MAX_TAG_LEN];
    aead.seal_in_place(&nonce, &aad, &mut buf, &mut tag)
        .map_err(|e| e.to_string())?;
    buf.extend_from_slice(tag.get(..aead.tag_len()).unwrap_or(&[]));
    expect("ciphertext", &buf, &ct)?;
    let split = ct
        .len()
        .checked_sub(aead.tag_len())
        .ok_or("ciphertext too short")?;
    let (body, tag) = ct.split_at(split);
    let mut buf = body.to_vec();
    aead.open_in_place(&nonce, &aad, &mut buf, tag)
        .map_err(|e| e.to_string())?;
    expect("plaintext", &buf, &pt)?;
    // A flipped bit anywhere must fail authentication.
    let mut bad = body.to_vec();
    if let Some(b) = bad.first_mut() {
        *b ^= 1;
    }
    if aead.open_in_place(&nonce, &aad, &mut bad, tag).is_ok() {
        return Err("tampered ciphertext accepted".into());
    }
    Ok(())
}

fn check_sframe(v: &Value) -> Result<(), String> {
    let suite = suite(v)?;
    let (kid, ctr) = (num(v, "kid")?, num(v, "ctr")?);
    let base_key = hex(v, "base_key")?;
    let m = KeyMaterial::derive(suite, kid, &base_key).map_err(|e| e.to_string())?;
    expect("sframe_secret", &m.secret, &hex(v, "sframe_secret")?)?;
    expect("sframe_key", &m.key, &hex(v, "sframe_key")?)?;
    expect("sframe_salt", &m.salt, &hex(v, "sframe_salt")?)?;
    let key = SframeKey::from_material(suite, kid, &m.key, m.salt).map_err(|e| e.to_string())?;
    expect("nonce", &key.nonce(ctr), &hex(v, "nonce")?)?;
    let (metadata, pt, ct) = (hex(v, "metadata")?, hex(v, "pt")?, hex(v, "ct")?);
    let mut hdr = [0u8; MAX_HEADER_LEN];
    let hlen = Header::new(kid, ctr).encode(&mut hdr);
    let aad = [hdr.get(..hlen).unwrap_or(&[]), &metadata].concat();
    expect("aad", &aad, &hex(v, "aad")?)?;
    let mut out = Vec::new();
    key.seal(ctr, &metadata, &pt, &mut out)
        .map_err(|e| e.to_string())?;
    expect("sframe ciphertext", &out, &ct)?;
    let (header, len) = Header::decode(&ct).map_err(|e| e.to_string())?;
    let mut plain = Vec::new();
    key.open(header, len, &metadata, &ct, &mut plain)
        .map_err(|e| e.to_string())?;
    expect("decrypted frame", &plain, &pt)?;
    if key
        .open(header, len, b"other metadata", &ct, &mut plain)
        .is_ok()
    {
        return Err("wrong metadata accepted".into());
    }
    Ok(())
}

/// Checks one vector of a section.
type Check = fn(&Value) -> Result<(), String>;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: sframe_vectors FILE");
        return ExitCode::FAILURE;
    };
    let doc: Value = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
    {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sections: [(&str, Check); 4] = [
        ("header", check_header),
        ("aes_ctr_hmac", check_aead),
        ("aes_256_ctr_hmac", check_aead),
        ("sframe", check_sframe),
    ];
    let (mut total, mut passed) = (0usize, 0usize);
    if let Some(obj) = doc.as_object() {
        for name in obj.keys() {
            if !sections.iter().any(|(s, _)| s == name) {
                // An unknown section is a failure: it holds vectors we did not check.
                eprintln!("unknown section {name}");
                total += 1;
            }
        }
    }
    for (name, check) in sections {
        let vectors = doc
            .get(name)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut ok = 0;
        for (i, v) in vectors.iter().enumerate() {
            match check(v) {
                Ok(()) => ok += 1,
                Err(e) => eprintln!("FAIL {name}[{i}]: {e}"),
            }
        }
        println!("{name}: {ok}/{}", vectors.len());
        total += vectors.len();
        passed += ok;
    }
    println!("passed {passed}/{total}");
    if passed == total && total > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
