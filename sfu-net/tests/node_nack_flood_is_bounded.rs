//! A NACK flood through a whole node stays within the flooder's
//! retransmission budget (issue 10, item 1, as measured on a node).
//!
//! A camera publishes VP8 (30 fps, 3 packets of ~1 KB a frame); a WHEP
//! viewer watches it. The flooder is the far end of an SRTP-keyed relay
//! link the node relays the video to, played by the test itself (it holds
//! the link's keys, so its SRTCP authenticates as a real viewer's would).
//! It sends 100 compounds at 20 per second, each an RR and five generic
//! NACKs of 64 `(PID, BLP = 0xFFFF)` pairs, PID 16 packets behind the
//! newest it received: ~1.4 KB a compound.
//!
//! Counted: the RTX datagrams that reach the flooder's address. Bound: one
//! burst (64 KiB) plus a quarter of the stream's bytes the flooder received
//! over the same time (the shield's default budget), with 10 % for the
//! bytes SRTP and RTX add to the cached packet; no packet twice within
//! 100 ms; and the WHEP viewer keeps receiving every packet.

mod node_world;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use node_world::{Camera, World, node_addr, peer_addr, received_on};
use sfu_net::srtp::{DtlsRole, SrtpSession};
use sfu_net::{RelayKeys, SrtpProfile};
use sfu_testkit::peer::PeerConfig;
use sfu_testkit::rtp::Rtcp;

const COMPOUNDS: usize = 100;

fn flooder_addr() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 66], 40_000))
}

/// RR + five NACKs of 64 pairs, each naming `pid..=pid + 16`.
fn flood_compound(sender: u32, media: u32, pid: u16) -> Vec<u8> {
    let pairs = [(pid, 0xFFFF); 64];
    let mut rtcp = Rtcp::new().rr(sender, &[]);
    for _ in 0..5 {
        rtcp = rtcp.nack(sender, media, &pairs);
    }
    rtcp.build()
}

/// The original sequence number an RTX packet carries (RFC 4588 §4).
fn rtx_osn(p: &[u8]) -> u16 {
    let mut at = 12 + 4 * usize::from(p[0] & 0x0f);
    if p[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([p[at + 2], p[at + 3]]);
        at += 4 + 4 * usize::from(words);
    }
    u16::from_be_bytes([p[at], p[at + 1]])
}

fn rtp_seq_ssrc(d: &[u8]) -> Option<(u16, u32)> {
    // RTP, not RTCP (RFC 5761: payload types 72..=79 with the marker are RTCP).
    if d.len() < 12 || d[0] >> 6 != 2 || (192..=223).contains(&d[1]) {
        return None;
    }
    Some((
        u16::from_be_bytes([d[2], d[3]]),
        u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
    ))
}

/// The far end of the relay link, played by the test.
struct Flooder {
    srtp: SrtpSession,
    /// The relayed video's SSRC and RTX SSRC on the link.
    media: u32,
    rtx: u32,
    compounds: usize,
    nack_bytes: usize,
    next_compound: Instant,
    /// Datagrams of the sink already looked at.
    seen: usize,
    newest: Option<u16>,
    stream_bytes: usize,
    retransmitted_bytes: usize,
    retransmissions: usize,
    /// Arrival times of each original sequence number's RTX copies.
    sent_at: HashMap<u16, Vec<Instant>>,
}

impl Flooder {
    /// Counts what reached the flooder since the last call.
    fn account(&mut self, w: &World, counting: bool) {
        let sink = &w.sinks[&flooder_addr()];
        for d in &sink[self.seen..] {
            let Some((seq, ssrc)) = rtp_seq_ssrc(d) else {
                continue;
            };
            if ssrc == self.media {
                self.newest = Some(seq);
                if counting {
                    self.stream_bytes += d.len();
                }
            } else if ssrc == self.rtx {
                self.retransmitted_bytes += d.len();
                self.retransmissions += 1;
                // The RTX stream numbers its own packets (RFC 4588), so
                // every copy decrypts, replays none; the OSN names the
                // original.
                let osn = match self.srtp.unprotect_rtp(d) {
                    Ok(plain) => rtx_osn(&plain),
                    Err(e) => panic!("RTX from the node does not decrypt (#{seq}): {e:?}"),
                };
                self.sent_at.entry(osn).or_default().push(w.now);
            }
        }
        self.seen = sink.len();
    }

    /// Sends the next compound when one is due (20 per second).
    fn flood(&mut self, w: &mut World) {
        if self.compounds >= COMPOUNDS || w.now < self.next_compound {
            return;
        }
        let Some(newest) = self.newest else { return };
        let plain = flood_compound(0xF100D, self.media, newest.wrapping_sub(16));
        let sealed = self.srtp.protect_rtcp(&plain).unwrap();
        self.nack_bytes += sealed.len();
        self.compounds += 1;
        self.next_compound += Duration::from_millis(50);
        let now = w.now;
        w.nodes[0].handle_datagram(now, flooder_addr(), node_addr(0), &sealed);
    }
}

#[test]
fn a_nack_flood_through_the_node_gets_no_more_than_its_budget() {
    let mut w = World::new(17, 1);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 170).send_video());
    let viewer = w.add_peer(PeerConfig::new(peer_addr(1), 171).receive_video());
    let source = w.publish(0, publisher);
    w.view(0, viewer, Some(source));
    assert!(w.run_until(Duration::from_secs(10), |w| w.connected(&[0, 1])));

    let profile = SrtpProfile::AeadAes128Gcm;
    let material: Vec<u8> = (0..profile.keying_material_len())
        .map(|i| i as u8)
        .collect();
    let keys = RelayKeys::new(profile, material.clone()).unwrap();
    let mut flooder = SrtpSession::from_dtls_keying(&material, profile, DtlsRole::Server).unwrap();
    w.add_sink(flooder_addr());
    let now = w.now;
    let link = w.nodes[0]
        .open_relay(now, flooder_addr(), Some(&keys), true)
        .unwrap();
    let (name, _) = w.nodes[0].published_tracks(source).remove(0);
    let relayed = w.nodes[0]
        .relay_track(now, link, source, &name, "cam/video")
        .unwrap();
    let rtx_ssrc = relayed.layers[0]
        .rtx_ssrc
        .expect("the relayed video has RTX");
    flooder.allow_remote_ssrc(rtx_ssrc);

    let mut camera = Camera::new(publisher, None, Some("0"));
    // Media reaches both the viewer and the flooder first.
    w.run_with(Duration::from_secs(1), &mut |w| camera.tick(w));

    let mut f = Flooder {
        srtp: flooder,
        media: relayed.layers[0].ssrc,
        rtx: rtx_ssrc,
        compounds: 0,
        nack_bytes: 0,
        next_compound: w.now,
        seen: 0,
        newest: None,
        stream_bytes: 0,
        retransmitted_bytes: 0,
        retransmissions: 0,
        sent_at: HashMap::new(),
    };
    w.run_with(Duration::from_millis(COMPOUNDS as u64 * 50 + 5), &mut |w| {
        camera.tick(w);
        f.account(w, true);
        f.flood(w);
    });
    // Repairs already on their way land.
    w.run_with(Duration::from_millis(100), &mut |w| {
        camera.tick(w);
        f.account(w, false);
    });

    let Flooder {
        compounds,
        nack_bytes,
        stream_bytes,
        retransmitted_bytes,
        retransmissions,
        sent_at,
        ..
    } = f;
    println!(
        "{compounds} compounds, {nack_bytes} NACK bytes; {retransmissions} RTX datagrams \
         ({:.1} per compound), {retransmitted_bytes} bytes ({:.2}x the NACK bytes, \
         {:.2}x the stream's {stream_bytes}); {:?}",
        retransmissions as f64 / compounds as f64,
        retransmitted_bytes as f64 / nack_bytes as f64,
        retransmitted_bytes as f64 / stream_bytes.max(1) as f64,
        w.nodes[0].router().loss_recovery().stats().hop.responder,
    );
    assert_eq!(compounds, COMPOUNDS);
    assert!(
        stream_bytes > 300_000,
        "{stream_bytes} bytes of media relayed"
    );
    let budget = (64 * 1024 + stream_bytes / 4) * 11 / 10;
    assert!(
        retransmitted_bytes <= budget,
        "{retransmitted_bytes} bytes retransmitted to the flooder, budget {budget}"
    );
    for (osn, times) in &sent_at {
        for pair in times.windows(2) {
            // Every datagram crosses the same fixed-delay link, so arrival
            // spacing is send spacing, to the 1 ms tick.
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(99),
                "packet {osn} retransmitted twice within 100 ms: {times:?}"
            );
        }
    }
    // The WHEP viewer still gets the whole stream, in order.
    let video = received_on(&w, viewer, "0");
    assert!(video.len() > 400, "{} packets to the viewer", video.len());
    for pair in video.windows(2) {
        assert_eq!(pair[1].0, pair[0].0.wrapping_add(1), "gap at {pair:?}");
    }
}
