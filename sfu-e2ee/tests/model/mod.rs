//! Symbolic MLS for exploring the real [`CallMember`] code: group state is
//! explicit (epoch, leaves, a running authenticator hash), Commits and
//! Welcomes are byte strings that encode exactly what they do, and every
//! check MLS would make on epoch, group and membership is made here too. It
//! is small, deterministic, cloneable and hashable, which openmls state is
//! not, so whole worlds can be stored and deduplicated.

#![allow(dead_code)]

use sfu_e2ee::Error;
use sfu_e2ee::committer::{CommitOutcome, GroupKeying};
use sfu_e2ee::safety::SafetyNumber;
use sfu_e2ee::wire::ClientId;

/// FNV-1a: stable across runs, so state hashes and schedules reproduce.
pub fn fnv(data: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Group {
    pub gid: u64,
    pub epoch: u64,
    pub leaves: Vec<Option<ClientId>>,
    pub auth: u64,
}

impl Group {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.gid.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.auth.to_be_bytes());
        out.extend_from_slice(&(self.leaves.len() as u16).to_be_bytes());
        for l in &self.leaves {
            out.extend_from_slice(&l.map_or(u64::MAX, |c| c.0).to_be_bytes());
        }
    }

    fn decode(data: &[u8]) -> Option<(Self, &[u8])> {
        let u64_at = |i: usize| Some(u64::from_be_bytes(data.get(i..i + 8)?.try_into().ok()?));
        let (gid, epoch, auth) = (u64_at(0)?, u64_at(8)?, u64_at(16)?);
        let n = u16::from_be_bytes(data.get(24..26)?.try_into().ok()?) as usize;
        let mut leaves = Vec::with_capacity(n);
        for i in 0..n {
            let v = u64_at(26 + 8 * i)?;
            leaves.push((v != u64::MAX).then_some(ClientId(v)));
        }
        Some((
            Self {
                gid,
                epoch,
                leaves,
                auth,
            },
            data.get(26 + 8 * n..)?,
        ))
    }

    /// The group after a Commit removing `removes` then adding `adds`,
    /// leaves assigned as MLS does (leftmost blank first, then append).
    fn after(&self, removes: &[u32], adds: &[ClientId], commit: &[u8]) -> Option<Self> {
        let mut leaves = self.leaves.clone();
        for r in removes {
            let slot = leaves.get_mut(*r as usize)?;
            slot.take()?;
        }
        for a in adds {
            if leaves.iter().flatten().any(|c| c == a) {
                return None;
            }
            match leaves.iter().position(Option::is_none) {
                Some(p) => leaves[p] = Some(*a),
                None => leaves.push(Some(*a)),
            }
        }
        while leaves.last() == Some(&None) {
            leaves.pop();
        }
        Some(Self {
            gid: self.gid,
            epoch: self.epoch + 1,
            leaves,
            auth: fnv(commit, self.auth),
        })
    }
}

fn encode_commit(g: &Group, committer: u32, removes: &[u32], adds: &[ClientId]) -> Vec<u8> {
    let mut v = b"commit".to_vec();
    v.extend_from_slice(&g.gid.to_be_bytes());
    v.extend_from_slice(&g.epoch.to_be_bytes());
    v.extend_from_slice(&g.auth.to_be_bytes());
    v.extend_from_slice(&committer.to_be_bytes());
    v.extend_from_slice(&(removes.len() as u16).to_be_bytes());
    for r in removes {
        v.extend_from_slice(&r.to_be_bytes());
    }
    v.extend_from_slice(&(adds.len() as u16).to_be_bytes());
    for a in adds {
        v.extend_from_slice(&a.0.to_be_bytes());
    }
    v
}

struct Parsed {
    gid: u64,
    epoch: u64,
    auth: u64,
    committer: u32,
    removes: Vec<u32>,
    adds: Vec<ClientId>,
}

fn decode_commit(c: &[u8]) -> Option<Parsed> {
    let c = c.strip_prefix(b"commit")?;
    let u64_at = |i: usize| Some(u64::from_be_bytes(c.get(i..i + 8)?.try_into().ok()?));
    let committer = u32::from_be_bytes(c.get(24..28)?.try_into().ok()?);
    let nr = u16::from_be_bytes(c.get(28..30)?.try_into().ok()?) as usize;
    let mut at = 30;
    let mut removes = Vec::new();
    for _ in 0..nr {
        removes.push(u32::from_be_bytes(c.get(at..at + 4)?.try_into().ok()?));
        at += 4;
    }
    let na = u16::from_be_bytes(c.get(at..at + 2)?.try_into().ok()?) as usize;
    at += 2;
    let mut adds = Vec::new();
    for _ in 0..na {
        adds.push(ClientId(u64_at(at)?));
        at += 8;
    }
    Some(Parsed {
        gid: u64_at(0)?,
        epoch: u64_at(8)?,
        auth: u64_at(16)?,
        committer,
        removes,
        adds,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelKeying {
    pub me: ClientId,
    pub group: Option<Group>,
    pending: Option<Group>,
}

impl ModelKeying {
    pub fn new(me: ClientId) -> Self {
        Self {
            me,
            group: None,
            pending: None,
        }
    }

    fn kp(client: ClientId) -> Vec<u8> {
        let mut v = b"kp".to_vec();
        v.extend_from_slice(&client.0.to_be_bytes());
        v
    }

    fn err(s: &str) -> Error {
        Error::Mls(s.to_string())
    }

    /// The group our Commit in flight would move us to (for traces).
    pub fn pending(&self) -> Option<&Group> {
        self.pending.as_ref()
    }
}

impl GroupKeying for ModelKeying {
    fn key_package(&mut self) -> Result<Vec<u8>, Error> {
        Ok(Self::kp(self.me))
    }

    fn check_key_package(&self, client: ClientId, key_package: &[u8]) -> Result<(), Error> {
        if key_package == Self::kp(client) {
            Ok(())
        } else {
            Err(Error::KeyPackageRejected(
                "model: credential names another client",
            ))
        }
    }

    fn found(&mut self) -> Result<(), Error> {
        self.group = Some(Group {
            gid: self.me.0,
            epoch: 0,
            leaves: vec![Some(self.me)],
            auth: fnv(b"found", self.me.0),
        });
        self.pending = None;
        Ok(())
    }

    fn in_group(&self) -> bool {
        self.group.is_some()
    }

    fn epoch(&self) -> u64 {
        self.group.as_ref().map_or(0, |g| g.epoch)
    }

    fn roster(&self) -> Vec<(u32, ClientId)> {
        self.group
            .as_ref()
            .map(|g| {
                g.leaves
                    .iter()
                    .enumerate()
                    .filter_map(|(i, l)| l.map(|c| (i as u32, c)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn own_leaf(&self) -> Option<u32> {
        let g = self.group.as_ref()?;
        g.leaves
            .iter()
            .position(|l| *l == Some(self.me))
            .map(|p| p as u32)
    }

    fn commit(
        &mut self,
        adds: &[(ClientId, &[u8])],
        removes: &[u32],
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), Error> {
        let g = self.group.as_ref().ok_or_else(|| Self::err("no group"))?;
        let me = self.own_leaf().ok_or_else(|| Self::err("not in group"))?;
        if removes.contains(&me) {
            return Err(Self::err("committer removes itself"));
        }
        for (c, kp) in adds {
            self.check_key_package(*c, kp)?;
        }
        let add_ids: Vec<ClientId> = adds.iter().map(|(c, _)| *c).collect();
        let commit = encode_commit(g, me, removes, &add_ids);
        let next = g
            .after(removes, &add_ids, &commit)
            .ok_or_else(|| Self::err("invalid proposals"))?;
        let welcome = (!add_ids.is_empty()).then(|| {
            let mut w = b"welcome".to_vec();
            next.encode(&mut w);
            w
        });
        self.pending = Some(next);
        Ok((commit, welcome))
    }

    fn merge_own_commit(&mut self) -> Result<(), Error> {
        self.group = Some(
            self.pending
                .take()
                .ok_or_else(|| Self::err("no pending commit"))?,
        );
        Ok(())
    }

    fn discard_own_commit(&mut self) {
        self.pending = None;
    }

    fn apply_commit(&mut self, commit: &[u8]) -> Result<CommitOutcome, Error> {
        let g = self.group.as_ref().ok_or_else(|| Self::err("no group"))?;
        let p = decode_commit(commit)
            .ok_or_else(|| Error::CommitRejected("model: not a commit".into()))?;
        if p.gid != g.gid || p.epoch != g.epoch || p.auth != g.auth {
            return Err(Error::CommitRejected("model: wrong group or epoch".into()));
        }
        if g.leaves
            .get(p.committer as usize)
            .copied()
            .flatten()
            .is_none()
        {
            return Err(Error::CommitRejected(
                "model: committer not a member".into(),
            ));
        }
        let next = g
            .after(&p.removes, &p.adds, commit)
            .ok_or_else(|| Error::CommitRejected("model: invalid".into()))?;
        if !next.leaves.contains(&Some(self.me)) {
            // MLS: the removed member gets no path secret for the new epoch.
            self.group = None;
            return Ok(CommitOutcome::Removed);
        }
        self.group = Some(next);
        Ok(CommitOutcome::Applied)
    }

    fn join(&mut self, welcome: &[u8]) -> Result<(), Error> {
        let body = welcome
            .strip_prefix(b"welcome")
            .ok_or_else(|| Error::WelcomeRejected("model".into()))?;
        let (g, _) = Group::decode(body).ok_or_else(|| Error::WelcomeRejected("model".into()))?;
        if !g.leaves.contains(&Some(self.me)) {
            return Err(Error::WelcomeRejected("model: not for us".into()));
        }
        self.group = Some(g);
        Ok(())
    }

    fn safety_number(&self) -> Option<SafetyNumber> {
        let g = self.group.as_ref()?;
        let mut b = g.gid.to_be_bytes().to_vec();
        b.extend_from_slice(&g.epoch.to_be_bytes());
        b.extend_from_slice(&g.auth.to_be_bytes());
        Some(SafetyNumber::from_epoch_authenticator(&b))
    }
}

pub mod world;
