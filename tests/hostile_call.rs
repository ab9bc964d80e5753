//! A live call through the reference server process while every attack of
//! issue 10 hits it at once, on both planes. A publisher and an honest
//! viewer (real DTLS-SRTP peers over loopback UDP, set up by WHIP/WHEP)
//! must keep flowing; a hostile viewer with real credentials of its own
//! floods NACKs, sends a transport-cc feedback whose status count does not
//! fit its length, SRTCP from SSRCs nobody announced, DTLS junk on its own
//! path, and replays its own captured checks from another address; a
//! stranger floods STUN with the honest viewer's ufrag and a wrong
//! MESSAGE-INTEGRITY and random junk; the HTTP side gets a session flood
//! from one address and idle half-requests. The server's memory must stay
//! bounded and its HTTP side must keep answering.

#[allow(dead_code)]
mod support;

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sfu_testkit::forged;
use sfu_testkit::peer::{Direction, Peer, PeerConfig};
use sfu_testkit::rng::Rng;
use support::server::{Server, get, request, rss_kib, start};

/// How long the attack runs while the call goes on.
const ATTACK: Duration = Duration::from_secs(10);
/// Video packets per frame, frames per second.
const PACKETS_PER_FRAME: usize = 5;
const FPS: u32 = 30;

/// A test peer on its own loopback socket.
struct Wire {
    socket: UdpSocket,
    peer: Peer,
    bytes_received: u64,
    /// Its binding requests with USE-CANDIDATE, as sent (for replays).
    nominations: Vec<Vec<u8>>,
}

impl Wire {
    fn new(seed: u64, configure: impl FnOnce(PeerConfig) -> PeerConfig) -> Wire {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        socket.set_nonblocking(true).unwrap();
        let config = configure(PeerConfig::new(socket.local_addr().unwrap(), seed));
        Wire {
            socket,
            peer: Peer::new(Instant::now(), config),
            bytes_received: 0,
            nominations: Vec::new(),
        }
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = self.socket.recv_from(&mut buf) {
            self.bytes_received += n as u64;
            self.peer.handle_datagram(Instant::now(), from, &buf[..n]);
        }
        let now = Instant::now();
        if self.peer.poll_timeout().is_some_and(|t| t <= now) {
            self.peer.handle_timeout(now);
        }
        while let Some((to, data)) = self.peer.poll_transmit() {
            if is_nomination(&data) && self.nominations.len() < 8 {
                self.nominations.push(data.clone());
            }
            let _ = self.socket.send_to(&data, to);
        }
    }

    /// The mid of its first receiving section.
    fn receiving_mid(&self) -> String {
        self.peer
            .mids()
            .into_iter()
            .find(|(_, d)| matches!(d, Direction::RecvOnly | Direction::SendRecv))
            .map(|(m, _)| m)
            .expect("a receiving section")
    }
}

/// A STUN binding request carrying USE-CANDIDATE (0x0025).
fn is_nomination(d: &[u8]) -> bool {
    if d.len() < 20 || d[0..2] != [0x00, 0x01] {
        return false;
    }
    let mut i = 20;
    while i + 4 <= d.len() {
        let kind = u16::from_be_bytes([d[i], d[i + 1]]);
        let len = u16::from_be_bytes([d[i + 2], d[i + 3]]) as usize;
        if kind == 0x0025 {
            return true;
        }
        i += 4 + len.div_ceil(4) * 4;
    }
    false
}

fn ice_ufrag(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
        .expect("an ice-ufrag")
        .to_owned()
}

/// WHIP or WHEP: the offer of `wire`, the server's answer applied.
fn negotiate(server: &Server, path: &str, wire: &mut Wire) -> String {
    let offer = wire.peer.create_offer();
    let (status, answer) = request(
        server,
        "POST",
        path,
        &[("Content-Type", "application/sdp")],
        &offer,
    )
    .expect("an answer");
    assert_eq!(status, 201, "{path}: {answer}");
    wire.peer.apply_answer(&answer).expect("the answer applies");
    answer
}

fn connect(wires: &mut [&mut Wire]) {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        for w in wires.iter_mut() {
            w.pump();
        }
        if wires.iter().all(|w| w.peer.is_connected()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the peers did not connect");
}

/// RR + five generic NACKs of 64 `(PID, BLP = 0xFFFF)` pairs each, PID 16
/// packets behind `newest`: 1.4 KB asking for ~1 000 packets.
fn nack_flood(sender: u32, media: u32, newest: u16) -> Vec<u8> {
    let mut c = vec![0x80, 201, 0, 1];
    c.extend_from_slice(&sender.to_be_bytes());
    for _ in 0..5 {
        // FMT 1, PT 205, length (2 + 64) words.
        c.extend_from_slice(&[0x81, 205, 0, 66]);
        c.extend_from_slice(&sender.to_be_bytes());
        c.extend_from_slice(&media.to_be_bytes());
        for k in 0..64u16 {
            let pid = newest.wrapping_sub(16).wrapping_sub(k.wrapping_mul(17));
            c.extend_from_slice(&pid.to_be_bytes());
            c.extend_from_slice(&[0xff, 0xff]);
        }
    }
    c
}

/// A 40-byte transport-cc feedback claiming 65 535 packet statuses.
fn twcc_bomb(sender: u32, media: u32) -> Vec<u8> {
    let mut c = vec![0x8f, 205, 0, 9];
    c.extend_from_slice(&sender.to_be_bytes());
    c.extend_from_slice(&media.to_be_bytes());
    c.extend_from_slice(&[0, 1, 0xff, 0xff, 0, 0, 1, 0]);
    c.resize(40, 0x20);
    c
}

/// SRTCP-shaped bytes from an SSRC nobody announced, with a random tag.
fn srtcp_forgery(rng: &mut Rng) -> Vec<u8> {
    let mut c = vec![0x80, 200, 0, 6];
    c.extend((0..4 + 24).map(|_| rng.next_u64() as u8));
    c.extend_from_slice(&[0x80, 0, 0, 1]);
    c.extend((0..16).map(|_| rng.next_u64() as u8));
    c
}

/// A DTLS 1.2 handshake record holding a random fragment.
fn dtls_junk(rng: &mut Rng, message_seq: u16) -> Vec<u8> {
    let body: Vec<u8> = (0..40).map(|_| rng.next_u64() as u8).collect();
    let mut handshake = vec![1, 0, 1, 0];
    handshake.extend_from_slice(&message_seq.to_be_bytes());
    handshake.extend_from_slice(&[0, 0, 0, 0, 0, body.len() as u8]);
    handshake.extend_from_slice(&body);
    let mut r = vec![22, 0xfe, 0xfd, 0, 0];
    r.extend((0..6).map(|_| rng.next_u64() as u8));
    r.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    r.extend_from_slice(&handshake);
    r
}

#[test]
fn a_live_call_keeps_flowing_while_every_attack_hits_the_server() {
    let server = start(None, &["--log", "error"]);
    let pid = server.child.id();

    let mut publisher = Wire::new(1, |c| c.send_video());
    negotiate(&server, "/whip/live", &mut publisher);
    let mut honest = Wire::new(2, |c| c.receive_video());
    let honest_answer = negotiate(&server, "/whep/live", &mut honest);
    let mut hostile = Wire::new(3, |c| c.receive_video());
    negotiate(&server, "/whep/live", &mut hostile);
    connect(&mut [&mut publisher, &mut honest, &mut hostile]);
    let media_mid = publisher.peer.mids()[0].0.clone();
    let hostile_mid = hostile.receiving_mid();
    let honest_ufrags = (ice_ufrag(&honest_answer), honest.peer.ufrag().to_owned());
    let sfu = publisher.peer.sending_ssrcs(&media_mid);
    assert!(!sfu.is_empty());

    // Let media flow for a second, then measure from a settled call.
    let mut frame = 0u64;
    let mut next_frame = Instant::now();
    let send_media = |publisher: &mut Wire, next_frame: &mut Instant, frame: &mut u64| {
        if Instant::now() >= *next_frame {
            let keyframe = frame.is_multiple_of(u64::from(FPS));
            publisher
                .peer
                .send_vp8_frame(
                    Instant::now(),
                    &media_mid,
                    None,
                    keyframe,
                    PACKETS_PER_FRAME,
                )
                .expect("the publisher sends");
            *frame += 1;
            *next_frame += Duration::from_secs(1) / FPS;
        }
    };
    let warm = Instant::now() + Duration::from_secs(1);
    while Instant::now() < warm {
        send_media(&mut publisher, &mut next_frame, &mut frame);
        for w in [&mut publisher, &mut honest, &mut hostile] {
            w.pump();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        honest.peer.stats().rtp_received > 0,
        "no media before the attack"
    );
    let rss_before = rss_kib(pid);

    // The stranger's flood, on its own thread: STUN with the honest
    // viewer's ufrag and a wrong MESSAGE-INTEGRITY, and random junk.
    let stop = Arc::new(AtomicBool::new(false));
    let flooded = Arc::new(AtomicU64::new(0));
    let media_addr = honest.peer.remote_addr().expect("the SFU's media address");
    let flood = {
        let (stop, flooded) = (Arc::clone(&stop), Arc::clone(&flooded));
        std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut rng = Rng::new(99);
            while !stop.load(Ordering::Relaxed) {
                for k in 0..200 {
                    let d = if k % 10 == 0 {
                        (0..1 + rng.below(300))
                            .map(|_| rng.next_u64() as u8)
                            .collect()
                    } else {
                        forged::check_with_wrong_integrity(
                            &mut rng,
                            &honest_ufrags.0,
                            &honest_ufrags.1,
                        )
                    };
                    let _ = socket.send_to(&d, media_addr);
                }
                flooded.fetch_add(200, Ordering::Relaxed);
                // About 20 000 datagrams a second.
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    // Idle half-requests on the HTTP side.
    let half_open: Vec<TcpStream> = (0..20)
        .filter_map(|_| {
            let mut s = TcpStream::connect(server.http).ok()?;
            s.write_all(b"POST /whip/live HTTP/1.1\r\nContent-Le")
                .ok()?;
            Some(s)
        })
        .collect();

    let replayer = UdpSocket::bind("127.0.0.1:0").unwrap();
    replayer.set_nonblocking(true).unwrap();
    let mut rng = Rng::new(7);
    let sent_before = publisher.peer.stats().rtp_sent;
    let honest_before = honest.peer.stats().rtp_received;
    let hostile_bytes_before = hostile.bytes_received;
    let honest_bytes_before = honest.bytes_received;
    let (mut nack_bytes, mut refused_sessions, mut replayed) = (0u64, 0u32, 0u32);
    let mut last_honest = Instant::now();
    let mut longest_gap = Duration::ZERO;
    let mut slowest_health = Duration::ZERO;
    let mut next_attack = Instant::now();
    let mut next_health = Instant::now();
    let mut message_seq = 0u16;
    let mut hostile_last_media = Instant::now();
    let start_attack = Instant::now();
    while start_attack.elapsed() < ATTACK {
        send_media(&mut publisher, &mut next_frame, &mut frame);
        let (got_before, hostile_got_before) = (
            honest.peer.stats().rtp_received,
            hostile.peer.stats().rtp_received,
        );
        for w in [&mut publisher, &mut honest, &mut hostile] {
            w.pump();
        }
        let now = Instant::now();
        if honest.peer.stats().rtp_received > got_before {
            longest_gap = longest_gap.max(now - last_honest);
            last_honest = now;
        }
        if hostile.peer.stats().rtp_received > hostile_got_before {
            hostile_last_media = now;
        }
        if now >= next_attack {
            next_attack += Duration::from_millis(50);
            let sender = hostile.peer.rtcp_ssrc();
            let media = hostile.peer.remote_ssrcs(&hostile_mid)[0].0;
            let newest = hostile
                .peer
                .received()
                .back()
                .map(|r| r.seq)
                .unwrap_or_default();
            let flood = nack_flood(sender, media, newest);
            nack_bytes += flood.len() as u64;
            hostile.peer.send_rtcp_compound(&flood).unwrap();
            hostile
                .peer
                .send_rtcp_compound(&twcc_bomb(sender, media))
                .unwrap();
            let hostile_sfu = hostile.peer.remote_addr().unwrap();
            for _ in 0..20 {
                let _ = hostile
                    .socket
                    .send_to(&srtcp_forgery(&mut rng), hostile_sfu);
            }
            for _ in 0..40 {
                message_seq = message_seq.wrapping_add(1);
                let _ = hostile
                    .socket
                    .send_to(&dtls_junk(&mut rng, message_seq), hostile_sfu);
            }
            if let Some(check) = hostile.nominations.first() {
                let _ = replayer.send_to(check, hostile_sfu);
                replayed += 1;
            }
        }
        if now >= next_health {
            next_health += Duration::from_millis(500);
            let t0 = Instant::now();
            let healthy = get(&server, "/healthz").is_some_and(|(s, _)| s == 200);
            assert!(healthy, "/healthz did not answer during the attack");
            slowest_health = slowest_health.max(t0.elapsed());
            // One address opening sessions without credentials.
            let offer = Wire::new(50 + u64::from(refused_sessions), |c| c.receive_video())
                .peer
                .create_offer();
            if let Some((429, _)) = request(
                &server,
                "POST",
                "/whep/live",
                &[("Content-Type", "application/sdp")],
                &offer,
            ) {
                refused_sessions += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    stop.store(true, Ordering::Relaxed);
    flood.join().unwrap();
    drop(half_open);

    let sent = publisher.peer.stats().rtp_sent - sent_before;
    let received = honest.peer.stats().rtp_received - honest_before;
    let honest_bytes = honest.bytes_received - honest_bytes_before;
    let hostile_bytes = hostile.bytes_received - hostile_bytes_before;
    let rss_after = rss_kib(pid);
    let mut replay_reached = 0;
    let mut buf = [0u8; 2048];
    while replayer.recv_from(&mut buf).is_ok() {
        replay_reached += 1;
    }
    let (_, metrics) = get(&server, "/metrics").expect("metrics");
    println!(
        "attack: {} stranger datagrams, {nack_bytes} NACK bytes, {replayed} replays, {refused_sessions} sessions refused",
        flooded.load(Ordering::Relaxed)
    );
    println!(
        "honest viewer: {received} of {sent} packets, longest gap {longest_gap:?}, {honest_bytes} bytes"
    );
    println!(
        "hostile viewer: {hostile_bytes} bytes ({:.2}x the honest viewer's, {:.2}x its NACK bytes)",
        hostile_bytes as f64 / honest_bytes.max(1) as f64,
        hostile_bytes.saturating_sub(honest_bytes) as f64 / nack_bytes.max(1) as f64
    );
    println!("server: RSS {rss_before} -> {rss_after} KiB, slowest /healthz {slowest_health:?}");
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("sfu_dropped_total"))
    {
        println!("  {line}");
    }

    assert!(
        received * 100 >= sent * 95,
        "the honest viewer got {received} of {sent}"
    );
    assert!(longest_gap < Duration::from_secs(1), "gap {longest_gap:?}");
    // Retransmissions to the flooder stay a fraction of the stream itself
    // (legitimate repair of real loss fits well inside that).
    assert!(
        hostile_bytes <= honest_bytes + honest_bytes / 2,
        "the NACK flood drew {hostile_bytes} bytes against the stream's {honest_bytes}"
    );
    // DTLS junk and forgeries on its own path did not end its session.
    assert!(
        hostile_last_media.elapsed() < Duration::from_secs(1),
        "the hostile viewer's session stopped"
    );
    assert_eq!(replay_reached, 0, "a replayed check moved media");
    assert!(
        refused_sessions > 0,
        "one address opened sessions unbounded"
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew {rss_before} -> {rss_after} KiB"
    );
}
