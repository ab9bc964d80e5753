//! Helpers shared by the router's integration tests.
#![allow(dead_code)]

use std::time::Instant;

use bytes::Bytes;
use sfu_core::{
    Codec, CodecConfig, ExtensionMap, Output, PullConfig, Router, RouterConfig, SessionConfig,
    SessionId, SubscriptionId, TrackConfig,
};
use sfu_testkit::rtp::Rtp;

/// An RTP packet from the kit's builder (independent of the router's own
/// serializer).
pub fn rtp(ssrc: u32, pt: u8, seq: u16, ts: u32, exts: &[(u8, &[u8])], payload: &[u8]) -> Bytes {
    Rtp::new(ssrc, pt, seq, ts)
        .extensions(exts)
        .payload(payload)
        .bytes()
}

/// A router with one publisher of a single-layer VP8 track "cam" on SSRC
/// 0x100 (PT 96, RTX PT 97 on SSRC 0x101) and `n` subscribers pulling it
/// with PT 100 on SSRC 0x200 + i.
pub struct Call {
    pub router: Router,
    pub now: Instant,
    pub publisher: SessionId,
    pub subscribers: Vec<(SessionId, SubscriptionId)>,
}

pub const VP8_KEY: &[u8] = &[0x10, 0x00, 0x9d, 0x01, 0x2a];
pub const VP8_DELTA: &[u8] = &[0x10, 0x01, 0x00];

impl Call {
    pub fn new(n: usize) -> Self {
        Self::with_config(n, RouterConfig::default())
    }

    pub fn with_config(n: usize, config: RouterConfig) -> Self {
        let now = Instant::now();
        let mut router = Router::new(config);
        let ext = ExtensionMap::chromium_defaults();
        let publisher = router
            .create_session(
                now,
                SessionConfig {
                    extensions: ext,
                    rtcp_ssrc: Some(0xAAAA),
                },
            )
            .unwrap();
        router
            .publish_track(
                now,
                publisher,
                TrackConfig::video(
                    "cam",
                    CodecConfig::new(96, Codec::Vp8).with_rtx(97),
                    vec![sfu_core::LayerConfig::ssrc(0x100).with_rtx(0x101)],
                ),
            )
            .unwrap();
        let mut subscribers = Vec::new();
        for i in 0..n {
            let s = router
                .create_session(now, SessionConfig::default())
                .unwrap();
            let sub = router
                .pull_track(
                    now,
                    s,
                    publisher,
                    "cam",
                    PullConfig::new(0x200 + i as u32, vec![CodecConfig::new(100, Codec::Vp8)]),
                )
                .unwrap();
            subscribers.push((s, sub));
        }
        while router.poll_event().is_some() {}
        Self {
            router,
            now,
            publisher,
            subscribers,
        }
    }

    pub fn send(&mut self, seq: u16, ts: u32, payload: &[u8]) {
        let p = rtp(0x100, 96, seq, ts, &[], payload);
        self.router.handle_rtp(self.now, self.publisher, p).unwrap();
    }

    pub fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.router.poll_output()).collect()
    }

    pub fn rtcp_to(&mut self, session: SessionId) -> Vec<Bytes> {
        self.drain()
            .into_iter()
            .filter_map(|o| match o {
                Output::Rtcp { session: s, packet } if s == session => Some(packet),
                _ => None,
            })
            .collect()
    }
}
