//! Arbitrary bytes through the STUN codec and the ICE-lite responder:
//! parsing, MESSAGE-INTEGRITY and FINGERPRINT checks never panic, and only
//! a message that verifies with the session's password is answered.
#![no_main]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use sfu_net::ice::local_ufrag_of;
use sfu_net::stun::{self, StunMessage, attr};
use sfu_net::{Certificate, EndpointConfig, Fingerprint, IceCredentials, TransportConfig};

/// Sessions are named by a number here.
type Endpoint = sfu_net::Endpoint<u64>;

fn certificate() -> &'static Certificate {
    static CERT: OnceLock<Certificate> = OnceLock::new();
    CERT.get_or_init(|| Certificate::generate().unwrap())
}

fn credentials() -> IceCredentials {
    IceCredentials::from_random(&[3; 32])
}

thread_local! {
    static ENDPOINT: RefCell<Endpoint> = RefCell::new({
        let mut ep = Endpoint::new(EndpointConfig::default(), certificate().clone()).unwrap();
        ep.add_session(
            Instant::now(),
            1,
            TransportConfig {
                credentials: credentials(),
                remote_ufrag: None,
                remote_fingerprint: Fingerprint::of_der(b"peer certificate"),
                remote_ssrcs: vec![],
                learn_remote_ssrcs: false,
            },
        )
        .unwrap();
        ep
    });
}

fuzz_target!(|data: &[u8]| {
    let creds = credentials();
    let parsed = StunMessage::parse(data);
    let verifies = parsed.as_ref().is_ok_and(|m| {
        m.message_type() == stun::BINDING_REQUEST
            && m.username().and_then(local_ufrag_of) == Some(creds.ufrag().as_bytes())
            && m.verify_fingerprint()
            && m.verify_integrity(creds.pwd().as_bytes())
    });
    if let Ok(m) = &parsed {
        // A response written for any parsed message must parse and verify.
        let mut out = Vec::new();
        let (xor, len) =
            stun::xor_address_value("[2001:db8::1]:9".parse().unwrap(), m.transaction_id());
        stun::write_message(
            &mut out,
            stun::BINDING_SUCCESS,
            m.transaction_id(),
            &[
                (attr::XOR_MAPPED_ADDRESS, &xor[..len]),
                (attr::USERNAME, m.username().unwrap_or_default()),
            ],
            Some(b"key"),
        );
        let back = StunMessage::parse(&out).unwrap();
        assert!(back.verify_integrity(b"key") && back.verify_fingerprint());
    }

    // One endpoint for the whole run: building a session per input would
    // make the run measure key generation instead of the parser.
    ENDPOINT.with(|ep| {
        let mut ep = ep.borrow_mut();
        let from: SocketAddr = "198.51.100.7:50000".parse().unwrap();
        ep.handle_datagram(
            Instant::now(),
            from,
            "192.0.2.1:8443".parse().unwrap(),
            data,
        );
        let answered = ep.poll_transmit().is_some();
        assert_eq!(
            answered, verifies,
            "answered a check that does not verify, or the reverse"
        );
        assert!(ep.path_route_count() <= 1);
        assert_eq!(ep.session_count(), 1);
    });
});
