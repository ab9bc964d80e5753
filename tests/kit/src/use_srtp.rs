//! The DTLS-SRTP `use_srtp` extension (RFC 5764 §4.1.1) on the wire: the
//! protection profiles a ClientHello offers, the one a ServerHello
//! selects, and a ClientHello rewritten to offer other profiles.
//!
//! The peer's DTLS client (`dimpl`) always offers AEAD_AES_256_GCM,
//! AEAD_AES_128_GCM and AES128_CM_HMAC_SHA1_80, in that order, and has no
//! setting to change it. [`with_offer`] stands in for a client that offers
//! something else (Chromium's order, a single profile): the server's choice
//! can then be read off its ServerHello with [`selected`]. A rewritten
//! ClientHello cannot complete a handshake — the client's transcript (and
//! so its extended master secret and Finished) still holds the hello it
//! built — so a test of the choice stops at the ServerHello.
//!
//! Only DTLS 1.2 records in plaintext (epoch 0) are read, and a hello must
//! be in one record and one fragment, as the hellos of these tests are.

/// `SRTP_AES128_CM_HMAC_SHA1_80`.
pub const AES128_CM_HMAC_SHA1_80: u16 = 0x0001;
/// `SRTP_AES128_CM_HMAC_SHA1_32` (offered by no default browser; dimpl does
/// not know it).
pub const AES128_CM_HMAC_SHA1_32: u16 = 0x0002;
/// `SRTP_AEAD_AES_128_GCM` (RFC 7714).
pub const AEAD_AES_128_GCM: u16 = 0x0007;
/// `SRTP_AEAD_AES_256_GCM` (RFC 7714).
pub const AEAD_AES_256_GCM: u16 = 0x0008;

/// What Chromium offers, in its order: WebRTC's
/// `CryptoOptions::GetSupportedDtlsSrtpCryptoSuites` lists
/// AES128_CM_HMAC_SHA1_80 first, then (GCM being on by default)
/// AEAD_AES_256_GCM and AEAD_AES_128_GCM.
pub const CHROMIUM_OFFER: [u16; 3] = [AES128_CM_HMAC_SHA1_80, AEAD_AES_256_GCM, AEAD_AES_128_GCM];

const HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const USE_SRTP: u16 = 14;
const RECORD_HEADER: usize = 13;
const HANDSHAKE_HEADER: usize = 12;

/// The profiles the ClientHello in `datagram` offers, in its order.
pub fn offered(datagram: &[u8]) -> Option<Vec<u16>> {
    let (record, _) = hello_record(datagram, CLIENT_HELLO)?;
    let body = datagram.get(record + RECORD_HEADER + HANDSHAKE_HEADER..)?;
    let (at, len) = use_srtp(body, true)?;
    let data = body.get(at..at + len)?;
    let list_len = usize::from(u16::from_be_bytes([*data.first()?, *data.get(1)?]));
    let list = data.get(2..2 + list_len)?;
    Some(
        list.chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect(),
    )
}

/// The profile the ServerHello in `datagram` selected; `None` when there is
/// no ServerHello or it has no `use_srtp` (no profile in common).
pub fn selected(datagram: &[u8]) -> Option<u16> {
    let (record, _) = hello_record(datagram, SERVER_HELLO)?;
    let body = datagram.get(record + RECORD_HEADER + HANDSHAKE_HEADER..)?;
    let (at, _) = use_srtp(body, false)?;
    // profiles length (always 2 here), then the one profile.
    let p = body.get(at + 2..at + 4)?;
    Some(u16::from_be_bytes([p[0], p[1]]))
}

/// `datagram` with its ClientHello's `use_srtp` list replaced by
/// `profiles` (the MKI is kept); every length around it is fixed up.
pub fn with_offer(datagram: &[u8], profiles: &[u16]) -> Option<Vec<u8>> {
    let (record, record_len) = hello_record(datagram, CLIENT_HELLO)?;
    let hello_at = record + RECORD_HEADER + HANDSHAKE_HEADER;
    let body = datagram.get(hello_at..record + RECORD_HEADER + record_len)?;
    let (at, len) = use_srtp(body, true)?;
    let data = body.get(at..at + len)?;
    let old_list = 2 + usize::from(u16::from_be_bytes([*data.first()?, *data.get(1)?]));
    let mki = data.get(old_list..)?;

    let mut new_data = Vec::with_capacity(2 + 2 * profiles.len() + mki.len());
    new_data.extend_from_slice(&u16::try_from(2 * profiles.len()).ok()?.to_be_bytes());
    for p in profiles {
        new_data.extend_from_slice(&p.to_be_bytes());
    }
    new_data.extend_from_slice(mki);
    let grow = new_data.len() as isize - len as isize;

    let mut out = Vec::with_capacity(datagram.len() + new_data.len());
    out.extend_from_slice(&datagram[..hello_at + at]);
    out.extend_from_slice(&new_data);
    out.extend_from_slice(&datagram[hello_at + at + len..]);
    // The extension's own length, the extensions block, the handshake
    // message (length and fragment length: one fragment) and the record.
    add_u16(&mut out, hello_at + at - 2, grow)?;
    add_u16(&mut out, hello_at + extensions_at(body, true)?, grow)?;
    add_u24(&mut out, record + RECORD_HEADER + 1, grow)?;
    add_u24(&mut out, record + RECORD_HEADER + 9, grow)?;
    add_u16(&mut out, record + 11, grow)?;
    Some(out)
}

/// The offset of the first record carrying a whole hello of `kind`, and
/// that record's length.
fn hello_record(datagram: &[u8], kind: u8) -> Option<(usize, usize)> {
    let mut at = 0;
    while let Some(header) = datagram.get(at..at + RECORD_HEADER) {
        let len = usize::from(u16::from_be_bytes([header[11], header[12]]));
        let epoch = u16::from_be_bytes([header[3], header[4]]);
        if header[0] == HANDSHAKE && epoch == 0 {
            let hs = datagram.get(at + RECORD_HEADER..at + RECORD_HEADER + len)?;
            if hs.len() >= HANDSHAKE_HEADER && hs[0] == kind {
                let length = u32::from_be_bytes([0, hs[1], hs[2], hs[3]]);
                let offset = u32::from_be_bytes([0, hs[6], hs[7], hs[8]]);
                let fragment = u32::from_be_bytes([0, hs[9], hs[10], hs[11]]);
                if offset == 0 && fragment == length {
                    return Some((at, len));
                }
            }
        }
        at += RECORD_HEADER + len;
    }
    None
}

/// Where a hello's extensions block starts (its 2-byte length).
fn extensions_at(hello: &[u8], client: bool) -> Option<usize> {
    let u8_at = |i: usize| hello.get(i).map(|b| usize::from(*b));
    let u16_at = |i: usize| {
        Some(usize::from(u16::from_be_bytes([
            *hello.get(i)?,
            *hello.get(i + 1)?,
        ])))
    };
    // version, random, session id
    let mut at = 2 + 32;
    at += 1 + u8_at(at)?;
    if client {
        at += 1 + u8_at(at)?; // cookie
        at += 2 + u16_at(at)?; // cipher suites
        at += 1 + u8_at(at)?; // compression methods
    } else {
        at += 2 + 1; // cipher suite, compression method
    }
    Some(at)
}

/// The offset of the `use_srtp` extension's data in `hello` and its length.
fn use_srtp(hello: &[u8], client: bool) -> Option<(usize, usize)> {
    let u16_at = |i: usize| Some(u16::from_be_bytes([*hello.get(i)?, *hello.get(i + 1)?]));
    let start = extensions_at(hello, client)?;
    let end = start + 2 + usize::from(u16_at(start)?);
    let mut at = start + 2;
    while at + 4 <= end {
        let (typ, len) = (u16_at(at)?, usize::from(u16_at(at + 2)?));
        if typ == USE_SRTP {
            return Some((at + 4, len));
        }
        at += 4 + len;
    }
    None
}

fn add_u16(buf: &mut [u8], at: usize, delta: isize) -> Option<()> {
    let field = buf.get_mut(at..at + 2)?;
    let value = u16::from_be_bytes([field[0], field[1]]) as isize + delta;
    field.copy_from_slice(&u16::try_from(value).ok()?.to_be_bytes());
    Some(())
}

fn add_u24(buf: &mut [u8], at: usize, delta: isize) -> Option<()> {
    let field = buf.get_mut(at..at + 3)?;
    let value = u32::from_be_bytes([0, field[0], field[1], field[2]]) as isize + delta;
    let value = u32::try_from(value).ok().filter(|v| *v < 1 << 24)?;
    field.copy_from_slice(&value.to_be_bytes()[1..]);
    Some(())
}
