//! How the routers are set up: the publisher's two tracks, pulls with RTX,
//! and the in-process relay between two routers.

use std::time::Instant;

use sfu_core::{
    Codec, CodecConfig, LayerConfig, LossRecovery, PullConfig, Router, SessionConfig, SessionId,
    TrackConfig,
};

use super::{AUDIO_PT, AUDIO_RTX_PT, TRACK_NAMES, VIDEO_PT, VIDEO_RTX_PT};

/// A new session with the default configuration.
pub(crate) fn session<R: LossRecovery>(router: &mut Router<R>, t0: Instant) -> SessionId {
    router
        .create_session(t0, SessionConfig::default())
        .expect("session")
}

/// Pulling stream 0 (video, `cam`) or 1 (audio, `mic`) with these SSRCs,
/// RTX negotiated for both.
pub(crate) fn pull(ssrc: [u32; 2], rtx: [u32; 2], stream: usize) -> PullConfig {
    let codec = if stream == 0 {
        CodecConfig::new(VIDEO_PT, Codec::Vp8).with_rtx(VIDEO_RTX_PT)
    } else {
        CodecConfig::new(AUDIO_PT, Codec::Opus).with_rtx(AUDIO_RTX_PT)
    };
    PullConfig::new(ssrc[stream], vec![codec]).with_rtx(rtx[stream])
}

/// The two tracks (VP8 `cam`, Opus `mic`, both with RTX) published with
/// these SSRCs.
pub(crate) fn tracks(ssrc: [u32; 2], rtx: [u32; 2]) -> [TrackConfig; 2] {
    let video = TrackConfig::video(
        TRACK_NAMES[0],
        CodecConfig::new(VIDEO_PT, Codec::Vp8).with_rtx(VIDEO_RTX_PT),
        vec![LayerConfig::ssrc(ssrc[0]).with_rtx(rtx[0])],
    );
    let mut audio = TrackConfig::audio(TRACK_NAMES[1], ssrc[1], AUDIO_PT);
    audio.codecs = vec![CodecConfig::new(AUDIO_PT, Codec::Opus).with_rtx(AUDIO_RTX_PT)];
    audio.layers = vec![LayerConfig::ssrc(ssrc[1]).with_rtx(rtx[1])];
    [video, audio]
}

/// An in-process relay: on the upstream router a subscriber session
/// pulling the streams with RTX, on the downstream router a publisher
/// session publishing them with those SSRCs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Relay {
    /// The subscriber session on the upstream router.
    pub(crate) up: SessionId,
    /// The publisher session on the downstream router.
    pub(crate) down: SessionId,
}

/// Relays each stream (0 video, 1 audio) whose source session on `up` is
/// given to a new publisher session on `down`, with these SSRCs.
pub(crate) fn open_relay<R: LossRecovery>(
    t0: Instant,
    (up, sources): (&mut Router<R>, [Option<SessionId>; 2]),
    down: &mut Router<R>,
    (ssrc, rtx): ([u32; 2], [u32; 2]),
) -> Relay {
    let relay = Relay {
        up: session(up, t0),
        down: session(down, t0),
    };
    for (s, config) in tracks(ssrc, rtx).into_iter().enumerate() {
        let Some(source) = sources[s] else { continue };
        down.publish_track(t0, relay.down, config)
            .expect("relay publish");
        up.pull_track(t0, relay.up, source, TRACK_NAMES[s], pull(ssrc, rtx, s))
            .expect("relay pull");
    }
    relay
}
