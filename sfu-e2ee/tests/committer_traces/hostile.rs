//! Broadcasts no honest relay would send, for `committer_traces`: noise,
//! damaged entries, forged join requests, Lefts, Founds, Commits and
//! Welcomes, each built to reach one of the committer's error paths or its
//! rules for foreign input (eviction of staged Welcomes, a Found clearing
//! them, a Commit removing a member, a lost own Commit).

use sfu_e2ee::committer::{CallMember, Phase};
use sfu_e2ee::wire::{ClientId, CommitRef, GroupMessage};
use sfu_testkit::rng::Rng;

use crate::model::ModelKeying;
use crate::model::world::{Slot, World};

pub fn u64s(v: &mut Vec<u8>, xs: &[u64]) {
    for x in xs {
        v.extend_from_slice(&x.to_be_bytes());
    }
}

/// A Commit in the model's encoding (model::encode_commit), forged.
fn forged_commit(
    gid: u64,
    epoch: u64,
    auth: u64,
    committer: u32,
    removes: &[u32],
    adds: &[u64],
) -> Vec<u8> {
    let mut v = b"commit".to_vec();
    u64s(&mut v, &[gid, epoch, auth]);
    v.extend_from_slice(&committer.to_be_bytes());
    v.extend_from_slice(&(removes.len() as u16).to_be_bytes());
    for r in removes {
        v.extend_from_slice(&r.to_be_bytes());
    }
    v.extend_from_slice(&(adds.len() as u16).to_be_bytes());
    u64s(&mut v, adds);
    v
}

/// A message no honest relay would broadcast, built to reach the
/// committer's error paths (and its rules for foreign input).
pub fn hostile(rng: &mut Rng, world: &World) -> Vec<Vec<u8>> {
    let n = world.clients.len() as u64;
    let live: Vec<&CallMember<ModelKeying>> = world
        .clients
        .iter()
        .filter_map(|s| match s {
            Slot::Live { member, .. } => Some(&**member),
            _ => None,
        })
        .collect();
    let group = live
        .get(rng.below(live.len().max(1)))
        .and_then(|m| m.keying().group.clone());
    let ghost = 100 + rng.below_u64(4);
    let someone = rng.below_u64(n);
    let joining: Vec<u64> = live
        .iter()
        .filter(|m| m.phase() == Phase::Joining)
        .map(|m| m.client().0)
        .collect();
    let enc = |m: GroupMessage| m.to_bytes();
    match rng.below(10) {
        9 => {
            // More Welcomes for a joiner than it keeps (each valid, for a
            // group nobody is in), maybe a Found, then one of their Commits.
            let target = joining.get(rng.below(joining.len().max(1))).copied();
            let target = target.unwrap_or(someone);
            let k = 3 + rng.below(4);
            let (mut out, mut commits) = (Vec::new(), Vec::new());
            for j in 0..k as u64 {
                let commit = forged_commit(ghost, j, rng.next_u64(), 0, &[], &[target]);
                let mut w = b"welcome".to_vec();
                u64s(&mut w, &[ghost, j + 1, rng.next_u64()]);
                w.extend_from_slice(&2u16.to_be_bytes());
                u64s(&mut w, &[ghost, target]);
                out.push(enc(GroupMessage::Welcome {
                    commit: CommitRef::of(&commit),
                    joiners: vec![ClientId(target)],
                    welcome: w,
                }));
                commits.push(commit);
            }
            if rng.chance(0.3) {
                out.push(enc(GroupMessage::Found {
                    client: ClientId(ghost),
                }));
            }
            let pick = if rng.chance(0.5) { 0 } else { rng.below(k) };
            out.push(enc(GroupMessage::Commit {
                epoch: 0,
                added: vec![ClientId(target)],
                removed: vec![],
                commit: commits.swap_remove(pick),
            }));
            out
        }
        0 => {
            let len = rng.below(40);
            vec![rng.bytes(len)]
        }
        1 => {
            // An honest entry cut short or with a byte too many.
            let Some(e) = world.log.get(rng.below(world.log.len().max(1))) else {
                return vec![vec![5]];
            };
            let mut e = e.to_vec();
            if rng.chance(0.5) && !e.is_empty() {
                e.truncate(rng.below(e.len()));
            } else {
                e.push(rng.byte());
            }
            vec![e]
        }
        2 => {
            let mut kp = b"kp".to_vec();
            kp.extend_from_slice(&(ghost + u64::from(rng.chance(0.5))).to_be_bytes());
            vec![enc(GroupMessage::JoinRequest {
                client: ClientId(if rng.chance(0.5) { ghost } else { someone }),
                key_package: kp,
            })]
        }
        3 => vec![enc(GroupMessage::Left {
            client: ClientId(if rng.chance(0.7) { ghost } else { someone }),
        })],
        4 => vec![enc(GroupMessage::Found {
            client: ClientId(if rng.chance(0.3) { ghost } else { someone }),
        })],
        5 | 6 => {
            // A Commit for a live member's epoch: removing one of its
            // members, adding a ghost, or with a wrong authenticator.
            let Some(g) = group else {
                return vec![vec![]];
            };
            let leaves: Vec<u32> = (0..g.leaves.len() as u32)
                .filter(|l| g.leaves[*l as usize].is_some())
                .collect();
            let committer = leaves[rng.below(leaves.len())];
            let (removes, adds, auth) = match rng.below(4) {
                0 => (vec![], vec![ghost], g.auth),
                1 => (vec![leaves[rng.below(leaves.len())]], vec![], g.auth ^ 1),
                _ => (vec![leaves[rng.below(leaves.len())]], vec![], g.auth),
            };
            let commit = forged_commit(g.gid, g.epoch, auth, committer, &removes, &adds);
            vec![enc(GroupMessage::Commit {
                epoch: g.epoch,
                added: adds.into_iter().map(ClientId).collect(),
                removed: vec![],
                commit,
            })]
        }
        _ => {
            // A Welcome naming a client, maybe followed by its Commit: the
            // Welcome is garbage, not for it, or for a group nobody is in.
            let commit = if rng.chance(0.5) {
                let g = group.map_or((0, 0, 0), |g| (g.gid, g.epoch, g.auth));
                forged_commit(g.0, g.1, g.2, 0, &[], &[someone])
            } else {
                rng.bytes(20)
            };
            let welcome = match rng.below(3) {
                0 => rng.bytes(12),
                1 => {
                    let mut w = b"welcome".to_vec();
                    u64s(&mut w, &[ghost, 9, rng.next_u64()]);
                    w.extend_from_slice(&1u16.to_be_bytes());
                    u64s(&mut w, &[ghost]);
                    w
                }
                _ => {
                    let mut w = b"welcome".to_vec();
                    u64s(&mut w, &[ghost, 3, rng.next_u64()]);
                    w.extend_from_slice(&2u16.to_be_bytes());
                    u64s(&mut w, &[u64::MAX, someone]);
                    w
                }
            };
            let mut out = vec![enc(GroupMessage::Welcome {
                commit: CommitRef::of(&commit),
                joiners: vec![ClientId(ghost), ClientId(someone)],
                welcome,
            })];
            if rng.chance(0.6) {
                out.push(enc(GroupMessage::Commit {
                    epoch: rng.below_u64(3),
                    added: vec![ClientId(someone)],
                    removed: vec![],
                    commit,
                }));
            }
            out
        }
    }
}
