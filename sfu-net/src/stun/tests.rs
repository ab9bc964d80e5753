use super::*;

/// RFC 5769 §2.1: sample request with SOFTWARE, PRIORITY, ICE-CONTROLLED,
/// USERNAME, MESSAGE-INTEGRITY and FINGERPRINT.
const RFC5769_REQUEST: [u8; 108] = [
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
];

/// RFC 5769 §2.2: sample IPv4 response (XOR-MAPPED-ADDRESS 192.0.2.1:32853).
const RFC5769_RESPONSE: [u8; 80] = [
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
];

const RFC5769_PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

#[test]
fn rfc5769_request_verifies() {
    let msg = StunMessage::parse(&RFC5769_REQUEST).unwrap();
    assert_eq!(msg.message_type(), BINDING_REQUEST);
    assert_eq!(msg.username(), Some(&b"evtj:h6vY"[..]));
    assert_eq!(msg.priority(), Some(0x6e0001ff));
    assert!(msg.verify_integrity(RFC5769_PASSWORD));
    assert!(msg.verify_fingerprint());
    assert!(!msg.verify_integrity(b"wrong password"));
}

#[test]
fn rfc5769_response_verifies_and_maps_address() {
    let msg = StunMessage::parse(&RFC5769_RESPONSE).unwrap();
    assert_eq!(msg.message_type(), BINDING_SUCCESS);
    assert_eq!(
        msg.xor_mapped_address(),
        Some("192.0.2.1:32853".parse().unwrap())
    );
    assert!(msg.verify_integrity(RFC5769_PASSWORD));
    assert!(msg.verify_fingerprint());
}

#[test]
fn written_response_round_trips_v4_and_v6() {
    let tid = [7u8; 12];
    for addr in ["203.0.113.9:5000", "[2001:db8::1]:40000"] {
        let addr: SocketAddr = addr.parse().unwrap();
        let (xor, len) = xor_address_value(addr, &tid);
        let mut out = Vec::new();
        write_message(
            &mut out,
            BINDING_SUCCESS,
            &tid,
            &[(attr::XOR_MAPPED_ADDRESS, &xor[..len])],
            Some(b"secret"),
        );
        let msg = StunMessage::parse(&out).unwrap();
        assert_eq!(msg.xor_mapped_address(), Some(addr));
        assert!(msg.verify_integrity(b"secret"));
        assert!(msg.verify_fingerprint());
    }
}

#[test]
fn every_single_bit_flip_fails_integrity_or_parse() {
    for byte in 0..RFC5769_REQUEST.len() {
        for bit in 0..8 {
            let mut m = RFC5769_REQUEST;
            m[byte] ^= 1 << bit;
            if let Ok(msg) = StunMessage::parse(&m) {
                // The SOFTWARE/USERNAME padding bytes are outside no MAC, but
                // still covered by both HMAC and CRC.
                assert!(
                    !(msg.verify_integrity(RFC5769_PASSWORD) && msg.verify_fingerprint()),
                    "flip at byte {byte} bit {bit} still verified"
                );
            }
        }
    }
}

#[test]
fn every_truncation_is_rejected_without_panic() {
    for len in 0..RFC5769_REQUEST.len() {
        assert!(
            StunMessage::parse(&RFC5769_REQUEST[..len]).is_err(),
            "len {len}"
        );
    }
}

#[test]
fn attribute_after_fingerprint_is_rejected() {
    let mut m = RFC5769_REQUEST.to_vec();
    m.extend_from_slice(&[0x00, 0x25, 0x00, 0x00]);
    let len = (m.len() - 20) as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    assert!(StunMessage::parse(&m).is_err());
}

#[test]
fn error_code_and_ice_role_round_trip() {
    let tid = [9u8; 12];
    let mut out = Vec::new();
    let code = error_code_value(ROLE_CONFLICT);
    let role = 0x0102_0304_0506_0708u64.to_be_bytes();
    write_message(
        &mut out,
        BINDING_ERROR,
        &tid,
        &[(attr::ERROR_CODE, &code), (attr::ICE_CONTROLLING, &role)],
        Some(b"pwd"),
    );
    let msg = StunMessage::parse(&out).unwrap();
    assert_eq!(msg.message_type(), BINDING_ERROR);
    assert_eq!(msg.error_code(), Some(487));
    assert_eq!(msg.ice_role(), Some((true, 0x0102_0304_0506_0708)));
    assert!(msg.verify_integrity(b"pwd"));
    assert!(msg.verify_fingerprint());
    // RFC 5769's request carries ICE-CONTROLLED.
    let msg = StunMessage::parse(&RFC5769_REQUEST).unwrap();
    assert_eq!(msg.ice_role().map(|r| r.0), Some(false));
    // Short role and error values are malformed, not panics.
    write_message(
        &mut out,
        BINDING_ERROR,
        &tid,
        &[(attr::ERROR_CODE, &[0, 4])],
        None,
    );
    assert!(StunMessage::parse(&out).is_err());
    write_message(
        &mut out,
        BINDING_REQUEST,
        &tid,
        &[(attr::ICE_CONTROLLED, &[1; 7])],
        None,
    );
    assert!(StunMessage::parse(&out).is_err());
}
