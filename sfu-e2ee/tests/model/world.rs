//! A whole call: the real relay, real `CallMember`s over the symbolic MLS,
//! and a broadcast log every client reads at its own pace.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use sfu_e2ee::committer::{CallEvent, CallMember, GroupKeying, Phase};
use sfu_e2ee::relay::CallRelay;
use sfu_e2ee::wire::ClientId;

use super::ModelKeying;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Slot {
    /// Not connected yet.
    Idle,
    /// Connected; `cursor` is the next log entry it will read.
    Live {
        member: Box<CallMember<ModelKeying>>,
        cursor: usize,
    },
    /// Crashed or left; its state is gone.
    Gone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Client connects and its join request is sequenced.
    Start(usize),
    /// The relay sequences the client's next queued message.
    Send(usize),
    /// The client reads its next log entry.
    Deliver(usize),
    /// The client crashes (or leaves): its queued messages are lost.
    Crash(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct World {
    pub relay: CallRelay,
    pub log: Vec<Rc<[u8]>>,
    pub clients: Vec<Slot>,
    pub crashes: u32,
    /// History variable: the authenticator of every view `(group, epoch)`
    /// any client entered on this path. A client entering a known view with
    /// another authenticator is a fork, however long ago the other was there.
    pub ledger: BTreeMap<(u64, u64), u64>,
}

impl World {
    pub fn new(n: usize) -> Self {
        Self {
            relay: CallRelay::new(),
            log: Vec::new(),
            clients: vec![Slot::Idle; n],
            crashes: 0,
            ledger: BTreeMap::new(),
        }
    }

    /// Steps enabled in this state. With `reduce`, a pending delivery is
    /// taken alone (partial-order reduction): a delivery to client `i` touches
    /// only `i`, commutes with every step of other clients and with `i`'s own
    /// sends (it only appends to `i`'s queue), and a crash of `i` absorbs it
    /// (the crashed client's state is dropped either way). So every terminal
    /// state stays reachable, and the ledger keeps fork detection independent
    /// of which client runs ahead.
    pub fn enabled_reduced(&self, max_crashes: u32, reduce: bool, out: &mut Vec<Step>) {
        out.clear();
        if reduce {
            let pending = self
                .clients
                .iter()
                .position(|s| matches!(s, Slot::Live { cursor, .. } if *cursor < self.log.len()));
            if let Some(i) = pending {
                out.push(Step::Deliver(i));
                return;
            }
        }
        self.enabled(max_crashes, out);
    }

    pub fn enabled(&self, max_crashes: u32, out: &mut Vec<Step>) {
        out.clear();
        let mut first_idle = true;
        for (i, slot) in self.clients.iter().enumerate() {
            match slot {
                // Clients are interchangeable (ids are only compared for
                // equality, joiners are added in request order), so only the
                // lowest idle client may connect next: every other start
                // order is a renaming of this one.
                Slot::Idle if first_idle => {
                    out.push(Step::Start(i));
                    first_idle = false;
                }
                Slot::Idle => {}
                Slot::Live { member, cursor } => {
                    if *cursor < self.log.len() {
                        out.push(Step::Deliver(i));
                    }
                    if has_transmit(member) {
                        out.push(Step::Send(i));
                    }
                    if self.crashes < max_crashes {
                        out.push(Step::Crash(i));
                    }
                }
                Slot::Gone => {}
            }
        }
    }

    fn drain_relay(&mut self) {
        while let Some(m) = self.relay.poll_broadcast() {
            self.log.push(m.to_bytes().into());
        }
    }

    pub fn apply(&mut self, step: Step) -> Result<(), String> {
        match step {
            Step::Start(i) => {
                // Connect and have the join request sequenced in one step:
                // the client reads the log from its own request on, the
                // least it can know (seeing earlier messages only adds
                // knowledge of older requests and departures).
                let id = ClientId(i as u64);
                let mut member =
                    CallMember::join(id, ModelKeying::new(id)).map_err(|e| e.to_string())?;
                let cursor = self.log.len();
                let request = member.poll_transmit().ok_or("no join request")?;
                self.relay
                    .handle_client_message(id, request)
                    .map_err(|e| e.to_string())?;
                self.drain_relay();
                self.clients[i] = Slot::Live {
                    member: Box::new(member),
                    cursor,
                };
            }
            Step::Send(i) => {
                let Slot::Live { member, .. } = &mut self.clients[i] else {
                    return Err("send from dead".into());
                };
                let msg = member.poll_transmit().ok_or("nothing to send")?;
                self.relay
                    .handle_client_message(ClientId(i as u64), msg)
                    .map_err(|e| format!("relay refused client {i}: {e}"))?;
                self.drain_relay();
            }
            Step::Deliver(i) => {
                let Slot::Live { member, cursor } = &mut self.clients[i] else {
                    return Err("deliver to dead".into());
                };
                let entry = self.log[*cursor].clone();
                *cursor += 1;
                member.handle_broadcast(&entry);
                while let Some(ev) = member.poll_event() {
                    match ev {
                        CallEvent::EpochChanged { .. } => {
                            let g = member
                                .keying()
                                .group
                                .as_ref()
                                .ok_or("epoch without group")?;
                            let known = *self.ledger.entry((g.gid, g.epoch)).or_insert(g.auth);
                            if known != g.auth {
                                return Err(format!(
                                    "client {i}: fork at view {:?}",
                                    (g.gid, g.epoch)
                                ));
                            }
                        }
                        other => return Err(format!("client {i}: unexpected {other:?}")),
                    }
                }
            }
            Step::Crash(i) => {
                self.clients[i] = Slot::Gone;
                self.crashes += 1;
                self.relay.handle_disconnect(ClientId(i as u64));
                self.drain_relay();
            }
        }
        Ok(())
    }

    fn members(&self) -> impl Iterator<Item = (usize, &CallMember<ModelKeying>)> {
        self.clients
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Slot::Live { member, .. } if member.phase() == Phase::Member => {
                    Some((i, &**member))
                }
                _ => None,
            })
    }

    /// Invariants that hold in every reachable state.
    pub fn check(&self) -> Result<(), String> {
        let mut committers: BTreeMap<(u64, u64), usize> = BTreeMap::new();
        let mut views: BTreeMap<(u64, u64), (usize, &CallMember<ModelKeying>)> = BTreeMap::new();
        for (i, m) in self.members() {
            let g = m
                .keying()
                .group
                .as_ref()
                .ok_or(format!("member {i} without group"))?;
            let view = (g.gid, g.epoch);
            if m.is_committer()
                && let Some(other) = committers.insert(view, i)
            {
                return Err(format!("two committers {other} and {i} in view {view:?}"));
            }
            match views.get(&view) {
                Some((j, other)) => {
                    if other.keying().safety_number() != m.keying().safety_number()
                        || other.keying().roster() != m.keying().roster()
                    {
                        return Err(format!("members {j} and {i} disagree in view {view:?}"));
                    }
                }
                None => {
                    views.insert(view, (i, m));
                }
            }
        }
        Ok(())
    }

    /// Whether the protocol has nothing left to do: every connected client
    /// read the whole log and has nothing queued. Only the environment (a new
    /// client, a crash) can move the call on from here.
    pub fn is_settled(&self) -> bool {
        self.clients.iter().all(|s| match s {
            Slot::Live { member, cursor } => *cursor == self.log.len() && !has_transmit(member),
            _ => true,
        })
    }

    /// When the protocol has settled: everyone still connected is a member
    /// of one epoch with one safety number, and the roster is exactly them.
    pub fn check_quiescent(&self) -> Result<(), String> {
        let live: BTreeSet<ClientId> = self
            .clients
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, Slot::Live { .. }))
            .map(|(i, _)| ClientId(i as u64))
            .collect();
        let mut first: Option<&CallMember<ModelKeying>> = None;
        for (i, slot) in self.clients.iter().enumerate() {
            let Slot::Live { member, .. } = slot else {
                continue;
            };
            if member.phase() != Phase::Member {
                return Err(format!(
                    "client {i} stays but never got in ({:?})",
                    member.phase()
                ));
            }
            let roster: BTreeSet<ClientId> = member
                .keying()
                .roster()
                .into_iter()
                .map(|(_, c)| c)
                .collect();
            if roster != live {
                return Err(format!("client {i} roster {roster:?} != live {live:?}"));
            }
            if let Some(f) = first
                && f.keying().group != member.keying().group
            {
                return Err(format!("client {i} did not converge"));
            }
            first = Some(member);
        }
        Ok(())
    }
}

fn has_transmit(member: &CallMember<ModelKeying>) -> bool {
    member.queued_transmits() > 0
}
