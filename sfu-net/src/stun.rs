//! A small STUN codec (RFC 8489) for exactly what our ICE agents need:
//! parse binding requests and responses (success and error), verify
//! MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT (CRC-32), and write
//! binding requests and responses.
//!
//! Hand-written rather than taken from a crate so that parsing borrows the
//! datagram (no allocation per check), every read is bounds-checked, and the
//! HMAC is computed over the original bytes without copying the message.

use std::net::{IpAddr, SocketAddr};

use crc::{CRC_32_ISO_HDLC, Crc};
use ring::hmac;

use crate::error::Error;

/// The fixed magic cookie in every RFC 5389+ STUN header.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Message type of a binding request.
pub const BINDING_REQUEST: u16 = 0x0001;
/// Message type of a binding success response.
pub const BINDING_SUCCESS: u16 = 0x0101;
/// Message type of a binding error response.
pub const BINDING_ERROR: u16 = 0x0111;
/// ERROR-CODE of a role conflict (RFC 8445 §7.3.1.1).
pub const ROLE_CONFLICT: u16 = 487;

/// Attribute types this codec reads or writes.
pub mod attr {
    /// USERNAME: `local-ufrag:remote-ufrag` in an ICE check.
    pub const USERNAME: u16 = 0x0006;
    /// MESSAGE-INTEGRITY: HMAC-SHA1 keyed with the ICE password.
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    /// ERROR-CODE: class and number of an error response.
    pub const ERROR_CODE: u16 = 0x0009;
    /// XOR-MAPPED-ADDRESS: the source address the request came from.
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    /// PRIORITY of the candidate the request was sent from.
    pub const PRIORITY: u16 = 0x0024;
    /// USE-CANDIDATE: the controlling agent nominates this pair.
    pub const USE_CANDIDATE: u16 = 0x0025;
    /// FINGERPRINT: CRC-32 of the message, XOR `0x5354554E`.
    pub const FINGERPRINT: u16 = 0x8028;
    /// ICE-CONTROLLED role attribute.
    pub const ICE_CONTROLLED: u16 = 0x8029;
    /// ICE-CONTROLLING role attribute.
    pub const ICE_CONTROLLING: u16 = 0x802A;
}

const HEADER_LEN: usize = 20;
const INTEGRITY_LEN: usize = 20;
const FINGERPRINT_XOR: u32 = 0x5354_554E;
const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);
/// RFC 8489 §14.3: USERNAME is at most 513 bytes.
const MAX_USERNAME_LEN: usize = 513;

/// A parsed STUN message borrowing the datagram it came from.
#[derive(Debug, Clone, Copy)]
pub struct StunMessage<'a> {
    raw: &'a [u8],
    message_type: u16,
    transaction_id: [u8; 12],
    username: Option<&'a [u8]>,
    /// Offset of the MESSAGE-INTEGRITY attribute header, and its HMAC.
    integrity: Option<(usize, &'a [u8])>,
    /// Offset of the FINGERPRINT attribute header, and its value.
    fingerprint: Option<(usize, u32)>,
    use_candidate: bool,
    priority: Option<u32>,
    xor_mapped_address: Option<SocketAddr>,
    error_code: Option<u16>,
    /// ICE-CONTROLLING (`true`) or ICE-CONTROLLED, with its tie-breaker.
    ice_role: Option<(bool, u64)>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let arr: [u8; 4] = s.try_into().ok()?;
    Some(u32::from_be_bytes(arr))
}

impl<'a> StunMessage<'a> {
    /// Parses one STUN message that fills the whole datagram.
    ///
    /// Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored
    /// (RFC 8489 §14.5); anything after FINGERPRINT is an error.
    pub fn parse(raw: &'a [u8]) -> Result<Self, Error> {
        let message_type = be16(raw, 0).ok_or(Error::StunMalformed("shorter than a header"))?;
        if message_type & 0xC000 != 0 {
            return Err(Error::StunMalformed("top two bits set"));
        }
        let length = usize::from(be16(raw, 2).ok_or(Error::StunMalformed("no length"))?);
        if be32(raw, 4) != Some(MAGIC_COOKIE) {
            return Err(Error::StunMalformed("no magic cookie"));
        }
        let transaction_id: [u8; 12] = raw
            .get(8..HEADER_LEN)
            .and_then(|t| t.try_into().ok())
            .ok_or(Error::StunMalformed("shorter than a header"))?;
        if length % 4 != 0 || HEADER_LEN + length != raw.len() {
            return Err(Error::StunMalformed("length field disagrees with datagram"));
        }
        let mut msg = StunMessage {
            raw,
            message_type,
            transaction_id,
            username: None,
            integrity: None,
            fingerprint: None,
            use_candidate: false,
            priority: None,
            xor_mapped_address: None,
            error_code: None,
            ice_role: None,
        };
        let mut at = HEADER_LEN;
        while at < raw.len() {
            if msg.fingerprint.is_some() {
                return Err(Error::StunMalformed("attribute after FINGERPRINT"));
            }
            let kind = be16(raw, at).ok_or(Error::StunMalformed("truncated attribute"))?;
            let len =
                usize::from(be16(raw, at + 2).ok_or(Error::StunMalformed("truncated attribute"))?);
            let value_at = at + 4;
            let value = raw
                .get(value_at..value_at + len)
                .ok_or(Error::StunMalformed("attribute overruns message"))?;
            let padded = (len + 3) & !3;
            if msg.integrity.is_some() && kind != attr::FINGERPRINT {
                at = value_at + padded;
                continue;
            }
            match kind {
                attr::USERNAME => {
                    if len > MAX_USERNAME_LEN {
                        return Err(Error::StunMalformed("USERNAME too long"));
                    }
                    msg.username = Some(value);
                }
                attr::MESSAGE_INTEGRITY => {
                    if len != INTEGRITY_LEN {
                        return Err(Error::StunMalformed("MESSAGE-INTEGRITY not 20 bytes"));
                    }
                    msg.integrity = Some((at, value));
                }
                attr::FINGERPRINT => {
                    let crc = be32(value, 0)
                        .filter(|_| len == 4)
                        .ok_or(Error::StunMalformed("FINGERPRINT not 4 bytes"))?;
                    msg.fingerprint = Some((at, crc));
                }
                attr::USE_CANDIDATE => msg.use_candidate = true,
                attr::PRIORITY => {
                    msg.priority = Some(
                        be32(value, 0)
                            .filter(|_| len == 4)
                            .ok_or(Error::StunMalformed("PRIORITY not 4 bytes"))?,
                    );
                }
                attr::ERROR_CODE => {
                    // RFC 8489 §14.8: 21 reserved bits, class (3 bits),
                    // number (8 bits), then a reason phrase.
                    let class = value.get(2).map(|c| u16::from(c & 7));
                    let number = value.get(3).map(|n| u16::from(*n));
                    let (Some(class), Some(number)) = (class, number) else {
                        return Err(Error::StunMalformed("ERROR-CODE shorter than 4 bytes"));
                    };
                    msg.error_code = Some(class * 100 + number);
                }
                attr::ICE_CONTROLLING | attr::ICE_CONTROLLED => {
                    let tie_breaker: [u8; 8] = value
                        .try_into()
                        .map_err(|_| Error::StunMalformed("ICE role attribute not 8 bytes"))?;
                    msg.ice_role = Some((
                        kind == attr::ICE_CONTROLLING,
                        u64::from_be_bytes(tie_breaker),
                    ));
                }
                attr::XOR_MAPPED_ADDRESS => {
                    msg.xor_mapped_address = Some(
                        decode_xor_address(value, &transaction_id)
                            .ok_or(Error::StunMalformed("bad XOR-MAPPED-ADDRESS"))?,
                    );
                }
                _ => {}
            }
            at = value_at + padded;
        }
        if at != raw.len() {
            return Err(Error::StunMalformed("attribute padding overruns message"));
        }
        Ok(msg)
    }

    /// The 16-bit message type (method and class).
    pub fn message_type(&self) -> u16 {
        self.message_type
    }

    /// The 96-bit transaction id.
    pub fn transaction_id(&self) -> &[u8; 12] {
        &self.transaction_id
    }

    /// The raw USERNAME value, if present.
    pub fn username(&self) -> Option<&'a [u8]> {
        self.username
    }

    /// Whether USE-CANDIDATE was present (the controlling agent nominates).
    pub fn use_candidate(&self) -> bool {
        self.use_candidate
    }

    /// The PRIORITY attribute, if present.
    pub fn priority(&self) -> Option<u32> {
        self.priority
    }

    /// The XOR-MAPPED-ADDRESS, if present (in responses).
    pub fn xor_mapped_address(&self) -> Option<SocketAddr> {
        self.xor_mapped_address
    }

    /// The ERROR-CODE (class × 100 + number), if present (in error responses).
    pub fn error_code(&self) -> Option<u16> {
        self.error_code
    }

    /// The sender's ICE role: `Some((true, tie_breaker))` for
    /// ICE-CONTROLLING, `Some((false, tie_breaker))` for ICE-CONTROLLED.
    pub fn ice_role(&self) -> Option<(bool, u64)> {
        self.ice_role
    }

    /// Whether a MESSAGE-INTEGRITY attribute is present.
    pub fn has_integrity(&self) -> bool {
        self.integrity.is_some()
    }

    /// Whether a FINGERPRINT attribute is present.
    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint.is_some()
    }

    /// Verifies MESSAGE-INTEGRITY with a short-term credential `key` (the
    /// ICE password). False when the attribute is missing or wrong.
    pub fn verify_integrity(&self, key: &[u8]) -> bool {
        let Some((at, received)) = self.integrity else {
            return false;
        };
        // The HMAC covers the message up to the attribute, with the header's
        // length field set as if MESSAGE-INTEGRITY were the last attribute.
        let Some(header) = self.raw.get(..HEADER_LEN) else {
            return false;
        };
        let Some(body) = self.raw.get(HEADER_LEN..at) else {
            return false;
        };
        let Ok(adjusted) = u16::try_from(at - HEADER_LEN + 4 + INTEGRITY_LEN) else {
            return false;
        };
        let expected = integrity_tag(key, header, adjusted, body);
        rtc_crypto::constant_time_eq(expected.as_ref(), received)
    }

    /// Verifies the FINGERPRINT attribute. False when missing or wrong.
    pub fn verify_fingerprint(&self) -> bool {
        let Some((at, received)) = self.fingerprint else {
            return false;
        };
        // FINGERPRINT is always last, so the length field already covers it.
        self.raw
            .get(..at)
            .is_some_and(|covered| CRC32.checksum(covered) ^ FINGERPRINT_XOR == received)
    }
}

fn integrity_tag(key: &[u8], header: &[u8], length: u16, body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(header.get(..2).unwrap_or_default());
    ctx.update(&length.to_be_bytes());
    ctx.update(header.get(4..).unwrap_or_default());
    ctx.update(body);
    ctx.sign()
}

fn decode_xor_address(value: &[u8], transaction_id: &[u8; 12]) -> Option<SocketAddr> {
    let family = *value.get(1)?;
    let port = be16(value, 2)? ^ (MAGIC_COOKIE >> 16) as u16;
    match family {
        0x01 if value.len() == 8 => {
            let ip = be32(value, 4)? ^ MAGIC_COOKIE;
            Some(SocketAddr::new(IpAddr::from(ip.to_be_bytes()), port))
        }
        0x02 if value.len() == 20 => {
            let mut ip = [0u8; 16];
            let mask = MAGIC_COOKIE.to_be_bytes();
            for (i, b) in ip.iter_mut().enumerate() {
                let m = if i < 4 {
                    mask.get(i)
                } else {
                    transaction_id.get(i - 4)
                };
                *b = value.get(4 + i)? ^ m?;
            }
            Some(SocketAddr::new(IpAddr::from(ip), port))
        }
        _ => None,
    }
}

/// Writes a STUN message into `out` (cleared first): header, the given
/// attributes, then MESSAGE-INTEGRITY keyed by `key` if given, then
/// FINGERPRINT. Used for binding success responses and by test clients for
/// requests.
pub fn write_message(
    out: &mut Vec<u8>,
    message_type: u16,
    transaction_id: &[u8; 12],
    attributes: &[(u16, &[u8])],
    integrity_key: Option<&[u8]>,
) {
    out.clear();
    out.extend_from_slice(&message_type.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(transaction_id);
    for (kind, value) in attributes {
        push_attribute(out, *kind, value);
    }
    if let Some(key) = integrity_key {
        let at = out.len();
        let length = (at - HEADER_LEN + 4 + INTEGRITY_LEN) as u16;
        let tag = integrity_tag(
            key,
            out.get(..HEADER_LEN).unwrap_or_default(),
            length,
            out.get(HEADER_LEN..).unwrap_or_default(),
        );
        push_attribute(out, attr::MESSAGE_INTEGRITY, tag.as_ref());
    }
    let length = (out.len() - HEADER_LEN + 8) as u16;
    set_length(out, length);
    let crc = CRC32.checksum(out) ^ FINGERPRINT_XOR;
    push_attribute(out, attr::FINGERPRINT, &crc.to_be_bytes());
}

/// The ERROR-CODE value for `code` (300..=699) without a reason phrase.
pub fn error_code_value(code: u16) -> [u8; 4] {
    let class = u8::try_from(code / 100).unwrap_or(0) & 7;
    let number = u8::try_from(code % 100).unwrap_or(0);
    [0, 0, class, number]
}

/// Encodes `addr` as an XOR-MAPPED-ADDRESS value (RFC 8489 §14.2).
pub fn xor_address_value(addr: SocketAddr, transaction_id: &[u8; 12]) -> ([u8; 20], usize) {
    let mut v = [0u8; 20];
    let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let (family, ip_len) = match addr.ip() {
        IpAddr::V4(ip) => {
            for ((dst, ip), m) in v[4..8].iter_mut().zip(ip.octets()).zip(cookie) {
                *dst = ip ^ m;
            }
            (0x01, 4)
        }
        IpAddr::V6(ip) => {
            let mask = cookie.iter().chain(transaction_id.iter());
            for ((dst, ip), m) in v[4..20].iter_mut().zip(ip.octets()).zip(mask) {
                *dst = ip ^ m;
            }
            (0x02, 16)
        }
    };
    v[1] = family;
    v[2..4].copy_from_slice(&port.to_be_bytes());
    (v, 4 + ip_len)
}

fn push_attribute(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    let pad = (4 - value.len() % 4) % 4;
    out.extend(std::iter::repeat_n(0u8, pad));
    let length = (out.len() - HEADER_LEN) as u16;
    set_length(out, length);
}

fn set_length(out: &mut [u8], length: u16) {
    if let Some(field) = out.get_mut(2..4) {
        field.copy_from_slice(&length.to_be_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
