//! A router with the NACK shield, one VP8 publisher and `n` subscribers,
//! driven in simulated time, for the `shield_*` behaviour tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_core::{
    Codec, CodecConfig, LayerConfig, LayerIndex, LossRecovery, OutboundRtp, Output, PullConfig,
    Router, RouterConfig, SessionConfig, SessionId, Shield, ShieldConfig, StreamKey,
    SubscriptionId, TrackConfig, TrackId,
};
use sfu_testkit::rtp::{Rtcp, Rtp};

pub const MEDIA_SSRC: u32 = 0x100;
pub const RTX_SSRC: u32 = 0x101;
pub const PUBLISHER_RTCP_SSRC: u32 = 0xAAAA;
pub const VP8_KEY: &[u8] = &[0x10, 0x00, 0x9d, 0x01, 0x2a, 7, 7, 7];
pub const VP8_DELTA: &[u8] = &[0x10, 0x01, 0x00, 7, 7, 7];

/// A subscriber: its session, subscription, SSRC and (if negotiated) RTX
/// SSRC and payload type.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub session: SessionId,
    pub subscription: SubscriptionId,
    pub ssrc: u32,
    pub rtx: Option<(u32, u8)>,
}

pub struct ShieldCall {
    pub router: Router<Shield>,
    pub now: Instant,
    pub publisher: SessionId,
    pub track: TrackId,
    pub viewers: Vec<Viewer>,
}

/// Every packet a router sent, sorted by destination.
#[derive(Debug, Default)]
pub struct Sent {
    pub rtp: Vec<(SessionId, OutboundRtp)>,
    pub rtcp: Vec<(SessionId, Bytes)>,
}

impl Sent {
    pub fn rtp_to(&self, session: SessionId) -> Vec<&OutboundRtp> {
        self.rtp
            .iter()
            .filter(|(s, _)| *s == session)
            .map(|(_, p)| p)
            .collect()
    }

    /// Sequence numbers NACKed to `session`, in order.
    pub fn nacked_to(&self, session: SessionId) -> Vec<u16> {
        self.rtcp
            .iter()
            .filter(|(s, _)| *s == session)
            .flat_map(|(_, p)| nack_seqs(p))
            .collect()
    }
}

impl ShieldCall {
    /// `rtx[i]` says whether viewer `i` negotiates RTX.
    pub fn new(rtx: &[bool]) -> Self {
        Self::with_config(rtx, ShieldConfig::default())
    }

    pub fn with_config(rtx: &[bool], config: ShieldConfig) -> Self {
        let now = Instant::now();
        let shield = Shield::new(config).unwrap();
        let mut router = Router::with_loss_recovery(RouterConfig::default(), shield);
        let publisher = router
            .create_session(
                now,
                SessionConfig {
                    rtcp_ssrc: Some(PUBLISHER_RTCP_SSRC),
                    ..SessionConfig::default()
                },
            )
            .unwrap();
        let track = router
            .publish_track(
                now,
                publisher,
                TrackConfig::video(
                    "cam",
                    CodecConfig::new(96, Codec::Vp8).with_rtx(97),
                    vec![LayerConfig::ssrc(MEDIA_SSRC).with_rtx(RTX_SSRC)],
                ),
            )
            .unwrap();
        let mut viewers = Vec::new();
        for (i, &with_rtx) in rtx.iter().enumerate() {
            let session = router
                .create_session(now, SessionConfig::default())
                .unwrap();
            let ssrc = 0x200 + i as u32;
            let mut codec = CodecConfig::new(100, Codec::Vp8);
            let mut pull;
            let mut rtx = None;
            if with_rtx {
                codec = codec.with_rtx(101);
                rtx = Some((0x300 + i as u32, 101));
                pull = PullConfig::new(ssrc, vec![codec]);
                pull = pull.with_rtx(0x300 + i as u32);
            } else {
                pull = PullConfig::new(ssrc, vec![codec]);
            }
            let subscription = router
                .pull_track(now, session, publisher, "cam", pull)
                .unwrap();
            viewers.push(Viewer {
                session,
                subscription,
                ssrc,
                rtx,
            });
        }
        while router.poll_event().is_some() {}
        Self {
            router,
            now,
            publisher,
            track,
            viewers,
        }
    }

    pub fn stream(&self) -> StreamKey {
        StreamKey {
            track: self.track,
            layer: LayerIndex(0),
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// The publisher's packet `seq` (a keyframe start when `seq == first`).
    pub fn payload(seq: u16, key: bool) -> Vec<u8> {
        let mut p = if key { VP8_KEY } else { VP8_DELTA }.to_vec();
        p.extend_from_slice(&seq.to_be_bytes());
        p.resize(200, 0xAB);
        p
    }

    pub fn send(&mut self, seq: u16, key: bool) {
        let p = rtp(
            MEDIA_SSRC,
            96,
            seq,
            u32::from(seq) * 3000,
            &Self::payload(seq, key),
        );
        self.router.handle_rtp(self.now, self.publisher, p).unwrap();
    }

    /// The publisher's RTX repair of `osn`, as RTX packet `rtx_seq`.
    pub fn send_rtx(&mut self, rtx_seq: u16, osn: u16) {
        let mut payload = osn.to_be_bytes().to_vec();
        payload.extend_from_slice(&Self::payload(osn, false));
        let p = rtp(RTX_SSRC, 97, rtx_seq, u32::from(osn) * 3000, &payload);
        self.router.handle_rtp(self.now, self.publisher, p).unwrap();
    }

    /// Viewer `i` NACKs `seqs` (its own sequence numbers).
    pub fn nack(&mut self, i: usize, seqs: &[u16]) {
        let v = self.viewers[i];
        let p = nack_packet(0x9000 + i as u32, v.ssrc, seqs);
        self.router.handle_rtcp(self.now, v.session, p).unwrap();
    }

    pub fn timeout(&mut self) {
        if self
            .router
            .poll_timeout()
            .is_some_and(|deadline| deadline <= self.now)
        {
            self.router.handle_timeout(self.now);
        }
    }

    /// Moves time in `step`s up to `total`, running timers on the way.
    pub fn run_for(&mut self, total: Duration, step: Duration, sent: &mut Sent) {
        let end = self.now + total;
        while self.now < end {
            self.advance(step);
            self.timeout();
            self.drain_into(sent);
        }
    }

    pub fn drain(&mut self) -> Sent {
        let mut sent = Sent::default();
        self.drain_into(&mut sent);
        sent
    }

    pub fn drain_into(&mut self, sent: &mut Sent) {
        while let Some(o) = self.router.poll_output() {
            match o {
                Output::Rtp {
                    session, packet, ..
                } => sent.rtp.push((session, packet)),
                Output::Rtcp { session, packet } => sent.rtcp.push((session, packet)),
            }
        }
    }

    pub fn shield(&self) -> &Shield {
        self.router.loss_recovery()
    }

    /// When the shield wants to run next.
    pub fn shield_deadline(&self) -> Option<Instant> {
        self.router.loss_recovery().poll_timeout()
    }
}

/// A router with the shield and any number of publishing sessions, each
/// with single-layer VP8 tracks, for the shield's table and timer tests.
pub struct Hop {
    pub router: Router<Shield>,
    pub now: Instant,
    next_ssrc: u32,
}

impl Hop {
    pub fn new(config: ShieldConfig) -> Self {
        Self {
            router: Router::with_loss_recovery(
                RouterConfig::default(),
                Shield::new(config).unwrap(),
            ),
            now: Instant::now(),
            next_ssrc: 0x1000,
        }
    }

    /// A session publishing `tracks` single-layer VP8 tracks with RTX;
    /// returns it and each track's media SSRC.
    pub fn publisher(&mut self, tracks: usize) -> (SessionId, Vec<u32>) {
        let session = self
            .router
            .create_session(
                self.now,
                SessionConfig {
                    rtcp_ssrc: Some(0xAAAA),
                    ..SessionConfig::default()
                },
            )
            .unwrap();
        let mut ssrcs = Vec::new();
        for i in 0..tracks {
            let ssrc = self.next_ssrc;
            self.next_ssrc += 2;
            self.router
                .publish_track(
                    self.now,
                    session,
                    TrackConfig::video(
                        format!("cam{i}"),
                        CodecConfig::new(96, Codec::Vp8).with_rtx(97),
                        vec![LayerConfig::ssrc(ssrc).with_rtx(ssrc + 1)],
                    ),
                )
                .unwrap();
            ssrcs.push(ssrc);
        }
        (session, ssrcs)
    }

    pub fn send(&mut self, session: SessionId, ssrc: u32, seq: u16) {
        let payload = ShieldCall::payload(seq, seq == 0);
        let p = rtp(ssrc, 96, seq, u32::from(seq) * 3000, &payload);
        self.router.handle_rtp(self.now, session, p).unwrap();
    }

    /// Runs 10 ms of timers; the sequence numbers NACKed to `session`.
    pub fn nacks_to(&mut self, session: SessionId) -> Vec<u16> {
        let mut nacked = Vec::new();
        for _ in 0..10 {
            self.now += Duration::from_millis(1);
            if self.router.poll_timeout().is_some_and(|t| t <= self.now) {
                self.router.handle_timeout(self.now);
            }
            while let Some(o) = self.router.poll_output() {
                if let sfu_core::Output::Rtcp { session: s, packet } = o
                    && s == session
                {
                    nacked.extend(nack_seqs(&packet));
                }
            }
        }
        nacked
    }
}

pub fn rtp(ssrc: u32, pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Bytes {
    Rtp::new(ssrc, pt, seq, ts).payload(payload).bytes()
}

/// An RFC 4585 generic NACK, packed with `sfu-nack`'s packer.
pub fn nack_packet(sender: u32, media: u32, seqs: &[u16]) -> Bytes {
    let pairs: Vec<(u16, u16)> = sfu_nack::pack_nacks(seqs.iter().copied())
        .map(|p| (p.pid, p.blp))
        .collect();
    Rtcp::new().nack(sender, media, &pairs).bytes()
}

/// Sequence numbers of every generic NACK in a compound RTCP packet.
pub fn nack_seqs(packet: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    let mut rest = packet;
    while rest.len() >= 4 {
        let len = 4 * (1 + usize::from(u16::from_be_bytes([rest[2], rest[3]])));
        let Some(p) = rest.get(..len) else { break };
        if p[1] == 205 && p[0] & 0x1f == 1 {
            for fci in p[12..].chunks_exact(4) {
                let pair = sfu_nack::NackPair {
                    pid: u16::from_be_bytes([fci[0], fci[1]]),
                    blp: u16::from_be_bytes([fci[2], fci[3]]),
                };
                out.extend(pair.seqs());
            }
        }
        rest = &rest[len..];
    }
    out
}
