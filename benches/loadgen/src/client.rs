//! The load generator's clients: a browser stand-in per UDP socket (ICE
//! controlling agent with rtc-stun checks, a dimpl DTLS 1.2 client, SRTP
//! keyed from its exporter), a paced VP8 publisher and counting viewers.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rtc_stun::attributes::{
    ATTR_ICE_CONTROLLING, ATTR_PRIORITY, ATTR_USE_CANDIDATE, ATTR_USERNAME, RawAttribute,
};
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{BINDING_REQUEST, BINDING_SUCCESS, Message, Setter, TransactionId};
use rtc_stun::textattrs::TextAttribute;
use sfu_net::sdp::Description;
use sfu_net::srtp::{DtlsRole, SrtpSession};
use sfu_net::{Fingerprint, SrtpProfile};

use super::LoadOptions;

const VP8_PT: u8 = 96;
const RTX_PT: u8 = 97;
/// The publisher's SSRCs, announced in its offer.
pub const PUBLISHER_SSRCS: (u32, u32) = (0x4c47_0001, 0x4c47_0002);
/// RTP packets per video frame: the first starts the VP8 partition.
const FRAME_PACKETS: u64 = 5;
/// Consent freshness (RFC 7675) needs a check well inside 30 s.
const CONSENT_INTERVAL: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A browser stand-in: ICE controlling agent, DTLS client, SRTP.
pub struct Client {
    socket: UdpSocket,
    server: SocketAddr,
    ufrag: String,
    pwd: String,
    server_ufrag: String,
    server_pwd: String,
    fingerprint: Fingerprint,
    dtls: dimpl::Dtls,
    srtp: Option<SrtpSession>,
    sfu_ssrcs: Vec<u32>,
    connected: bool,
    dtls_timeout: Option<Instant>,
    dtls_out: Vec<Vec<u8>>,
    scratch: Vec<u8>,
    /// The publisher answers a PLI with a keyframe.
    keyframe_requested: bool,
    last_check: Instant,
}

impl Client {
    pub fn new(index: usize) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("client socket");
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec![format!("loadgen{index}")])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let certificate = dimpl::DtlsCertificate {
            certificate: cert.der().to_vec(),
            private_key: key.serialize_der(),
        };
        let fingerprint = Fingerprint::of_der(&certificate.certificate);
        let mut dtls = dimpl::Dtls::new_12(
            Arc::new(dimpl::Config::default()),
            certificate,
            Instant::now(),
        );
        dtls.set_active(true);
        Self {
            socket,
            server: "127.0.0.1:9".parse().unwrap(),
            ufrag: format!("lg{index:04}"),
            pwd: format!("loadgenIcePassword{index:08}"),
            server_ufrag: String::new(),
            server_pwd: String::new(),
            fingerprint,
            dtls,
            srtp: None,
            sfu_ssrcs: Vec::new(),
            connected: false,
            dtls_timeout: None,
            dtls_out: Vec::new(),
            scratch: vec![0; 4096],
            keyframe_requested: false,
            last_check: Instant::now(),
        }
    }

    /// A Chromium-shaped offer with one video section: `sendonly` with
    /// SSRCs for the publisher, `recvonly` for a viewer.
    pub fn offer(&self, send: Option<(u32, u32)>) -> String {
        let port = self.socket.local_addr().unwrap().port();
        let mut sdp = format!(
            "v=0\r\no=- {port} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
             a=group:BUNDLE 0\r\na=msid-semantic: WMS loadgen\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF {VP8_PT} {RTX_PT}\r\nc=IN IP4 127.0.0.1\r\n\
             a=rtcp:9 IN IP4 0.0.0.0\r\n\
             a=candidate:1 1 udp 2122260223 127.0.0.1 {port} typ host generation 0\r\n\
             a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n\
             a=fingerprint:sha-256 {}\r\na=setup:actpass\r\na=mid:0\r\n",
            self.ufrag,
            self.pwd,
            self.fingerprint.sdp_value()
        );
        sdp.push_str(if send.is_some() {
            "a=sendonly\r\na=msid:loadgen video\r\n"
        } else {
            "a=recvonly\r\n"
        });
        sdp.push_str(&format!(
            "a=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:{VP8_PT} VP8/90000\r\n\
             a=rtcp-fb:{VP8_PT} ccm fir\r\na=rtcp-fb:{VP8_PT} nack\r\n\
             a=rtcp-fb:{VP8_PT} nack pli\r\na=rtpmap:{RTX_PT} rtx/90000\r\n\
             a=fmtp:{RTX_PT} apt={VP8_PT}\r\n"
        ));
        if let Some((ssrc, rtx)) = send {
            sdp.push_str(&format!(
                "a=ssrc-group:FID {ssrc} {rtx}\r\n\
                 a=ssrc:{ssrc} cname:loadgen\r\na=ssrc:{ssrc} msid:loadgen video\r\n\
                 a=ssrc:{rtx} cname:loadgen\r\na=ssrc:{rtx} msid:loadgen video\r\n"
            ));
        }
        sdp
    }

    /// Reads the SFU's ICE credentials, its candidate and its SSRCs.
    pub fn apply_answer(&mut self, answer: &str) {
        let desc = Description::parse(answer).expect("the answer parses");
        let ice = desc.ice.expect("the answer has ICE credentials");
        self.server_ufrag = ice.ufrag;
        self.server_pwd = ice.pwd;
        let section = desc.sections.first().expect("an answered section");
        self.server = section
            .candidates
            .first()
            .expect("the answer has a candidate")
            .address;
        self.sfu_ssrcs = desc
            .sections
            .iter()
            .flat_map(|s| s.ssrcs.iter().map(|i| i.ssrc))
            .collect();
    }

    fn send(&self, data: &[u8]) {
        // A full socket buffer loses the datagram, as a real network would.
        let _ = self.socket.send_to(data, self.server);
    }

    fn send_check(&mut self, nominate: bool) {
        let check = binding_request(&self.server_ufrag, &self.ufrag, &self.server_pwd, nominate);
        self.send(&check);
        self.last_check = Instant::now();
    }

    /// ICE check, then the DTLS handshake to completion.
    pub fn connect(&mut self) {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        self.socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        self.send_check(true);
        let mut checked = false;
        let mut buf = vec![0u8; 2048];
        while !(self.connected && self.srtp.is_some()) {
            let now = Instant::now();
            assert!(now < deadline, "client {} did not connect", self.ufrag);
            if !checked && now - self.last_check > Duration::from_millis(200) {
                self.send_check(true);
            }
            if let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                let data = &buf[..n];
                match data.first() {
                    Some(0..=3) if !checked => {
                        checked = verify_binding_response(data, &self.server_pwd);
                        if checked {
                            // The path is verified: the ClientHello can go.
                            self.dtls.handle_timeout(Instant::now()).unwrap();
                            self.drain_dtls();
                        }
                    }
                    Some(20..=63) => {
                        self.dtls.handle_timeout(Instant::now()).unwrap();
                        if self.dtls.handle_packet(data).is_ok() {
                            self.drain_dtls();
                        }
                    }
                    _ => {}
                }
            }
            if checked && self.dtls_timeout.is_some_and(|t| t <= Instant::now()) {
                self.dtls.handle_timeout(Instant::now()).unwrap();
                self.drain_dtls();
            }
            for d in std::mem::take(&mut self.dtls_out) {
                self.send(&d);
            }
        }
    }

    fn drain_dtls(&mut self) {
        loop {
            match self.dtls.poll_output(&mut self.scratch) {
                dimpl::Output::Packet(p) => self.dtls_out.push(p.to_vec()),
                dimpl::Output::Timeout(t) => {
                    self.dtls_timeout = Some(t);
                    break;
                }
                dimpl::Output::Connected => self.connected = true,
                dimpl::Output::KeyingMaterial(km, profile) => {
                    let profile = match profile {
                        dimpl::SrtpProfile::AEAD_AES_128_GCM => SrtpProfile::AeadAes128Gcm,
                        dimpl::SrtpProfile::AEAD_AES_256_GCM => SrtpProfile::AeadAes256Gcm,
                        _ => SrtpProfile::Aes128CmHmacSha1_80,
                    };
                    let mut srtp = SrtpSession::from_dtls_keying(&km, profile, DtlsRole::Client)
                        .expect("SRTP keys from the exporter");
                    for &ssrc in &self.sfu_ssrcs {
                        srtp.allow_remote_ssrc(ssrc);
                    }
                    // The SFU's RTCP to a publisher comes from an SSRC no SDP names.
                    srtp.learn_remote_ssrcs(self.sfu_ssrcs.len() + 4);
                    self.srtp = Some(srtp);
                }
                dimpl::Output::BufferTooSmall { needed } => self.scratch.resize(needed, 0),
                _ => {}
            }
        }
    }

    /// Sends the paced VP8 stream for `options.seconds`; returns how many
    /// RTP packets went out.
    pub fn publish(mut self, options: LoadOptions) -> u64 {
        self.socket.set_nonblocking(true).unwrap();
        let interval = Duration::from_secs(1) / options.pps;
        let ts_step = (90_000 * FRAME_PACKETS / u64::from(options.pps)).max(1) as u32;
        let start = Instant::now();
        let end = start + Duration::from_secs(options.seconds);
        let mut packet = Vec::with_capacity(options.packet_size + 64);
        let mut buf = vec![0u8; 2048];
        let mut sent = 0u64;
        self.keyframe_requested = true;
        for i in 0u64.. {
            let due = start + interval * i as u32;
            if due >= end {
                break;
            }
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let frame_start = i % FRAME_PACKETS == 0;
            let keyframe = frame_start && std::mem::take(&mut self.keyframe_requested);
            vp8_rtp(
                &mut packet,
                i,
                ts_step,
                frame_start,
                keyframe,
                options.packet_size,
            );
            let srtp = self.srtp.as_mut().expect("keyed");
            if srtp.protect_rtp_in_place(&mut packet).is_ok()
                && self.socket.send_to(&packet, self.server).is_ok()
            {
                sent += 1;
            }
            while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                self.publisher_input(&buf[..n]);
            }
            if self.last_check.elapsed() > CONSENT_INTERVAL {
                self.send_check(false);
            }
        }
        sent
    }

    /// Watches the SFU's RTCP for keyframe requests (PLI or FIR).
    fn publisher_input(&mut self, data: &[u8]) {
        let Some(srtp) = self.srtp.as_mut() else {
            return;
        };
        if !matches!(data.first(), Some(128..=191)) || !matches!(data.get(1), Some(192..=223)) {
            return;
        }
        let Ok(rtcp) = srtp.unprotect_rtcp(data) else {
            return;
        };
        let mut rest = &rtcp[..];
        while rest.len() >= 4 {
            let (fmt, pt) = (rest[0] & 0x1f, rest[1]);
            if pt == 206 && (fmt == 1 || fmt == 4) {
                self.keyframe_requested = true;
            }
            let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
            rest = rest.get(len..).unwrap_or(&[]);
        }
    }

    /// Receives until `stop`; returns (RTP decrypted, media datagrams that
    /// failed to decrypt, the largest SRTP datagram seen).
    pub fn view(mut self, stop: &AtomicBool) -> (u64, u64, usize) {
        self.socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let (mut received, mut failures, mut size) = (0u64, 0u64, 0usize);
        let mut buf = vec![0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if self.last_check.elapsed() > CONSENT_INTERVAL {
                self.send_check(false);
            }
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let is_media = matches!(buf.first(), Some(128..=191));
            let is_rtcp = matches!(buf.get(1), Some(192..=223));
            let Some(srtp) = self.srtp.as_mut().filter(|_| is_media) else {
                continue;
            };
            if is_rtcp {
                failures += u64::from(srtp.unprotect_rtcp(&buf[..n]).is_err());
                continue;
            }
            match srtp.unprotect_rtp_in_place(&mut buf[..n]) {
                Ok(_) => {
                    received += 1;
                    size = size.max(n);
                }
                Err(_) => failures += 1,
            }
        }
        (received, failures, size)
    }
}

/// One VP8 packet (RFC 7741 descriptor; frame tag P bit clear on keyframes).
fn vp8_rtp(out: &mut Vec<u8>, i: u64, ts_step: u32, start: bool, key: bool, size: usize) {
    let frame = (i / FRAME_PACKETS) as u32;
    let marker = i % FRAME_PACKETS == FRAME_PACKETS - 1;
    out.clear();
    out.extend_from_slice(&[0x80, VP8_PT | if marker { 0x80 } else { 0 }]);
    out.extend_from_slice(&(i as u16).to_be_bytes());
    out.extend_from_slice(&frame.wrapping_mul(ts_step).to_be_bytes());
    out.extend_from_slice(&PUBLISHER_SSRCS.0.to_be_bytes());
    out.push(if start { 0x10 } else { 0x00 });
    out.push(if key { 0x00 } else { 0x01 });
    out.resize(size, (i & 0xff) as u8);
}

fn binding_request(server_ufrag: &str, ufrag: &str, pwd: &str, nominate: bool) -> Vec<u8> {
    let provider = rtc_stun::crypto::default_provider().unwrap();
    let value = |typ, value: Vec<u8>| RawAttribute {
        typ,
        length: 0,
        value,
    };
    let mut setters: Vec<Box<dyn Setter + '_>> = vec![
        Box::new(BINDING_REQUEST),
        Box::new(TransactionId::new()),
        Box::new(TextAttribute::new(
            ATTR_USERNAME,
            format!("{server_ufrag}:{ufrag}"),
        )),
        Box::new(value(ATTR_PRIORITY, 0x6e00_01ffu32.to_be_bytes().to_vec())),
        Box::new(value(ATTR_ICE_CONTROLLING, 42u64.to_be_bytes().to_vec())),
    ];
    if nominate {
        setters.push(Box::new(value(ATTR_USE_CANDIDATE, Vec::new())));
    }
    setters.push(Box::new(
        MessageIntegrity::new_short_term_integrity_with_provider(
            pwd.to_string(),
            provider.crypto(),
        ),
    ));
    setters.push(Box::new(FINGERPRINT));
    let mut m = Message::new();
    m.build(&setters).unwrap();
    m.raw
}

fn verify_binding_response(data: &[u8], pwd: &str) -> bool {
    let provider = rtc_stun::crypto::default_provider().unwrap();
    let mut m = Message::new();
    m.unmarshal_binary(data).is_ok()
        && m.typ == BINDING_SUCCESS
        && FINGERPRINT.check(&m).is_ok()
        && MessageIntegrity::check(&mut m, pwd.as_bytes(), provider.crypto()).is_ok()
}
