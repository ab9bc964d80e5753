//! Browsers now offer DTLS 1.3 next to 1.2 in one hybrid ClientHello; the
//! endpoint's DTLS 1.2 server completes a 1.2 handshake with them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sfu_net::{EndpointConfig, EndpointEvent};

#[test]
fn hybrid_client_hello_completes_as_dtls12() {
    let t0 = std::time::Instant::now();
    let mut ep = endpoint(EndpointConfig::default());
    let (mut peer, session) = Peer::join(&mut ep, t0, "198.51.100.7:50000", 1, vec![0x1111], None);
    peer.use_hybrid_client_hello(t0);
    connect(&mut ep, &mut peer, session, t0);
    assert_eq!(
        peer.dtls.protocol_version(),
        Some(dimpl::ProtocolVersion::DTLS1_2)
    );
    let wire = peer.protect_rtp(1, 0x1111, 300);
    ep.handle_datagram(t0, peer.addr, server_addr(), &wire);
    assert!(matches!(ep.poll_event(), Some(EndpointEvent::Rtp { .. })));
}
