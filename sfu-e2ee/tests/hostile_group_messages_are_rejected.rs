//! Garbage and truncated messages on the broadcast channel are refused with a
//! typed error, counted as events, and never panic or change state.

mod model;

use model::ModelKeying;
use sfu_e2ee::Error;
use sfu_e2ee::committer::{CallEvent, CallMember, Phase};
use sfu_e2ee::wire::{ClientId, CommitRef, GroupMessage};

#[test]
fn garbage_and_truncations_are_rejected() {
    let mut m = CallMember::join(ClientId(1), ModelKeying::new(ClientId(1))).unwrap();
    let good = [
        GroupMessage::JoinRequest {
            client: ClientId(7),
            key_package: b"kp\0\0\0\0\0\0\0\x07".to_vec(),
        },
        GroupMessage::Welcome {
            commit: CommitRef([3; 16]),
            joiners: vec![ClientId(1)],
            welcome: vec![1, 2, 3],
        },
        GroupMessage::Commit {
            epoch: 4,
            added: vec![ClientId(2)],
            removed: vec![],
            commit: vec![9; 40],
        },
    ];
    for msg in &good {
        let bytes = msg.to_bytes();
        assert_eq!(&GroupMessage::decode(&bytes).unwrap(), msg);
        for cut in 0..bytes.len() {
            assert_eq!(
                GroupMessage::decode(&bytes[..cut]),
                Err(Error::MalformedGroupMessage)
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            GroupMessage::decode(&long),
            Err(Error::MalformedGroupMessage)
        );
    }
    // A list count far larger than the message must not allocate or panic.
    let huge = [
        4u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
    ];
    assert!(GroupMessage::decode(&huge).is_err());
    let mut x = 0x9e37_79b9u32;
    for len in 0..400 {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        m.handle_broadcast(&data);
    }
    assert_eq!(m.phase(), Phase::Joining);
    let mut rejected = 0;
    while let Some(ev) = m.poll_event() {
        assert!(matches!(ev, CallEvent::Rejected(_)), "{ev:?}");
        rejected += 1;
    }
    assert!(rejected > 300);
}

#[test]
fn join_request_with_a_forged_credential_is_not_tracked() {
    let mut m = CallMember::join(ClientId(1), ModelKeying::new(ClientId(1))).unwrap();
    let forged = GroupMessage::JoinRequest {
        client: ClientId(8),
        key_package: b"kp\0\0\0\0\0\0\0\x09".to_vec(),
    };
    m.handle_broadcast(&forged.to_bytes());
    assert_eq!(m.pending_adds().count(), 0);
    assert!(matches!(
        m.poll_event(),
        Some(CallEvent::Rejected(Error::KeyPackageRejected(_)))
    ));
}
