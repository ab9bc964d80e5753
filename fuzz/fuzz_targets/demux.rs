//! Any datagram, from a stranger or from the path a valid check bound,
//! through the endpoint's classifier and whichever parser it picks (STUN,
//! the DTLS server mid-handshake, SRTP): no panic, no state for strangers.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use sfu_net::demux::{DatagramKind, classify};
use sfu_net::stun::{self, attr};
use sfu_net::{Certificate, EndpointConfig, Fingerprint, IceCredentials, TransportConfig};

/// Sessions are named by a number here.
type Endpoint = sfu_net::Endpoint<u64>;

const PEER: &str = "198.51.100.7:50000";
const LOCAL: &str = "192.0.2.1:8443";
const STRANGER: &str = "203.0.113.9:4000";

static ENDPOINT: Mutex<Option<Endpoint>> = Mutex::new(None);

fn certificate() -> &'static Certificate {
    static CERT: OnceLock<Certificate> = OnceLock::new();
    CERT.get_or_init(|| Certificate::generate().unwrap())
}

/// An endpoint with one session whose peer already passed an ICE check.
fn endpoint(now: Instant) -> Endpoint {
    let mut ep = Endpoint::new(EndpointConfig::default(), certificate().clone()).unwrap();
    let creds = IceCredentials::from_random(&[7; 32]);
    ep.add_session(
        now,
        1,
        TransportConfig {
            credentials: creds.clone(),
            remote_ufrag: Some("peer".into()),
            remote_fingerprint: Fingerprint::of_der(b"peer certificate"),
            remote_ssrcs: vec![0x1111, 0x2222],
            learn_remote_ssrcs: true,
        },
    )
    .unwrap();
    let mut check = Vec::new();
    let username = format!("{}:peer", creds.ufrag());
    stun::write_message(
        &mut check,
        stun::BINDING_REQUEST,
        &[1; 12],
        &[
            (attr::USERNAME, username.as_bytes()),
            (attr::USE_CANDIDATE, &[]),
        ],
        Some(creds.pwd().as_bytes()),
    );
    ep.handle_datagram(now, PEER.parse().unwrap(), LOCAL.parse().unwrap(), &check);
    assert_eq!(ep.path_route_count(), 1);
    ep
}

fuzz_target!(|data: &[u8]| {
    let kind = classify(data);
    match data.first() {
        None => assert_eq!(kind, DatagramKind::Unknown),
        Some(0..=3) => assert_eq!(kind, DatagramKind::Stun),
        Some(20..=63) => assert_eq!(kind, DatagramKind::Dtls),
        Some(128..=191) => assert!(matches!(
            kind,
            DatagramKind::Rtp | DatagramKind::Rtcp | DatagramKind::Unknown
        )),
        Some(_) => assert_eq!(kind, DatagramKind::Unknown),
    }

    // One endpoint for the run; its session is rebuilt only when an input
    // made DTLS fail (building one per input would measure key generation).
    let now = Instant::now();
    let mut slot = ENDPOINT.lock().unwrap();
    if slot.as_ref().is_none_or(|ep| ep.session_count() == 0) {
        *slot = Some(endpoint(now));
    }
    let Some(ep) = slot.as_mut() else { return };
    let local: SocketAddr = LOCAL.parse().unwrap();
    // The same bytes from a stranger and from the checked path, and the
    // second half again so the DTLS engine sees more than one record.
    ep.handle_datagram(now, STRANGER.parse().unwrap(), local, data);
    ep.handle_datagram(now, PEER.parse().unwrap(), local, data);
    ep.handle_datagram(
        now,
        PEER.parse().unwrap(),
        local,
        data.get(data.len() / 2..).unwrap_or_default(),
    );
    ep.handle_timeout(now);
    while ep.poll_transmit().is_some() {}
    while ep.poll_event().is_some() {}
    assert!(ep.session_count() <= 1);
    assert!(ep.path_route_count() <= 1);
});
