//! Pluggable subscriptions: the policy that decides, per packet, whether a
//! subscriber gets it and from which simulcast layer. The router does the
//! mechanics (switching only at a keyframe of the target layer, asking the
//! publisher for one, keeping sequence numbers and timestamps continuous);
//! a policy only says what it wants.

use std::time::Instant;

use crate::LayerIndex;

/// A layer of the pulled track as policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// Position in the track's layer list (0 = lowest quality).
    pub index: LayerIndex,
    /// The RID, when the layer was announced by RID.
    pub rid: Option<String>,
    /// Media arrived on this layer recently (within the router's
    /// `layer_inactive_after`).
    pub active: bool,
    /// Measured bitrate over the last second.
    pub bitrate_bps: u64,
}

/// What the router knows about the packet being routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    /// The layer it belongs to.
    pub layer: LayerIndex,
    /// It begins a keyframe.
    pub keyframe: bool,
    /// It ends a frame (RTP marker bit).
    pub marker: bool,
    /// Payload size in bytes.
    pub payload_len: usize,
}

/// What a subscriber's receiver tells us about its link, from its RTCP.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReceiverFeedback {
    /// Fraction of packets lost in the last report interval (0.0–1.0).
    pub fraction_lost: Option<f32>,
    /// Round-trip time to the subscriber.
    pub rtt: Option<std::time::Duration>,
    /// The subscriber's REMB estimate, in bits per second.
    pub remb_bps: Option<u64>,
    /// A transport-wide congestion control estimate supplied by the
    /// application or transport, in bits per second.
    pub estimate_bps: Option<u64>,
}

/// Application hints, passed through [`crate::Router::hint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// Prefer the layer with this RID.
    PreferRid(String),
    /// Prefer the highest layer.
    PreferHighest,
    /// Stop (true) or resume (false) delivery without ending the subscription.
    Pause(bool),
    /// Never pick a layer above this bitrate.
    MaxBitrate(u64),
}

/// The policy's answer for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Deliver this layer. If it is not the current one, the router keeps
    /// the current layer flowing until the target's next keyframe.
    Layer(LayerIndex),
    /// Deliver nothing for now.
    Pause,
}

/// A subscription policy. Implement it to plug in your own layer selection
/// (bandwidth estimation, active-speaker, thumbnails...).
pub trait SubscriptionPolicy: Send + 'static {
    /// Chooses the layer this subscriber should get, called for every packet
    /// of the pulled track. `current` is the layer being delivered now.
    /// Runs on the hot path: must not allocate.
    fn select(
        &mut self,
        now: Instant,
        packet: &PacketInfo,
        layers: &[LayerInfo],
        current: Option<LayerIndex>,
    ) -> Selection;

    /// Receiver feedback arrived for this subscription.
    fn on_feedback(&mut self, _now: Instant, _feedback: &ReceiverFeedback) {}

    /// The application sent a hint.
    fn on_hint(&mut self, _hint: &Hint) {}
}

/// Forwards the track's first layer, always: audio and single-layer video.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardAll {
    paused: bool,
}

impl SubscriptionPolicy for ForwardAll {
    fn select(
        &mut self,
        _now: Instant,
        _packet: &PacketInfo,
        _layers: &[LayerInfo],
        _current: Option<LayerIndex>,
    ) -> Selection {
        if self.paused {
            Selection::Pause
        } else {
            Selection::Layer(LayerIndex(0))
        }
    }

    fn on_hint(&mut self, hint: &Hint) {
        if let Hint::Pause(p) = hint {
            self.paused = *p;
        }
    }
}

/// Delivers one layer of the track, always that one, whether or not it is
/// active: a relay link carries each layer of a simulcast track on a
/// subscription of its own, so the receiving node can publish the track
/// with all its layers. [`Hint::Pause`] stops and resumes it (what the
/// receiving node does not want is not sent); other hints are ignored.
///
/// ```
/// use sfu_core::{LayerIndex, Pinned, PullConfig, CodecConfig, Codec};
///
/// // The middle layer of a simulcast track, on SSRC 0x3333.
/// let pull = PullConfig::new(0x3333, vec![CodecConfig::new(96, Codec::Vp8)])
///     .with_policy(Pinned::new(LayerIndex(1)));
/// # let _ = pull;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinned {
    layer: LayerIndex,
    paused: bool,
}

impl Pinned {
    /// Delivers `layer` (0 = the lowest quality).
    pub fn new(layer: LayerIndex) -> Self {
        Self {
            layer,
            paused: false,
        }
    }

    /// The layer it delivers.
    pub fn layer(&self) -> LayerIndex {
        self.layer
    }

    /// Whether a [`Hint::Pause`] stopped it.
    pub fn is_paused(&self) -> bool {
        self.paused
    }
}

impl SubscriptionPolicy for Pinned {
    fn select(
        &mut self,
        _now: Instant,
        _packet: &PacketInfo,
        layers: &[LayerInfo],
        _current: Option<LayerIndex>,
    ) -> Selection {
        // A track without that layer has nothing to deliver here.
        if self.paused || usize::from(self.layer.0) >= layers.len() {
            Selection::Pause
        } else {
            Selection::Layer(self.layer)
        }
    }

    fn on_hint(&mut self, hint: &Hint) {
        if let Hint::Pause(p) = hint {
            self.paused = *p;
        }
    }
}

/// What [`Simulcast`] does when the preferred layer is not available (the
/// Calls API's `ridNotAvailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fallback {
    /// The best active layer not above the preference that fits the
    /// subscriber's bandwidth estimate; the nearest one above if none below.
    #[default]
    Auto,
    /// The active layer with the lowest bitrate.
    LeastBandwidth,
    /// Nothing: pause until the preferred layer comes back.
    None,
}

/// Simulcast with a preferred RID and a fallback.
#[derive(Debug, Clone, Default)]
pub struct Simulcast {
    preferred: Option<String>,
    fallback: Fallback,
    paused: bool,
    max_bitrate: Option<u64>,
    estimate_bps: Option<u64>,
}

impl Simulcast {
    /// Prefers `rid` (`None`: the highest layer) with the given fallback.
    pub fn new(preferred: Option<String>, fallback: Fallback) -> Self {
        Self {
            preferred,
            fallback,
            ..Self::default()
        }
    }

    fn preferred_index(&self, layers: &[LayerInfo]) -> Option<usize> {
        match &self.preferred {
            Some(rid) => layers.iter().position(|l| l.rid.as_ref() == Some(rid)),
            None => layers.len().checked_sub(1),
        }
    }

    fn budget(&self) -> Option<u64> {
        match (self.max_bitrate, self.estimate_bps) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn fits(&self, layer: &LayerInfo) -> bool {
        self.budget().is_none_or(|b| layer.bitrate_bps <= b)
    }
}

impl SubscriptionPolicy for Simulcast {
    fn select(
        &mut self,
        _now: Instant,
        _packet: &PacketInfo,
        layers: &[LayerInfo],
        _current: Option<LayerIndex>,
    ) -> Selection {
        if self.paused {
            return Selection::Pause;
        }
        // A RID the track does not have is "not available": the fallback
        // decides, starting from the top.
        let pref = match (self.preferred_index(layers), self.fallback) {
            (Some(p), _) => p,
            (None, Fallback::None) => return Selection::Pause,
            (None, _) => match layers.len().checked_sub(1) {
                Some(top) => top,
                None => return Selection::Pause,
            },
        };
        let pick = match self.fallback {
            Fallback::None => layers.get(pref).filter(|l| l.active),
            Fallback::LeastBandwidth => layers
                .get(pref)
                .filter(|l| l.active && self.fits(l))
                .or_else(|| {
                    layers
                        .iter()
                        .filter(|l| l.active)
                        .min_by_key(|l| l.bitrate_bps)
                }),
            Fallback::Auto => {
                let below = layers
                    .iter()
                    .take(pref + 1)
                    .rev()
                    .filter(|l| l.active)
                    .find(|l| self.fits(l))
                    .or_else(|| layers.iter().take(pref + 1).find(|l| l.active));
                below.or_else(|| layers.iter().skip(pref + 1).find(|l| l.active))
            }
        };
        pick.map_or(Selection::Pause, |l| Selection::Layer(l.index))
    }

    fn on_feedback(&mut self, _now: Instant, feedback: &ReceiverFeedback) {
        if let Some(bps) = feedback.estimate_bps.or(feedback.remb_bps) {
            self.estimate_bps = Some(bps);
        }
    }

    fn on_hint(&mut self, hint: &Hint) {
        match hint {
            Hint::PreferRid(rid) => self.preferred = Some(rid.clone()),
            Hint::PreferHighest => self.preferred = None,
            Hint::Pause(p) => self.paused = *p,
            Hint::MaxBitrate(b) => self.max_bitrate = Some(*b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(active: [bool; 3]) -> Vec<LayerInfo> {
        ["q", "h", "f"]
            .iter()
            .enumerate()
            .map(|(i, rid)| LayerInfo {
                index: LayerIndex(i as u8),
                rid: Some((*rid).to_string()),
                active: active[i],
                bitrate_bps: [150_000, 500_000, 1_500_000][i],
            })
            .collect()
    }

    fn pick(p: &mut impl SubscriptionPolicy, l: &[LayerInfo]) -> Selection {
        let pkt = PacketInfo {
            layer: LayerIndex(0),
            keyframe: false,
            marker: false,
            payload_len: 1000,
        };
        p.select(Instant::now(), &pkt, l, None)
    }

    #[test]
    fn preferred_rid_wins_when_active() {
        let mut p = Simulcast::new(Some("h".into()), Fallback::Auto);
        assert_eq!(
            pick(&mut p, &layers([true; 3])),
            Selection::Layer(LayerIndex(1))
        );
    }

    #[test]
    fn auto_steps_down_then_up() {
        let mut p = Simulcast::new(Some("h".into()), Fallback::Auto);
        assert_eq!(
            pick(&mut p, &layers([true, false, true])),
            Selection::Layer(LayerIndex(0))
        );
        assert_eq!(
            pick(&mut p, &layers([false, false, true])),
            Selection::Layer(LayerIndex(2))
        );
    }

    #[test]
    fn auto_respects_bandwidth_estimate() {
        let mut p = Simulcast::new(None, Fallback::Auto);
        p.on_feedback(
            Instant::now(),
            &ReceiverFeedback {
                remb_bps: Some(600_000),
                ..Default::default()
            },
        );
        assert_eq!(
            pick(&mut p, &layers([true; 3])),
            Selection::Layer(LayerIndex(1))
        );
    }

    #[test]
    fn least_bandwidth_and_none() {
        let mut p = Simulcast::new(Some("f".into()), Fallback::LeastBandwidth);
        assert_eq!(
            pick(&mut p, &layers([true, true, false])),
            Selection::Layer(LayerIndex(0))
        );
        let mut p = Simulcast::new(Some("f".into()), Fallback::None);
        assert_eq!(pick(&mut p, &layers([true, true, false])), Selection::Pause);
    }

    #[test]
    fn unknown_rid_falls_back() {
        let mut p = Simulcast::new(Some("nope".into()), Fallback::Auto);
        assert_eq!(
            pick(&mut p, &layers([true; 3])),
            Selection::Layer(LayerIndex(2))
        );
        let mut p = Simulcast::new(Some("nope".into()), Fallback::None);
        assert_eq!(pick(&mut p, &layers([true; 3])), Selection::Pause);
    }

    #[test]
    fn pinned_keeps_its_layer_until_paused() {
        let mut p = Pinned::new(LayerIndex(1));
        // Inactive or not, preferred or not: the pinned layer.
        assert_eq!(
            pick(&mut p, &layers([true, false, true])),
            Selection::Layer(LayerIndex(1))
        );
        p.on_hint(&Hint::PreferRid("f".into()));
        p.on_hint(&Hint::MaxBitrate(1));
        assert_eq!(
            pick(&mut p, &layers([true; 3])),
            Selection::Layer(LayerIndex(1))
        );
        p.on_hint(&Hint::Pause(true));
        assert!(p.is_paused());
        assert_eq!(pick(&mut p, &layers([true; 3])), Selection::Pause);
        p.on_hint(&Hint::Pause(false));
        assert_eq!(
            pick(&mut p, &layers([true; 3])),
            Selection::Layer(LayerIndex(1))
        );
        // A track with fewer layers: nothing for this subscription.
        let mut p = Pinned::new(LayerIndex(2));
        assert_eq!(pick(&mut p, &layers([true; 3])[..1]), Selection::Pause);
    }

    #[test]
    fn hints_change_preference_and_pause() {
        let mut p = Simulcast::new(Some("q".into()), Fallback::Auto);
        p.on_hint(&Hint::PreferRid("f".into()));
        assert_eq!(
            pick(&mut p, &layers([true; 3])),
            Selection::Layer(LayerIndex(2))
        );
        p.on_hint(&Hint::Pause(true));
        assert_eq!(pick(&mut p, &layers([true; 3])), Selection::Pause);
    }
}
