//! What both simulations are made of: the publisher and viewer endpoints
//! (sans-IO, like the routers: `handle_*` what arrives, drain `poll_*` /
//! read what they want sent), one-way links with the kit's netem damage,
//! the event queue and the viewers' detector wake-ups, and the tracks, pulls
//! and in-process relays the routers are set up with. Each simulation's
//! world only routes between them over its own topology.

pub(crate) mod json;
mod link;
mod packets;
mod publisher;
mod schedule;
mod session;
mod viewer;

use std::time::Duration;

pub(crate) use link::{LinkModel, SimLink};
pub(crate) use packets::id_in_payload;
pub(crate) use publisher::Publisher;
pub(crate) use schedule::{Schedule, StuckGuard, Wakeups, earliest};
pub(crate) use session::{Relay, open_relay, pull, session, tracks};
pub(crate) use viewer::{Viewer, ViewerPacket};

pub(crate) const VIDEO_PT: u8 = 96;
pub(crate) const VIDEO_RTX_PT: u8 = 97;
pub(crate) const AUDIO_PT: u8 = 111;
pub(crate) const AUDIO_RTX_PT: u8 = 112;
/// The publisher's media SSRCs: stream 0 is video (`cam`), 1 audio (`mic`).
pub(crate) const PUB_SSRC: [u32; 2] = [0x1000, 0x2000];
pub(crate) const PUB_RTX_SSRC: [u32; 2] = [0x1001, 0x2001];
/// The tracks' names, by stream.
pub(crate) const TRACK_NAMES: [&str; 2] = ["cam", "mic"];
pub(crate) const FRAME: Duration = Duration::from_nanos(33_333_333);
pub(crate) const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
pub(crate) const PACING: Duration = Duration::from_micros(250);
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Packets sent before this are not measured (subscriptions start).
pub(crate) const WARMUP: Duration = Duration::from_secs(1);
/// Time after the last media packet for late repairs to land.
pub(crate) const DRAIN: Duration = Duration::from_secs(1);
/// The playout deadline the delivery metrics count against.
pub(crate) const DEADLINE: Duration = Duration::from_millis(250);
/// Packets the publisher keeps for retransmission.
const HISTORY: usize = 4096;
/// NACK → repair samples a viewer's RTT is the minimum of.
const RTT_WINDOW: usize = 16;

/// The SSRCs of the in-process relay numbered `n`: media (video, audio)
/// and their RTX.
pub(crate) fn relay_ssrcs(n: u32) -> ([u32; 2], [u32; 2]) {
    let base = 0x5000 + 0x200 * n;
    ([base, base + 0x100], [base + 1, base + 0x101])
}
