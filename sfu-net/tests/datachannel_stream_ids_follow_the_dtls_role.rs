//! Stream ids follow the DTLS role, not the SCTP one (RFC 8832 section 6):
//! the DTLS client opens even ids, the DTLS server odd ones, whichever side
//! sent INIT; both sides open channels at once without collision. Closing
//! a channel resets its stream: the other side sees it closed, and the id
//! is free again once the reset completes.

#[path = "datachannel_link.rs"]
mod link;

use std::time::Duration;

use bytes::Bytes;
use link::{Initiator, Pair};
use sfu_net::datachannel::{
    Association, AssociationConfig, Event, MessageKind, Reliability, SctpRole,
};
use sfu_net::srtp::DtlsRole;

const RELIABLE: Reliability = Reliability::Reliable { ordered: true };

/// A pair whose `sfu` side is `sfu_dtls` and sends INIT when `sfu_inits`.
fn pair(sfu_dtls: DtlsRole, sfu_inits: bool) -> Pair {
    let mut pair = Pair::new(Initiator::Peer, AssociationConfig::default());
    let peer_dtls = match sfu_dtls {
        DtlsRole::Client => DtlsRole::Server,
        DtlsRole::Server => DtlsRole::Client,
    };
    let (sfu_sctp, peer_sctp) = if sfu_inits {
        (SctpRole::Initiate, SctpRole::Accept)
    } else {
        (SctpRole::Accept, SctpRole::Initiate)
    };
    let config = AssociationConfig::default();
    pair.sfu.assoc = Association::new(config.clone(), sfu_dtls, sfu_sctp, pair.now);
    pair.peer.assoc = Association::new(config, peer_dtls, peer_sctp, pair.now);
    pair.run_until(Duration::from_secs(5), |p| {
        p.sfu.assoc.is_connected() && p.peer.assoc.is_connected()
    });
    pair
}

#[test]
fn ids_have_the_dtls_roles_parity_and_do_not_collide() {
    for (sfu_dtls, sfu_inits) in [
        (DtlsRole::Server, false),
        (DtlsRole::Server, true),
        (DtlsRole::Client, false),
        (DtlsRole::Client, true),
    ] {
        let mut pair = pair(sfu_dtls, sfu_inits);
        // Both open two channels in the same instant.
        let sfu_ids: Vec<u16> = (0..2)
            .map(|i| {
                let c = pair.sfu.assoc.open_channel(&format!("s{i}"), "", RELIABLE);
                c.unwrap().stream_id()
            })
            .collect();
        let peer_ids: Vec<u16> = (0..2)
            .map(|i| {
                let c = pair.peer.assoc.open_channel(&format!("p{i}"), "", RELIABLE);
                c.unwrap().stream_id()
            })
            .collect();
        let (sfu_first, peer_first) = match sfu_dtls {
            DtlsRole::Client => (0, 1),
            DtlsRole::Server => (1, 0),
        };
        assert_eq!(sfu_ids, [sfu_first, sfu_first + 2]);
        assert_eq!(peer_ids, [peer_first, peer_first + 2]);
        for _ in 0..200 {
            pair.tick();
        }
        let labels = |side: &link::Side| -> Vec<String> {
            side.opened_by_peer()
                .into_iter()
                .map(|(_, l, _)| l)
                .collect()
        };
        assert_eq!(labels(&pair.sfu), ["p0", "p1"], "{sfu_dtls:?} {sfu_inits}");
        assert_eq!(labels(&pair.peer), ["s0", "s1"], "{sfu_dtls:?} {sfu_inits}");
        assert_eq!(pair.sfu.assoc.channels().count(), 4);
        assert_eq!(pair.peer.assoc.channels().count(), 4);
    }
}

#[test]
fn closing_a_channel_resets_it_on_both_sides_and_frees_the_id() {
    let mut pair = pair(DtlsRole::Server, false);
    let channel = pair.connect_and_open("chat", RELIABLE);
    pair.peer
        .assoc
        .send(channel, MessageKind::Text, Bytes::from_static(b"bye"))
        .unwrap();
    pair.peer.assoc.close_channel(channel).unwrap();
    pair.run_until(Duration::from_secs(5), |p| {
        p.sfu.events.contains(&Event::ChannelClosed { channel })
    });
    // The closing side hears of it too, at once.
    assert!(pair.peer.events.contains(&Event::ChannelClosed { channel }));
    // The message sent before the close still arrived.
    assert_eq!(pair.sfu.messages(channel), [Bytes::from_static(b"bye")]);
    assert_eq!(pair.sfu.assoc.channels().count(), 0);
    assert!(
        pair.sfu
            .assoc
            .send(channel, MessageKind::Text, Bytes::from_static(b"x"))
            .is_err()
    );
    // Once the reset completed the id is reused.
    for _ in 0..300 {
        pair.tick();
    }
    let again = pair.peer.assoc.open_channel("again", "", RELIABLE).unwrap();
    assert_eq!(again, channel);
    pair.run_until(Duration::from_secs(5), |p| {
        p.sfu
            .opened_by_peer()
            .iter()
            .any(|(c, l, _)| *c == again && l == "again")
    });
}
