//! The shield's stream table is shared fairly: besides the global
//! `max_streams`, each publishing session gets at most
//! `max_streams_per_session` (32 by default: audio and three simulcast
//! layers of video several times over), so one client publishing many
//! tracks cannot take every slot and leave other publishers' losses
//! unrepaired. A session's slots come back when its tracks close.

mod shield_common;

use sfu_core::ShieldConfig;
use shield_common::Hop;

#[test]
fn a_session_with_many_tracks_cannot_take_every_slot() {
    // Room for 40 streams in all: without a per-session share, the first
    // client's 40 tracks would take them all.
    let mut hop = Hop::new(ShieldConfig::default().with_max_streams(40));
    let (greedy, greedy_ssrcs) = hop.publisher(40);
    for &ssrc in &greedy_ssrcs {
        for seq in 0..2 {
            hop.send(greedy, ssrc, seq);
        }
    }
    let (other, other_ssrcs) = hop.publisher(1);
    for seq in [0, 1, 2, 4] {
        hop.send(other, other_ssrcs[0], seq);
    }
    assert_eq!(
        hop.nacks_to(other),
        [3],
        "the second publisher's loss is NACKed"
    );

    let shield = hop.router.loss_recovery();
    assert_eq!(shield.stream_count(), 33);
    let stats = shield.stats();
    // The greedy session's last 8 streams, 2 packets each.
    assert_eq!(stats.streams_refused_per_session, 16);
    assert_eq!(stats.streams_refused, 0);

    // Its refused streams are forwarded as before, just not shielded; once
    // one of its shielded tracks closes, the next packet of a refused one
    // takes the slot.
    hop.router.close_track(hop.now, greedy, "cam0").unwrap();
    hop.send(greedy, greedy_ssrcs[39], 2);
    assert_eq!(hop.router.loss_recovery().stream_count(), 33);
    hop.send(greedy, greedy_ssrcs[39], 4);
    assert_eq!(hop.nacks_to(greedy), [3]);
}

#[test]
fn the_global_bound_still_holds() {
    let config = ShieldConfig::default()
        .with_max_streams(10)
        .with_max_streams_per_session(4);
    let mut hop = Hop::new(config);
    for _ in 0..3 {
        let (session, ssrcs) = hop.publisher(6);
        for &ssrc in &ssrcs {
            hop.send(session, ssrc, 0);
        }
    }
    let shield = hop.router.loss_recovery();
    assert_eq!(shield.stream_count(), 10);
    let stats = shield.stats();
    assert_eq!(stats.streams_refused_per_session, 4);
    assert_eq!(stats.streams_refused, 4);
}

/// A relay link between nodes carries every track relayed over it: marked
/// a trunk, it is held to the node-wide bound only.
#[test]
fn a_trunk_is_outside_the_per_session_share() {
    let mut hop = Hop::new(ShieldConfig::default().with_max_streams_per_session(4));
    let (link, ssrcs) = hop.publisher(10);
    hop.router.loss_recovery_mut().set_trunk(link, true);
    for &ssrc in &ssrcs {
        hop.send(link, ssrc, 0);
    }
    assert_eq!(hop.router.loss_recovery().session_stream_count(link), 10);
    assert_eq!(
        hop.router
            .loss_recovery()
            .stats()
            .streams_refused_per_session,
        0
    );
    // A client session beside it keeps its share of 4.
    let (client, client_ssrcs) = hop.publisher(6);
    for &ssrc in &client_ssrcs {
        hop.send(client, ssrc, 0);
    }
    assert_eq!(hop.router.loss_recovery().session_stream_count(client), 4);
}
