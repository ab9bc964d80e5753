//! Decrypted RTP and RTCP from an authenticated peer through the router: the
//! input's first byte picks the session (publisher or subscriber) and the
//! parser, the rest is the packet. No panic, and the live call stays bounded.
#![no_main]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sfu_core::{
    Codec, CodecConfig, ExtensionMap, LayerConfig, PullConfig, Router, RouterConfig,
    SessionConfig, SessionId, TrackConfig,
};

struct Call {
    router: Router,
    publisher: SessionId,
    subscriber: SessionId,
    start: Instant,
    steps: u64,
}

static CALL: Mutex<Option<Call>> = Mutex::new(None);

fn call() -> Call {
    let now = Instant::now();
    let mut router = Router::new(RouterConfig::default());
    let ext = ExtensionMap::chromium_defaults();
    let config = SessionConfig { extensions: ext, rtcp_ssrc: None };
    let publisher = router.create_session(now, config.clone()).unwrap();
    let layers = vec![
        LayerConfig::rid("q"),
        LayerConfig::ssrc(0x1111).with_rtx(0x1112),
        LayerConfig::rid("f"),
    ];
    let codec = CodecConfig::new(96, Codec::Vp8).with_rtx(97);
    router
        .publish_track(now, publisher, TrackConfig::video("cam", codec, layers).with_mid("1"))
        .unwrap();
    router
        .publish_track(now, publisher, TrackConfig::audio("mic", 0x2222, 111).with_mid("0"))
        .unwrap();
    let subscriber = router.create_session(now, config).unwrap();
    let pull = PullConfig::new(0x3333, vec![CodecConfig::new(100, Codec::Vp8).with_rtx(101)])
        .with_rtx(0x3334)
        .with_mid("0");
    router.pull_track(now, subscriber, publisher, "cam", pull).unwrap();
    Call { router, publisher, subscriber, start: now, steps: 0 }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else { return };
    let mut slot = CALL.lock().unwrap();
    let c = slot.get_or_insert_with(call);
    c.steps += 1;
    let now = c.start + Duration::from_millis(c.steps);
    let session = if selector & 1 == 0 { c.publisher } else { c.subscriber };
    let packet = Bytes::copy_from_slice(packet);
    let _ = if selector & 2 == 0 {
        c.router.handle_rtp(now, session, packet)
    } else {
        c.router.handle_rtcp(now, session, packet)
    };
    if selector & 4 != 0 {
        c.router.handle_timeout(now + Duration::from_secs(1));
    }
    while c.router.poll_output().is_some() {}
    while c.router.poll_event().is_some() {}
    assert_eq!(c.router.session_count(), 2);
});
