//! A third party that answers `a=setup:active` is the DTLS client and we
//! stay the server, while our ICE agent still controls. The third party
//! here is played by the test: an ICE-lite endpoint that answers our
//! checks, runs dimpl's DTLS client once checked, and sends SRTP Opus on
//! the section we offered to receive; a stand-in viewer on our node pulls
//! that track and receives it.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod node_world;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use node_world::{World, node_addr, peer_addr, received_on};
use sfu_net::node::ReceiveTrack;
use sfu_net::srtp::{DtlsRole, SrtpSession};
use sfu_net::stun::{self, StunMessage};
use sfu_net::{Fingerprint, NodeEvent, SrtpProfile, TrackState};
use sfu_testkit::peer::PeerConfig;

const PWD: &str = "thirdPartyPassword0123456789";
const SSRC: u32 = 0x4242_0001;

/// The third party: answers checks, DTLS client, sends Opus when keyed.
struct ThirdParty {
    addr: SocketAddr,
    dtls: Option<dimpl::Dtls>,
    certificate: dimpl::DtlsCertificate,
    expected: Fingerprint,
    verified: bool,
    srtp: Option<SrtpSession>,
    checks_answered: usize,
    seq: u16,
    buf: Vec<u8>,
}

fn certificate() -> dimpl::DtlsCertificate {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&key)
        .unwrap();
    dimpl::DtlsCertificate {
        certificate: cert.der().to_vec(),
        private_key: key.serialize_der(),
    }
}

impl ThirdParty {
    /// Handles a datagram from our node; returns what to send back.
    fn receive(&mut self, now: std::time::Instant, data: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let Ok(msg) = StunMessage::parse(data) {
            if msg.message_type() != stun::BINDING_REQUEST || !msg.verify_integrity(PWD.as_bytes())
            {
                return out;
            }
            let (xor, len) = stun::xor_address_value(node_addr(0), msg.transaction_id());
            let mut response = Vec::new();
            stun::write_message(
                &mut response,
                stun::BINDING_SUCCESS,
                msg.transaction_id(),
                &[(stun::attr::XOR_MAPPED_ADDRESS, &xor[..len])],
                Some(PWD.as_bytes()),
            );
            out.push(response);
            self.checks_answered += 1;
            if self.dtls.is_none() {
                let config = Arc::new(dimpl::Config::builder().build().unwrap());
                let mut dtls = dimpl::Dtls::new_12(config, self.certificate.clone(), now);
                dtls.set_active(true);
                dtls.handle_timeout(now).unwrap();
                self.dtls = Some(dtls);
                self.drain(&mut out);
            }
            return out;
        }
        if let Some(dtls) = self.dtls.as_mut()
            && data.first().is_some_and(|b| (20..64).contains(b))
        {
            dtls.handle_timeout(now).unwrap();
            dtls.handle_packet(data).unwrap();
            self.drain(&mut out);
        }
        out
    }

    fn timeout(&mut self, now: std::time::Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let Some(dtls) = self.dtls.as_mut() {
            dtls.handle_timeout(now).unwrap();
            self.drain(&mut out);
        }
        out
    }

    fn drain(&mut self, out: &mut Vec<Vec<u8>>) {
        let Some(dtls) = self.dtls.as_mut() else {
            return;
        };
        loop {
            match dtls.poll_output(&mut self.buf) {
                dimpl::Output::Packet(p) => out.push(p.to_vec()),
                dimpl::Output::Timeout(_) => break,
                dimpl::Output::PeerCert(der) => {
                    assert_eq!(
                        Fingerprint::of_der(der),
                        self.expected,
                        "our node's certificate"
                    );
                    self.verified = true;
                }
                dimpl::Output::KeyingMaterial(km, profile) => {
                    let profile = match profile {
                        dimpl::SrtpProfile::AEAD_AES_128_GCM => SrtpProfile::AeadAes128Gcm,
                        dimpl::SrtpProfile::AEAD_AES_256_GCM => SrtpProfile::AeadAes256Gcm,
                        _ => SrtpProfile::Aes128CmHmacSha1_80,
                    };
                    self.srtp = Some(
                        SrtpSession::from_dtls_keying(&km, profile, DtlsRole::Client).unwrap(),
                    );
                }
                _ => {}
            }
        }
    }

    /// One 20 ms Opus packet, once keyed.
    fn opus(&mut self, pt: u8) -> Option<Vec<u8>> {
        let srtp = self.srtp.as_mut()?;
        self.seq = self.seq.wrapping_add(1);
        let ts = u32::from(self.seq) * 960;
        let mut rtp = vec![0x80, pt, 0, 0];
        rtp[2..4].copy_from_slice(&self.seq.to_be_bytes());
        rtp.extend_from_slice(&ts.to_be_bytes());
        rtp.extend_from_slice(&SSRC.to_be_bytes());
        rtp.extend_from_slice(&[0x5a; 60]);
        Some(srtp.protect_rtp(&rtp).unwrap().to_vec())
    }
}

/// The first value of `a=<key>:` on the lines of `m=<kind>`'s section.
fn section_attr(sdp: &str, kind: &str, key: &str) -> String {
    let section = sdp.split("m=").find(|s| s.starts_with(kind)).unwrap();
    section
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("a={key}:")))
        .unwrap()
        .to_owned()
}

#[test]
fn we_stay_dtls_server_when_the_third_party_answers_active() {
    let mut w = World::new(21, 1);
    let tp_addr = peer_addr(9);
    w.add_sink(tp_addr);
    let viewer = w.add_peer(PeerConfig::new(peer_addr(0), 31).receive_audio());
    let now = w.now;
    let opened = w.nodes[0]
        .open_third_party(now, &[], &[ReceiveTrack::audio("agent-voice")])
        .unwrap();
    let offer = opened.offer.sdp.clone();
    let mid = section_attr(&offer, "audio", "mid");
    let opus_pt: u8 = section_attr(&offer, "audio", "rtpmap")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(offer.contains(&format!("a=rtpmap:{opus_pt} opus/48000/2")));
    let ours: Fingerprint = section_attr(&offer, "audio", "fingerprint")
        .parse()
        .unwrap();
    assert_eq!(&ours, w.nodes[0].fingerprint());

    let mut tp = ThirdParty {
        addr: tp_addr,
        dtls: None,
        certificate: certificate(),
        expected: ours,
        verified: false,
        srtp: None,
        checks_answered: 0,
        seq: 0,
        buf: vec![0; 2048],
    };
    let tp_fingerprint = Fingerprint::of_der(&tp.certificate.certificate);
    let answer = format!(
        "v=0\r\no=- 7 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n\
         a=group:BUNDLE {mid}\r\n\
         m=audio 9 UDP/TLS/RTP/SAVPF {opus_pt}\r\nc=IN IP4 0.0.0.0\r\n\
         a=mid:{mid}\r\na=sendonly\r\na=rtcp-mux\r\n\
         a=ice-ufrag:tpuf\r\na=ice-pwd:{PWD}\r\n\
         a=fingerprint:{tp_fingerprint}\r\na=setup:active\r\n\
         a=rtpmap:{opus_pt} opus/48000/2\r\n\
         a=msid:agent voice\r\na=ssrc:{SSRC} cname:agent\r\n\
         a=candidate:1 1 udp 2130706431 {} {} typ host\r\na=end-of-candidates\r\n",
        tp_addr.ip(),
        tp_addr.port()
    );
    let accepted = w.nodes[0]
        .accept_answer(now, opened.session, &answer)
        .unwrap();
    assert!(
        matches!(accepted.tracks[0].result, Ok(TrackState::Active)),
        "{accepted:?}"
    );
    w.flush();
    w.view(0, viewer, Some(opened.session));

    let mut next_opus = None;
    w.run_with(Duration::from_secs(3), &mut |w| {
        let now = w.now;
        let inbox = std::mem::take(w.sinks.get_mut(&tp.addr).unwrap());
        let mut replies = Vec::new();
        for d in inbox {
            replies.extend(tp.receive(now, &d));
        }
        replies.extend(tp.timeout(now));
        if tp.srtp.is_some() && next_opus.is_none_or(|t| t <= now) {
            replies.extend(tp.opus(opus_pt));
            next_opus = Some(now + Duration::from_millis(20));
        }
        for r in replies {
            w.nodes[0].handle_datagram(now, tp.addr, node_addr(0), &r);
        }
    });
    assert!(tp.verified, "the third party saw our certificate");
    assert!(tp.checks_answered >= 1);
    assert!(
        w.events[0]
            .iter()
            .any(|e| matches!(e, NodeEvent::Connected { session } if *session == opened.session)),
        "{}",
        w.trace
    );
    assert_eq!(
        w.nodes[0].endpoint().selected_path(opened.session),
        Some((tp_addr, node_addr(0)))
    );
    let got = received_on(&w, viewer, "0");
    assert!(
        got.len() > 80,
        "viewer got {} packets\n{}",
        got.len(),
        w.trace
    );
}
