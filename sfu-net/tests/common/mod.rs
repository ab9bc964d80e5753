//! An in-memory network between an `Endpoint` and test peers that speak
//! real ICE (STUN via `rtc-stun`, an implementation we did not write) and
//! real DTLS (a `dimpl` client), then SRTP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc_stun::attributes::{
    ATTR_ICE_CONTROLLING, ATTR_PRIORITY, ATTR_USE_CANDIDATE, ATTR_USERNAME, RawAttribute,
};
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{BINDING_REQUEST, BINDING_SUCCESS, Getter, Message, Setter, TransactionId};
use rtc_stun::textattrs::TextAttribute;
use rtc_stun::xoraddr::XorMappedAddress;
use sfu_net::srtp::{DtlsRole, SrtpSession};
use sfu_net::{
    Certificate, EndpointConfig, EndpointEvent, Fingerprint, IceCredentials, TransportConfig,
};

/// The tests name endpoint sessions by a number (the peer's seed).
pub type SessionId = u64;
pub type Endpoint = sfu_net::Endpoint<SessionId>;
pub type Event = EndpointEvent<SessionId>;

pub const SERVER: &str = "192.0.2.1:8443";

pub fn server_addr() -> SocketAddr {
    SERVER.parse().unwrap()
}

pub fn endpoint(config: EndpointConfig) -> Endpoint {
    Endpoint::new(config, Certificate::generate().unwrap()).unwrap()
}

/// A browser stand-in: ICE controlling agent, DTLS client, SRTP.
pub struct Peer {
    pub addr: SocketAddr,
    pub ufrag: String,
    pub server_ufrag: String,
    pub server_pwd: String,
    pub dtls: dimpl::Dtls,
    pub certificate: dimpl::DtlsCertificate,
    pub fingerprint: Fingerprint,
    pub srtp: Option<SrtpSession>,
    pub connected: bool,
    pub close_notify: bool,
    pub binding_responses: Vec<SocketAddr>,
    pub rtp: Vec<Bytes>,
    pub rtcp: Vec<Bytes>,
    pub other: usize,
    pub dtls_out: Vec<Vec<u8>>,
    pub next_dtls_timeout: Option<Instant>,
    buf: Vec<u8>,
}

pub fn client_certificate() -> dimpl::DtlsCertificate {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["peer".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    dimpl::DtlsCertificate {
        certificate: cert.der().to_vec(),
        private_key: key.serialize_der(),
    }
}

impl Peer {
    /// A peer whose session on `ep` is created with `seed` randomness. The
    /// fingerprint announced to the endpoint is `announced` or the real one.
    pub fn join(
        ep: &mut Endpoint,
        now: Instant,
        addr: &str,
        seed: u8,
        remote_ssrcs: Vec<u32>,
        announced: Option<Fingerprint>,
    ) -> (Peer, SessionId) {
        Self::join_with(ep, now, addr, seed, remote_ssrcs, announced, false)
    }

    /// Like [`Peer::join`], choosing whether the session learns SSRCs.
    pub fn join_with(
        ep: &mut Endpoint,
        now: Instant,
        addr: &str,
        seed: u8,
        remote_ssrcs: Vec<u32>,
        announced: Option<Fingerprint>,
        learn_remote_ssrcs: bool,
    ) -> (Peer, SessionId) {
        let mut random = [0u8; 32];
        for (i, b) in random.iter_mut().enumerate() {
            *b = seed
                .wrapping_mul(97)
                .wrapping_add((i as u8).wrapping_mul(13));
        }
        let creds = IceCredentials::from_random(&random);
        let cert = client_certificate();
        let fingerprint = Fingerprint::of_der(&cert.certificate);
        let mut dtls = dimpl::Dtls::new_12(Arc::new(dimpl::Config::default()), cert.clone(), now);
        dtls.set_active(true);
        let ufrag = format!("peer{seed}");
        let session = SessionId::from(seed);
        ep.add_session(
            now,
            session,
            TransportConfig {
                credentials: creds.clone(),
                remote_ufrag: Some(ufrag.clone()),
                remote_fingerprint: announced.unwrap_or(fingerprint),
                remote_ssrcs,
                learn_remote_ssrcs,
            },
        )
        .unwrap();
        let peer = Peer {
            addr: addr.parse().unwrap(),
            ufrag,
            server_ufrag: creds.ufrag().to_string(),
            server_pwd: creds.pwd().to_string(),
            dtls,
            certificate: cert,
            fingerprint,
            srtp: None,
            connected: false,
            close_notify: false,
            binding_responses: Vec::new(),
            rtp: Vec::new(),
            rtcp: Vec::new(),
            other: 0,
            dtls_out: Vec::new(),
            next_dtls_timeout: None,
            buf: vec![0; 4096],
        };
        (peer, session)
    }

    /// Swaps the DTLS 1.2 client for one that sends a hybrid DTLS 1.2/1.3
    /// ClientHello, as current browsers do.
    pub fn use_hybrid_client_hello(&mut self, now: Instant) {
        let mut dtls = dimpl::Dtls::new_auto(
            Arc::new(dimpl::Config::default()),
            self.certificate.clone(),
            now,
        );
        dtls.set_active(true);
        self.dtls = dtls;
    }

    /// A binding request as a browser sends it, built with rtc-stun.
    pub fn check(&self, use_candidate: bool) -> Vec<u8> {
        binding_request(
            &self.server_ufrag,
            &self.ufrag,
            &self.server_pwd,
            use_candidate,
            true,
        )
    }

    /// Starts the DTLS handshake (ClientHello).
    pub fn start_dtls(&mut self, now: Instant) {
        self.dtls.handle_timeout(now).unwrap();
        self.drain_dtls();
    }

    fn drain_dtls(&mut self) {
        loop {
            match self.dtls.poll_output(&mut self.buf) {
                dimpl::Output::Packet(p) => self.dtls_out.push(p.to_vec()),
                dimpl::Output::Timeout(t) => {
                    self.next_dtls_timeout = Some(t);
                    break;
                }
                dimpl::Output::Connected => self.connected = true,
                dimpl::Output::KeyingMaterial(km, profile) => {
                    let profile = match profile {
                        dimpl::SrtpProfile::AEAD_AES_128_GCM => sfu_net::SrtpProfile::AeadAes128Gcm,
                        dimpl::SrtpProfile::AEAD_AES_256_GCM => sfu_net::SrtpProfile::AeadAes256Gcm,
                        _ => sfu_net::SrtpProfile::Aes128CmHmacSha1_80,
                    };
                    let mut s =
                        SrtpSession::from_dtls_keying(&km, profile, DtlsRole::Client).unwrap();
                    for ssrc in 0..16 {
                        s.allow_remote_ssrc(0x5000 + ssrc);
                    }
                    self.srtp = Some(s);
                }
                dimpl::Output::CloseNotify => self.close_notify = true,
                dimpl::Output::BufferTooSmall { needed } => self.buf.resize(needed, 0),
                _ => {}
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.dtls.handle_timeout(now).unwrap();
        self.drain_dtls();
    }

    /// Receives a datagram the endpoint sent to this peer.
    pub fn receive(&mut self, now: Instant, data: &[u8]) {
        match data.first() {
            Some(0..=3) => {
                let addr = verify_binding_response(data, &self.server_pwd)
                    .expect("valid binding response");
                self.binding_responses.push(addr);
            }
            Some(20..=63) => {
                self.dtls.handle_timeout(now).unwrap();
                self.dtls.handle_packet(data).unwrap();
                self.drain_dtls();
            }
            Some(128..=191) => {
                let srtp = self.srtp.as_mut().expect("SRTP before keys");
                if matches!(data.get(1), Some(192..=223)) {
                    self.rtcp.push(srtp.unprotect_rtcp(data).unwrap());
                } else {
                    self.rtp.push(srtp.unprotect_rtp(data).unwrap());
                }
            }
            _ => self.other += 1,
        }
    }

    pub fn protect_rtp(&mut self, seq: u16, ssrc: u32, payload_len: usize) -> Vec<u8> {
        self.srtp
            .as_mut()
            .unwrap()
            .protect_rtp(&rtp(seq, ssrc, payload_len))
            .unwrap()
            .to_vec()
    }

    pub fn protect_rtcp(&mut self, ssrc: u32) -> Vec<u8> {
        self.srtp
            .as_mut()
            .unwrap()
            .protect_rtcp(&receiver_report(ssrc))
            .unwrap()
            .to_vec()
    }
}

/// A plain RTP packet: V=2, PT 96, the given sequence number and SSRC.
pub fn rtp(seq: u16, ssrc: u32, payload_len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..payload_len).map(|i| (i as u8) ^ (seq as u8)).collect();
    sfu_testkit::rtp::Rtp::new(ssrc, 96, seq, u32::from(seq) * 3000)
        .payload(&payload)
        .build()
}

/// An empty RTCP receiver report from `ssrc`.
pub fn receiver_report(ssrc: u32) -> Vec<u8> {
    sfu_testkit::rtp::Rtcp::new().rr(ssrc, &[]).build()
}

pub fn binding_request(
    server_ufrag: &str,
    client_ufrag: &str,
    pwd: &str,
    use_candidate: bool,
    fingerprint: bool,
) -> Vec<u8> {
    let provider = rtc_stun::crypto::default_provider().unwrap();
    let mut m = Message::new();
    let username = TextAttribute::new(ATTR_USERNAME, format!("{server_ufrag}:{client_ufrag}"));
    let priority = RawAttribute {
        typ: ATTR_PRIORITY,
        length: 0,
        value: 0x6e0001ffu32.to_be_bytes().to_vec(),
    };
    let controlling = RawAttribute {
        typ: ATTR_ICE_CONTROLLING,
        length: 0,
        value: 42u64.to_be_bytes().to_vec(),
    };
    let nominate = RawAttribute {
        typ: ATTR_USE_CANDIDATE,
        length: 0,
        value: Vec::new(),
    };
    let integrity = MessageIntegrity::new_short_term_integrity_with_provider(
        pwd.to_string(),
        provider.crypto(),
    );
    let mut setters: Vec<Box<dyn Setter + '_>> = vec![
        Box::new(BINDING_REQUEST),
        Box::new(TransactionId::new()),
        Box::new(username),
        Box::new(priority),
        Box::new(controlling),
    ];
    if use_candidate {
        setters.push(Box::new(nominate));
    }
    setters.push(Box::new(integrity));
    if fingerprint {
        setters.push(Box::new(FINGERPRINT));
    }
    m.build(&setters).unwrap();
    m.raw.clone()
}

/// Checks a binding success response with rtc-stun and returns its
/// XOR-MAPPED-ADDRESS.
pub fn verify_binding_response(data: &[u8], pwd: &str) -> Option<SocketAddr> {
    let provider = rtc_stun::crypto::default_provider().unwrap();
    let mut m = Message::new();
    m.unmarshal_binary(data).ok()?;
    if m.typ != BINDING_SUCCESS {
        return None;
    }
    FINGERPRINT.check(&m).ok()?;
    MessageIntegrity::check(&mut m, pwd.as_bytes(), provider.crypto()).ok()?;
    let mut xor = XorMappedAddress::default();
    xor.get_from(&m).ok()?;
    Some(SocketAddr::new(xor.ip, xor.port))
}

/// Moves datagrams both ways until nothing is in flight; returns the
/// endpoint's events in order.
pub fn pump(ep: &mut Endpoint, peers: &mut [&mut Peer], now: Instant) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..64 {
        let mut moved = false;
        for peer in peers.iter_mut() {
            for d in std::mem::take(&mut peer.dtls_out) {
                ep.handle_datagram(now, peer.addr, server_addr(), &d);
                moved = true;
            }
        }
        while let Some(t) = ep.poll_transmit() {
            assert_eq!(t.source, server_addr());
            if let Some(peer) = peers.iter_mut().find(|p| p.addr == t.destination) {
                peer.receive(now, &t.contents);
            }
            moved = true;
        }
        while let Some(e) = ep.poll_event() {
            events.push(e);
        }
        if !moved {
            break;
        }
    }
    events
}

/// ICE check, then DTLS to completion; panics unless the endpoint reports
/// the session connected.
pub fn connect(ep: &mut Endpoint, peer: &mut Peer, session: SessionId, now: Instant) -> Vec<Event> {
    let check = peer.check(true);
    ep.handle_datagram(now, peer.addr, server_addr(), &check);
    peer.start_dtls(now);
    let events = pump(ep, &mut [peer], now);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Connected { session: s, .. } if *s == session)),
        "not connected: {events:?}"
    );
    assert!(peer.connected && peer.srtp.is_some());
    events
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
