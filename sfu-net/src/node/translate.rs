//! From negotiated SDP to the router's terms: tracks and their layers,
//! payload types, header-extension ids.

use crate::sdp::{
    self, CodecName, Description, ExtensionUri, MediaKind, PublishedTrack, RtcpFeedback,
};
use sfu_core::{
    Codec, CodecConfig, ExtensionKind, ExtensionMap, KeyframeRequestKind, LayerConfig,
    MediaKind as RouterKind, TrackConfig,
};

/// The extension ids a session negotiated. With BUNDLE one id means one
/// extension across every m-section, so the first mapping seen wins.
pub fn extension_map(answer: &Description) -> ExtensionMap {
    let mut map = ExtensionMap::new();
    for section in &answer.sections {
        for ext in &section.extensions {
            let kind = match ext.uri {
                ExtensionUri::Mid => ExtensionKind::Mid,
                ExtensionUri::Rid => ExtensionKind::Rid,
                ExtensionUri::RepairedRid => ExtensionKind::RepairedRid,
                ExtensionUri::AbsSendTime => ExtensionKind::AbsSendTime,
                ExtensionUri::TransportCc => ExtensionKind::TransportCc,
                ExtensionUri::AudioLevel => ExtensionKind::AudioLevel,
                ExtensionUri::Other(_) => continue,
            };
            if map.id(kind).is_none() {
                map.set(kind, ext.id);
            }
        }
    }
    map
}

/// The router's view of a negotiated payload type.
pub fn codec_config(codec: &sdp::PayloadFormat, rtx_pt: Option<u8>) -> CodecConfig {
    let kind = match &codec.name {
        CodecName::Opus => Codec::Opus,
        CodecName::Vp8 => Codec::Vp8,
        CodecName::Vp9 => Codec::Vp9,
        CodecName::H264 => Codec::H264,
        CodecName::Av1 => Codec::Av1,
        CodecName::Rtx | CodecName::Other(_) => Codec::Other,
    };
    let mut config = CodecConfig::new(codec.pt, kind);
    config.clock_rate = codec.clock_rate;
    config.rtx_payload_type = rtx_pt;
    config
}

/// Orders simulcast RIDs from lowest to highest quality. Browsers do not
/// say which is which; the names people use do (q/h/f, l/m/h, 0/1/2), and
/// anything else keeps the order of the offer.
pub fn layer_order(rids: &[String]) -> Vec<String> {
    const SCALES: [&[&str]; 4] = [
        &["q", "h", "f"],
        &["l", "m", "h"],
        &["low", "mid", "high"],
        &["0", "1", "2"],
    ];
    for scale in SCALES {
        if rids
            .iter()
            .all(|r| scale.contains(&r.to_ascii_lowercase().as_str()))
        {
            let mut sorted = rids.to_vec();
            sorted.sort_by_key(|r| scale.iter().position(|s| *s == r.to_ascii_lowercase()));
            return sorted;
        }
    }
    rids.to_vec()
}

/// The router track `name` for a section a client publishes. `None` for a
/// section that names neither SSRC nor RIDs (nothing to route).
pub fn track_config(name: &str, track: &PublishedTrack) -> Option<TrackConfig> {
    let kind = match track.kind {
        MediaKind::Audio => RouterKind::Audio,
        MediaKind::Video => RouterKind::Video,
        _ => return None,
    };
    let layers: Vec<LayerConfig> = if track.rids.is_empty() {
        let ssrc = track.ssrc?;
        let layer = LayerConfig::ssrc(ssrc);
        vec![match track.rtx_ssrc {
            Some(rtx) => layer.with_rtx(rtx),
            None => layer,
        }]
    } else {
        layer_order(&track.rids)
            .into_iter()
            .map(LayerConfig::rid)
            .collect()
    };
    let fir_only = !track
        .codec
        .rtcp_fb
        .iter()
        .any(|f| matches!(f, RtcpFeedback::NackPli))
        && track
            .codec
            .rtcp_fb
            .iter()
            .any(|f| matches!(f, RtcpFeedback::CcmFir));
    let mut config = TrackConfig::video(name, codec_config(&track.codec, track.rtx_pt), layers)
        .with_mid(track.mid.clone());
    config.kind = kind;
    config.keyframe_request = if fir_only {
        KeyframeRequestKind::Fir
    } else {
        KeyframeRequestKind::Pli
    };
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_rid_names_sort_low_to_high() {
        let rids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(layer_order(&rids(&["f", "h", "q"])), rids(&["q", "h", "f"]));
        assert_eq!(layer_order(&rids(&["h", "l", "m"])), rids(&["l", "m", "h"]));
        assert_eq!(layer_order(&rids(&["b", "a"])), rids(&["b", "a"]));
    }
}
