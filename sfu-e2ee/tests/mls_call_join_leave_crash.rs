//! Real openmls groups driven by the designated-committer state machine
//! through the relay: joins, a leave, a committer crash between Welcome and
//! Commit, key separation after removal, and safety numbers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sfu_e2ee::Error;
use sfu_e2ee::codec::Codec;
use sfu_e2ee::committer::{CallEvent, CallMember, GroupKeying, Phase};
use sfu_e2ee::frame::{FrameDecryptor, FrameEncryptor};
use sfu_e2ee::mls::{KidLayout, MlsKeying};
use sfu_e2ee::relay::CallRelay;
use sfu_e2ee::safety::SafetyNumber;
use sfu_e2ee::sframe::CipherSuite;
use sfu_e2ee::wire::{ClientId, GroupMessage};

const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

struct Client {
    member: CallMember<MlsKeying>,
    enc: FrameEncryptor,
    dec: FrameDecryptor,
    connected: bool,
    rejected: Vec<Error>,
}

struct Call {
    relay: CallRelay,
    clients: BTreeMap<u64, Client>,
    now: Instant,
}

impl Call {
    fn new() -> Self {
        Self {
            relay: CallRelay::new(),
            clients: BTreeMap::new(),
            now: Instant::now(),
        }
    }

    fn connect(&mut self, id: u64) {
        let member = CallMember::join(ClientId(id), MlsKeying::new(ClientId(id)).unwrap()).unwrap();
        let client = Client {
            member,
            enc: FrameEncryptor::new(),
            dec: FrameDecryptor::new(Duration::from_secs(10)),
            connected: true,
            rejected: Vec::new(),
        };
        self.clients.insert(id, client);
    }

    /// Moves client transmits to the relay and broadcasts to every client
    /// still listening, until quiet. `hold` keeps a client's transmits back.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for (id, c) in self.clients.iter_mut() {
                while c.connected {
                    let Some(msg) = c.member.poll_transmit() else {
                        break;
                    };
                    self.relay
                        .handle_client_message(ClientId(*id), msg)
                        .unwrap();
                    moved = true;
                }
            }
            while let Some(msg) = self.relay.poll_broadcast() {
                moved = true;
                let bytes = msg.to_bytes();
                for c in self.clients.values_mut() {
                    c.member.handle_broadcast(&bytes);
                    drain_events(c, self.now);
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn disconnect(&mut self, id: u64) {
        self.clients.get_mut(&id).unwrap().connected = false;
        self.relay.handle_disconnect(ClientId(id));
    }

    fn safety(&self, id: u64) -> SafetyNumber {
        self.clients[&id].member.keying().safety_number().unwrap()
    }

    fn epoch(&self, id: u64) -> u64 {
        self.clients[&id].member.keying().epoch()
    }

    /// `from` sends a VP8 interframe; returns what `to` decrypts.
    fn send(&mut self, from: u64, to: u64) -> Result<Vec<u8>, Error> {
        let frame: Vec<u8> = [0x31u8]
            .into_iter()
            .chain((0..400).map(|i| i as u8))
            .collect();
        let mut wire = Vec::new();
        self.clients
            .get_mut(&from)
            .unwrap()
            .enc
            .encrypt(Codec::Vp8, &frame, &mut wire)?;
        let mut out = Vec::new();
        self.clients
            .get_mut(&to)
            .unwrap()
            .dec
            .decrypt(self.now, Codec::Vp8, &wire, &mut out)?;
        assert_eq!(out, frame);
        Ok(out)
    }
}

fn drain_events(c: &mut Client, now: Instant) {
    while let Some(ev) = c.member.poll_event() {
        match ev {
            CallEvent::EpochChanged { epoch, .. } => {
                let keys = c
                    .member
                    .keying()
                    .epoch_keys(SUITE, KidLayout::default())
                    .unwrap();
                assert_eq!(keys.epoch, epoch);
                c.enc.set_key(keys.own);
                c.dec.keys().install_epoch(now, epoch, keys.others);
            }
            CallEvent::Removed => {}
            CallEvent::Rejected(e) => c.rejected.push(e),
            // A variant added later must be looked at by this test first.
            other => panic!("unhandled call event {other:?}"),
        }
    }
}

fn assert_converged(call: &Call, ids: &[u64]) {
    let e = call.epoch(ids[0]);
    let s = call.safety(ids[0]);
    for id in ids {
        assert_eq!(
            call.clients[id].member.phase(),
            Phase::Member,
            "client {id}"
        );
        assert_eq!(call.epoch(*id), e, "client {id} epoch");
        assert_eq!(call.safety(*id), s, "client {id} safety number");
        let roster: Vec<u64> = call.clients[id]
            .member
            .keying()
            .roster()
            .iter()
            .map(|(_, c)| c.0)
            .collect();
        let mut want = ids.to_vec();
        want.sort();
        let mut got = roster.clone();
        got.sort();
        assert_eq!(got, want, "client {id} roster");
    }
}

#[test]
fn three_clients_join_one_leaves_and_the_removed_one_cannot_decrypt() {
    let mut call = Call::new();
    for id in [1, 2, 3] {
        call.connect(id);
        call.pump();
    }
    assert_converged(&call, &[1, 2, 3]);
    assert!(call.clients[&1].member.is_committer());
    let before = call.safety(1);
    call.send(2, 3).unwrap();
    call.send(3, 1).unwrap();

    // Client 3 leaves but keeps listening, as an attacker would.
    call.disconnect(3);
    call.clients.get_mut(&3).unwrap().connected = false;
    call.pump();
    assert_converged(&call, &[1, 2]);
    assert_ne!(
        call.safety(1),
        before,
        "membership change changes the safety number"
    );
    call.send(1, 2).unwrap();

    // 3 never got into the new epoch: the Left made its state machine stop;
    // even forcing the Commit into its MLS state fails, and frames of the new
    // epoch have no key on its side.
    assert!(call.epoch(3) < call.epoch(1));
    let frame: Vec<u8> = [0x31u8].into_iter().chain(0..100).collect();
    let mut wire = Vec::new();
    call.clients
        .get_mut(&1)
        .unwrap()
        .enc
        .encrypt(Codec::Vp8, &frame, &mut wire)
        .unwrap();
    let mut out = Vec::new();
    let r = call
        .clients
        .get_mut(&3)
        .unwrap()
        .dec
        .decrypt(call.now, Codec::Vp8, &wire, &mut out);
    assert!(matches!(r, Err(Error::UnknownKeyId(_))), "{r:?}");
}

#[test]
fn removed_member_processing_the_removal_commit_learns_no_new_keys() {
    let mut a = MlsKeying::new(ClientId(1)).unwrap();
    let mut b = MlsKeying::new(ClientId(2)).unwrap();
    let mut c = MlsKeying::new(ClientId(3)).unwrap();
    a.found().unwrap();
    let (kb, kc) = (b.key_package().unwrap(), c.key_package().unwrap());
    let (_commit, welcome) = a
        .commit(
            &[(ClientId(2), kb.as_slice()), (ClientId(3), kc.as_slice())],
            &[],
        )
        .unwrap();
    a.merge_own_commit().unwrap();
    b.join(welcome.as_ref().unwrap()).unwrap();
    c.join(welcome.as_ref().unwrap()).unwrap();
    assert_eq!(a.safety_number(), c.safety_number());
    let leaf_c = c.own_leaf().unwrap();
    let (remove, _) = a.commit(&[], &[leaf_c]).unwrap();
    a.merge_own_commit().unwrap();
    assert_eq!(
        b.apply_commit(&remove).unwrap(),
        sfu_e2ee::committer::CommitOutcome::Applied
    );
    assert_eq!(
        c.apply_commit(&remove).unwrap(),
        sfu_e2ee::committer::CommitOutcome::Removed
    );
    assert!(!c.in_group());
    assert!(c.epoch_keys(SUITE, KidLayout::default()).is_err());
    // The next commit (a fresh epoch) is opaque to c as well.
    let (next, _) = a.commit(&[], &[]).unwrap();
    a.merge_own_commit().unwrap();
    b.apply_commit(&next).unwrap();
    assert!(c.apply_commit(&next).is_err());
    let secret_a = a.export("probe", 32).unwrap();
    assert_eq!(secret_a, b.export("probe", 32).unwrap());
}

#[test]
fn committer_crash_between_welcome_and_commit_is_finished_by_the_next_member() {
    let mut call = Call::new();
    for id in [1, 2] {
        call.connect(id);
        call.pump();
    }
    assert_converged(&call, &[1, 2]);
    call.connect(3);
    // Deliver only 3's join request; 1 commits and its Welcome reaches the
    // relay, then 1 crashes before its Commit is sequenced.
    let jr = call
        .clients
        .get_mut(&3)
        .unwrap()
        .member
        .poll_transmit()
        .unwrap();
    call.relay.handle_client_message(ClientId(3), jr).unwrap();
    while let Some(m) = call.relay.poll_broadcast() {
        let b = m.to_bytes();
        for c in call.clients.values_mut() {
            c.member.handle_broadcast(&b);
        }
    }
    let welcome = call
        .clients
        .get_mut(&1)
        .unwrap()
        .member
        .poll_transmit()
        .unwrap();
    assert!(matches!(welcome, GroupMessage::Welcome { .. }));
    assert!(matches!(
        call.clients.get_mut(&1).unwrap().member.poll_transmit(),
        Some(GroupMessage::Commit { .. })
    ));
    call.relay
        .handle_client_message(ClientId(1), welcome)
        .unwrap();
    call.disconnect(1);
    call.pump();
    assert_converged(&call, &[2, 3]);
    // 3 was added into the leaf 1 left blank, so 3 (leaf 0) now commits.
    assert!(call.clients[&3].member.is_committer());
    assert!(!call.clients[&2].member.is_committer());
    call.send(2, 3).unwrap();
    call.send(3, 2).unwrap();
}

#[test]
fn forged_key_package_is_refused_by_every_member() {
    let mut call = Call::new();
    for id in [1, 2] {
        call.connect(id);
        call.pump();
    }
    // Client 9's key package arrives claiming to be client 8.
    let mut m9 = MlsKeying::new(ClientId(9)).unwrap();
    let kp = m9.key_package().unwrap();
    call.relay
        .handle_client_message(
            ClientId(8),
            GroupMessage::JoinRequest {
                client: ClientId(8),
                key_package: kp,
            },
        )
        .unwrap();
    let epoch = call.epoch(1);
    call.pump();
    assert_eq!(call.epoch(1), epoch, "nothing committed");
    assert!(
        call.clients[&1]
            .rejected
            .iter()
            .any(|e| matches!(e, Error::KeyPackageRejected(_)))
    );
    assert!(
        call.clients[&2]
            .rejected
            .iter()
            .any(|e| matches!(e, Error::KeyPackageRejected(_)))
    );
}
