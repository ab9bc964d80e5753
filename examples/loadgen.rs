//! Load generator: the `sfu-net` driver on 127.0.0.1 with one publisher and
//! N viewers in the same process, each a real client on its own loopback
//! UDP socket and thread (STUN check with USE-CANDIDATE, a `dimpl` DTLS 1.2
//! client with its own certificate, SRTP keyed from the DTLS exporter). The
//! publisher sends a steady VP8-shaped RTP stream (a keyframe first and on
//! every PLI); viewers decrypt and count what arrives.
//!
//! It reports the driver thread's CPU time per forwarded packet (utime +
//! stime of the thread named `sfu-driver`, divided by the router's
//! `rtp_forwarded`) next to a baseline measured in the same run: the CPU
//! time per packet of a raw `sendmmsg` of as many packets of the forwarded
//! size to as many loopback sinks, paced the same way. The last line of
//! output is one JSON object.
//!
//! Run: `cargo run --release --example loadgen [-- --viewers N --seconds S --pps P --size BYTES]`

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtc_stun::attributes::{
    ATTR_ICE_CONTROLLING, ATTR_PRIORITY, ATTR_USE_CANDIDATE, ATTR_USERNAME, RawAttribute,
};
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{BINDING_REQUEST, BINDING_SUCCESS, Message, Setter, TransactionId};
use rtc_stun::textattrs::TextAttribute;
use sfu::net::driver::{Driver, DriverConfig};
use sfu::net::sdp::Description;
use sfu::net::srtp::{DtlsRole, SrtpSession};
use sfu::net::{Fingerprint, SrtpProfile};

const VP8_PT: u8 = 96;
const RTX_PT: u8 = 97;
const PUBLISHER_SSRC: u32 = 0x4c47_0001;
const PUBLISHER_RTX_SSRC: u32 = 0x4c47_0002;
/// RTP packets per video frame: the first starts the VP8 partition.
const FRAME_PACKETS: u64 = 5;
/// Consent freshness (RFC 7675) needs a check well inside 30 s.
const CONSENT_INTERVAL: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long viewers keep reading after the publisher stopped.
const DRAIN: Duration = Duration::from_millis(500);

/// What the load run does.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Number of viewers of the one publisher.
    pub viewers: usize,
    /// How long the publisher sends.
    pub seconds: u64,
    /// Publisher packets per second.
    pub pps: u32,
    /// RTP packet size before SRTP (header + payload).
    pub packet_size: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            viewers: 20,
            seconds: 10,
            pps: 1000,
            packet_size: 1200,
        }
    }
}

/// What the run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The options it ran with.
    pub options: LoadOptions,
    /// RTP packets the publisher sent.
    pub sent_packets: u64,
    /// `rtp_received` of the router during the media phase: what reached
    /// the SFU from the publisher, decrypted.
    pub sfu_received_packets: u64,
    /// Datagrams and events the endpoint dropped (bounded queues).
    pub endpoint_dropped: u64,
    /// `rtp_forwarded` of the router during the media phase.
    pub forwarded_packets: u64,
    /// RTP packets each viewer received and decrypted.
    pub received_per_viewer: Vec<u64>,
    /// Media datagrams viewers could not decrypt.
    pub decrypt_failures: u64,
    /// Datagrams the driver's socket refused.
    pub driver_send_dropped: u64,
    /// The SRTP datagram size viewers received.
    pub wire_size: usize,
    /// CPU time of the driver thread during the media phase.
    pub sfu_cpu: Duration,
    /// Packets the raw baseline sent (as many as were forwarded).
    pub raw_send_packets: u64,
    /// Packets the raw baseline's socket refused.
    pub raw_send_refused: u64,
    /// CPU time of the baseline's sending thread.
    pub raw_send_cpu: Duration,
    /// Packets the paced baseline sent.
    pub raw_paced_send_packets: u64,
    /// Packets the paced baseline's socket refused.
    pub raw_paced_send_refused: u64,
    /// CPU time of the paced baseline's sending thread.
    pub raw_paced_send_cpu: Duration,
}

impl LoadReport {
    /// Decrypted RTP packets over all viewers.
    pub fn received_packets(&self) -> u64 {
        self.received_per_viewer.iter().sum()
    }

    /// What viewers would have received without loss.
    pub fn expected_packets(&self) -> u64 {
        self.sent_packets * self.options.viewers as u64
    }

    /// The fraction of expected packets that viewers did not receive.
    pub fn loss(&self) -> f64 {
        let expected = self.expected_packets();
        if expected == 0 {
            return 1.0;
        }
        1.0 - self.received_packets() as f64 / expected as f64
    }

    /// Driver CPU nanoseconds per forwarded packet.
    pub fn sfu_ns_per_packet(&self) -> f64 {
        per_packet(self.sfu_cpu, self.forwarded_packets)
    }

    /// Baseline CPU nanoseconds per raw `sendmmsg`ed packet, back to back.
    pub fn raw_ns_per_packet(&self) -> f64 {
        per_packet(self.raw_send_cpu, self.raw_send_packets)
    }

    /// The same, paced like the publisher.
    pub fn raw_paced_ns_per_packet(&self) -> f64 {
        per_packet(self.raw_paced_send_cpu, self.raw_paced_send_packets)
    }

    /// The whole report as one JSON object.
    pub fn to_json(&self) -> String {
        let finite = |x: f64| x.is_finite().then_some(x);
        let ratio = self.sfu_ns_per_packet() / self.raw_ns_per_packet();
        let ratio_paced = self.sfu_ns_per_packet() / self.raw_paced_ns_per_packet();
        serde_json::json!({
            "viewers": self.options.viewers,
            "seconds": self.options.seconds,
            "pps": self.options.pps,
            "packet_size": self.options.packet_size,
            "wire_size": self.wire_size,
            "sent_packets": self.sent_packets,
            "sfu_received_packets": self.sfu_received_packets,
            "endpoint_dropped": self.endpoint_dropped,
            "forwarded_packets": self.forwarded_packets,
            "expected_packets": self.expected_packets(),
            "received_packets": self.received_packets(),
            "min_received_by_a_viewer": self.received_per_viewer.iter().min(),
            "loss": self.loss(),
            "decrypt_failures": self.decrypt_failures,
            "driver_send_dropped": self.driver_send_dropped,
            "sfu_cpu_ms": self.sfu_cpu.as_secs_f64() * 1e3,
            "sfu_cpu_ns_per_forwarded_packet": finite(self.sfu_ns_per_packet()),
            "raw_send_packets": self.raw_send_packets,
            "raw_send_refused": self.raw_send_refused,
            "cpu_clock": cpu_clock(),
            "raw_send_cpu_ms": self.raw_send_cpu.as_secs_f64() * 1e3,
            "raw_send_cpu_ns_per_packet": finite(self.raw_ns_per_packet()),
            "raw_paced_send_refused": self.raw_paced_send_refused,
            "raw_paced_send_cpu_ns_per_packet": finite(self.raw_paced_ns_per_packet()),
            "ratio": finite(ratio),
            "ratio_vs_paced": finite(ratio_paced),
        })
        .to_string()
    }
}

fn per_packet(cpu: Duration, packets: u64) -> f64 {
    if packets == 0 {
        return f64::NAN;
    }
    cpu.as_nanos() as f64 / packets as f64
}

/// Runs the whole load: driver, clients, media phase, then the baseline.
/// Panics with a message when the setup fails (no driver, no handshake).
pub fn run(options: LoadOptions) -> LoadReport {
    assert!(
        options.viewers > 0 && options.pps > 0,
        "need viewers and pps"
    );
    assert!(options.packet_size >= 32, "packets need room for VP8");
    let before = threads_named("sfu-driver");
    let driver =
        Driver::spawn(DriverConfig::new("127.0.0.1:0".parse().unwrap())).expect("driver starts");
    // The new thread names itself once it runs: wait for it.
    let driver_tid = (0..1000)
        .find_map(|_| {
            let tid = threads_named("sfu-driver")
                .into_iter()
                .find(|t| !before.contains(t));
            if tid.is_none() {
                std::thread::sleep(Duration::from_millis(2));
            }
            tid
        })
        .expect("the sfu-driver thread");
    let driver_task = format!("/proc/self/task/{driver_tid}");
    let handle = driver.handle();

    // Publisher, every viewer and this thread meet once all are connected;
    // the publisher starts once this thread has taken the first readings.
    let connected = Arc::new(Barrier::new(options.viewers + 2));
    let go = Arc::new(Barrier::new(2));
    let stop = Arc::new(AtomicBool::new(false));

    let mut publisher = Client::new(0);
    let publication = handle
        .publish(&publisher.offer(Some((PUBLISHER_SSRC, PUBLISHER_RTX_SSRC))))
        .expect("publish offer answered");
    publisher.apply_answer(&publication.answer);
    let publisher_thread = {
        let (connected, go) = (connected.clone(), go.clone());
        std::thread::Builder::new()
            .name("lg-publisher".into())
            .spawn(move || {
                publisher.connect();
                connected.wait();
                go.wait();
                publisher.publish(options)
            })
            .unwrap()
    };

    let viewer_threads: Vec<JoinHandle<(u64, u64, usize)>> = (1..=options.viewers)
        .map(|i| {
            let mut viewer = Client::new(i);
            let viewing = handle
                .view(&viewer.offer(None), Some(publication.session), None)
                .expect("view offer answered");
            viewer.apply_answer(&viewing.answer);
            let (connected, stop) = (connected.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("lg-viewer-{i}"))
                .spawn(move || {
                    viewer.connect();
                    connected.wait();
                    viewer.view(&stop)
                })
                .unwrap()
        })
        .collect();

    connected.wait();
    let cpu_start = thread_cpu(&driver_task);
    let stats_start = handle.stats().expect("stats");
    go.wait();
    let sent_packets = publisher_thread.join().expect("publisher thread");
    std::thread::sleep(DRAIN);
    let cpu_end = thread_cpu(&driver_task);
    let stats_end = handle.stats().expect("stats");
    stop.store(true, Ordering::Relaxed);
    let mut received_per_viewer = Vec::with_capacity(options.viewers);
    let (mut decrypt_failures, mut wire_size) = (0, 0);
    for t in viewer_threads {
        let (received, failures, size) = t.join().expect("viewer thread");
        received_per_viewer.push(received);
        decrypt_failures += failures;
        wire_size = wire_size.max(size);
    }
    driver.shutdown();

    let forwarded_packets = stats_end.router.rtp_forwarded - stats_start.router.rtp_forwarded;
    let wire_size = if wire_size == 0 {
        options.packet_size
    } else {
        wire_size
    };
    let raw = raw_send(forwarded_packets, wire_size, options, false);
    let paced = raw_send(forwarded_packets, wire_size, options, true);
    LoadReport {
        options,
        sent_packets,
        forwarded_packets,
        received_per_viewer,
        decrypt_failures,
        sfu_received_packets: stats_end.router.rtp_received - stats_start.router.rtp_received,
        endpoint_dropped: (stats_end.endpoint.transmits_dropped
            + stats_end.endpoint.events_dropped)
            - (stats_start.endpoint.transmits_dropped + stats_start.endpoint.events_dropped),
        driver_send_dropped: stats_end.send_dropped - stats_start.send_dropped,
        wire_size,
        sfu_cpu: cpu_end.saturating_sub(cpu_start),
        raw_send_packets: raw.sent,
        raw_send_refused: raw.refused,
        raw_send_cpu: raw.cpu,
        raw_paced_send_packets: paced.sent,
        raw_paced_send_refused: paced.refused,
        raw_paced_send_cpu: paced.cpu,
    }
}

/// A browser stand-in: ICE controlling agent, DTLS client, SRTP.
struct Client {
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
    fn new(index: usize) -> Self {
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
    fn offer(&self, send: Option<(u32, u32)>) -> String {
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
    fn apply_answer(&mut self, answer: &str) {
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
    fn connect(&mut self) {
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
    fn publish(mut self, options: LoadOptions) -> u64 {
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
    fn view(mut self, stop: &AtomicBool) -> (u64, u64, usize) {
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
    out.extend_from_slice(&PUBLISHER_SSRC.to_be_bytes());
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

/// Thread ids in this process whose name is `name`.
fn threads_named(name: &str) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| t.ok())
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
        })
        .map(|t| t.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Which `/proc` file [`thread_cpu`] reads here.
fn cpu_clock() -> &'static str {
    match std::fs::metadata("/proc/thread-self/schedstat") {
        Ok(_) => "schedstat (ns)",
        Err(_) => "stat utime+stime (ticks)",
    }
}

/// The CPU time a thread has used: the nanosecond run time of its
/// `schedstat` when the kernel has one, else utime + stime of its `stat`
/// (clock ticks). `task` is a `/proc` task directory.
fn thread_cpu(task: &str) -> Duration {
    if let Some(ns) = std::fs::read_to_string(format!("{task}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
    {
        return Duration::from_nanos(ns);
    }
    let stat = std::fs::read_to_string(format!("{task}/stat")).expect("thread stat");
    // The name in parentheses may hold spaces: fields count from the last ')'.
    let after_name = &stat[stat.rfind(')').expect("stat format") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // proc(5): utime and stime are fields 14 and 15; field 3 is the first here.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / hz)
}

struct RawSend {
    sent: u64,
    refused: u64,
    cpu: Duration,
}

/// The baseline: `packets` datagrams of `size` bytes over loopback with
/// `sendmmsg`, one batch of one datagram per sink (as the SFU fans one
/// publisher packet out to every viewer), from a non-blocking socket like
/// the driver's. Back to back, or (`paced`) one batch per publisher packet
/// interval, which adds the sleep and wake-up the driver also pays. Sinks
/// are drained by their own threads, as viewers are.
fn raw_send(packets: u64, size: usize, options: LoadOptions, paced: bool) -> RawSend {
    let sinks: Vec<UdpSocket> = (0..options.viewers)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("sink socket"))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let drains: Vec<JoinHandle<()>> = sinks
        .iter()
        .map(|s| {
            let sink = s.try_clone().unwrap();
            sink.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let _ = sink.recv_from(&mut buf);
                }
            })
        })
        .collect();
    let addrs: Vec<SocketAddr> = sinks.iter().map(|s| s.local_addr().unwrap()).collect();
    let result = std::thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("baseline socket");
        socket.set_nonblocking(true).unwrap();
        let payload = vec![0xa5u8; size];
        let mut batch = mmsg::Batch::new(&addrs, &payload);
        let interval = Duration::from_secs(1) / options.pps;
        let (mut sent, mut refused) = (0u64, 0u64);
        let cpu_start = thread_cpu("/proc/thread-self");
        let start = Instant::now();
        let mut i = 0u32;
        while sent + refused < packets {
            let due = start + interval * i;
            let now = Instant::now();
            if paced && due > now {
                std::thread::sleep(due - now);
            }
            let n = (packets - sent - refused).min(addrs.len() as u64) as usize;
            let ok = batch.send(&socket, n) as u64;
            sent += ok;
            refused += n as u64 - ok;
            i += 1;
        }
        let cpu = thread_cpu("/proc/thread-self").saturating_sub(cpu_start);
        RawSend { sent, refused, cpu }
    })
    .join()
    .expect("baseline thread");
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    for d in drains {
        let _ = d.join();
    }
    result
}

/// `sendmmsg(2)` of one payload to several IPv4 addresses.
mod mmsg {
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;

    pub struct Batch {
        addrs: Vec<libc::sockaddr_in>,
        iov: libc::iovec,
        headers: Vec<libc::mmsghdr>,
    }

    impl Batch {
        pub fn new(addrs: &[SocketAddr], payload: &[u8]) -> Box<Self> {
            let addrs = addrs
                .iter()
                .map(|a| {
                    let SocketAddr::V4(a) = a else {
                        panic!("IPv4 loopback only")
                    };
                    libc::sockaddr_in {
                        sin_family: libc::AF_INET as libc::sa_family_t,
                        sin_port: a.port().to_be(),
                        sin_addr: libc::in_addr {
                            s_addr: u32::from_ne_bytes(a.ip().octets()),
                        },
                        sin_zero: [0; 8],
                    }
                })
                .collect::<Vec<_>>();
            let mut batch = Box::new(Batch {
                headers: Vec::with_capacity(addrs.len()),
                addrs,
                iov: libc::iovec {
                    iov_base: payload.as_ptr() as *mut _,
                    iov_len: payload.len(),
                },
            });
            // The headers point into the boxed batch (addresses, iovec),
            // which does not move while the Box lives; the payload outlives
            // the batch at its only call site.
            let iov = &mut batch.iov as *mut libc::iovec;
            for i in 0..batch.addrs.len() {
                // SAFETY: an all-zero msghdr is a valid empty header.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_name = &mut batch.addrs[i] as *mut libc::sockaddr_in as *mut _;
                h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                batch.headers.push(h);
            }
            batch
        }

        /// Sends to the first `n` addresses; returns how many went out.
        pub fn send(&mut self, socket: &UdpSocket, n: usize) -> usize {
            let n = n.min(self.headers.len());
            let mut done = 0;
            while done < n {
                // SAFETY: headers[done..n] are initialised and point at live
                // addresses and the iovec (see `new`); the kernel only reads
                // them and writes msg_len.
                let r = unsafe {
                    libc::sendmmsg(
                        socket.as_raw_fd(),
                        self.headers.as_mut_ptr().add(done),
                        (n - done) as libc::c_uint,
                        0,
                    )
                };
                if r <= 0 {
                    // Non-blocking and full: the rest is refused, as the driver's would be.
                    break;
                }
                done += r as usize;
            }
            done
        }
    }
}

fn main() {
    let mut opts = LoadOptions::default();
    let args: Vec<String> = std::env::args().collect();
    for pair in args[1..].chunks(2) {
        match (
            pair[0].as_str(),
            pair.get(1).and_then(|v| v.parse::<u64>().ok()),
        ) {
            ("--viewers", Some(n)) if n > 0 => opts.viewers = n as usize,
            ("--seconds", Some(n)) if n > 0 => opts.seconds = n,
            ("--pps", Some(n)) if n > 0 => opts.pps = n as u32,
            ("--size", Some(n)) if n >= 32 => opts.packet_size = n as usize,
            _ => {
                eprintln!("usage: loadgen [--viewers N] [--seconds S] [--pps P] [--size BYTES]");
                std::process::exit(2);
            }
        }
    }
    let r = run(opts);
    println!(
        "publisher sent {} RTP packets of {} bytes ({} on the wire) at {} pps for {} s",
        r.sent_packets, opts.packet_size, r.wire_size, opts.pps, opts.seconds
    );
    println!(
        "{} viewers decrypted {} of {} ({:.3}% loss; fewest by one viewer: {}), {} decrypt failures",
        opts.viewers,
        r.received_packets(),
        r.expected_packets(),
        r.loss() * 100.0,
        r.received_per_viewer.iter().min().unwrap_or(&0),
        r.decrypt_failures
    );
    println!(
        "the SFU received {} of them; {} forwarded; endpoint dropped {}, socket refused {}",
        r.sfu_received_packets, r.forwarded_packets, r.endpoint_dropped, r.driver_send_dropped
    );
    println!(
        "sfu-driver thread: {:.1} ms CPU for {} forwarded packets = {:.0} ns/packet",
        r.sfu_cpu.as_secs_f64() * 1e3,
        r.forwarded_packets,
        r.sfu_ns_per_packet()
    );
    println!(
        "raw sendmmsg baseline: {:.1} ms CPU for {} packets = {:.0} ns/packet; ratio {:.2}",
        r.raw_send_cpu.as_secs_f64() * 1e3,
        r.raw_send_packets,
        r.raw_ns_per_packet(),
        r.sfu_ns_per_packet() / r.raw_ns_per_packet()
    );
    println!(
        "raw sendmmsg paced at {} batches/s: {:.1} ms CPU = {:.0} ns/packet; ratio {:.2}",
        opts.pps,
        r.raw_paced_send_cpu.as_secs_f64() * 1e3,
        r.raw_paced_ns_per_packet(),
        r.sfu_ns_per_packet() / r.raw_paced_ns_per_packet()
    );
    println!("{}", r.to_json());
}
