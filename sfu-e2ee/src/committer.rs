//! The designated-committer protocol: every client runs a [`CallMember`];
//! the application server only sequences and broadcasts.
//!
//! Rules, all derived from the broadcast order alone:
//! - the committer is the live member with the smallest leaf index; a member
//!   believes it is the committer only once every member with a smaller leaf
//!   index has been seen to leave ([`GroupMessage::Left`]);
//! - every member (and every joiner, from the moment it connects) tracks
//!   pending join requests and departures, so a new committer continues where
//!   a departed one stopped;
//! - the committer commits all pending Adds and Removes in one Commit, sends
//!   the Welcome before the Commit, and has at most one Commit in flight;
//! - the first Commit for an epoch in broadcast order wins; later ones for the
//!   same epoch are ignored, and an own Commit that lost is discarded;
//! - a joiner keeps Welcomes unprocessed until the Commit they belong to is
//!   sequenced, so a committer that crashes between its Welcome and its
//!   Commit leaves no joiner in an epoch nobody else reaches.

use std::collections::{BTreeSet, VecDeque};

use crate::Error;
use crate::safety::SafetyNumber;
use crate::wire::{ClientId, CommitRef, GroupMessage};

/// Welcomes a joiner keeps while waiting for their Commits.
pub const MAX_STAGED_WELCOMES: usize = 4;
/// Pending join requests a member tracks at most (more are refused).
pub const MAX_PENDING_JOINS: usize = 1024;

/// What [`GroupKeying::apply_commit`] did to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// We are in the next epoch.
    Applied,
    /// The Commit removed us; we hold no key of its epoch.
    Removed,
}

/// The MLS operations the protocol needs. [`crate::mls::MlsKeying`] implements
/// them with openmls; the model check implements them symbolically so the
/// same [`CallMember`] code can be explored exhaustively.
pub trait GroupKeying {
    /// A fresh key package for our join request (serialized).
    fn key_package(&mut self) -> Result<Vec<u8>, Error>;
    /// Checks a joiner's key package: valid, our cipher suite, and its
    /// credential names `client`.
    fn check_key_package(&self, client: ClientId, key_package: &[u8]) -> Result<(), Error>;
    /// Creates a group with only us (epoch 0); replaces any group we had.
    fn found(&mut self) -> Result<(), Error>;
    /// Whether we hold a group.
    fn in_group(&self) -> bool;
    /// Current epoch.
    fn epoch(&self) -> u64;
    /// Members of the current epoch: `(leaf index, client)`, by leaf index.
    fn roster(&self) -> Vec<(u32, ClientId)>;
    /// Our leaf index.
    fn own_leaf(&self) -> Option<u32>;
    /// Creates a Commit adding `adds` and removing `removes` (leaf indices);
    /// it stays pending until [`Self::merge_own_commit`]. Returns the Commit
    /// and, when `adds` is not empty, the Welcome.
    fn commit(
        &mut self,
        adds: &[(ClientId, &[u8])],
        removes: &[u32],
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), Error>;
    /// Our pending Commit was sequenced: move to its epoch.
    fn merge_own_commit(&mut self) -> Result<(), Error>;
    /// Our pending Commit lost: forget it.
    fn discard_own_commit(&mut self);
    /// Applies someone else's Commit for our epoch.
    fn apply_commit(&mut self, commit: &[u8]) -> Result<CommitOutcome, Error>;
    /// Joins from a Welcome.
    fn join(&mut self, welcome: &[u8]) -> Result<(), Error>;
    /// Safety number of the current epoch.
    fn safety_number(&self) -> Option<SafetyNumber>;
}

/// Where a client is in the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Connected, join request sent, waiting for a Welcome or a Found.
    Joining,
    /// In the group.
    Member,
    /// Left, or removed: no longer takes part.
    Gone,
}

/// What the application learns from [`CallMember::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallEvent {
    /// We are in a new epoch: install its SFrame keys and show the number.
    EpochChanged {
        /// The epoch.
        epoch: u64,
        /// Its safety number.
        safety_number: SafetyNumber,
    },
    /// A Commit removed us.
    Removed,
    /// A broadcast message was malformed or refused; counted and ignored.
    Rejected(Error),
}

/// One client's state machine for the designated-committer protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallMember<K> {
    me: ClientId,
    keying: K,
    phase: Phase,
    /// Valid join requests not yet known to be in the group, in broadcast
    /// order: joiners are added first come, first served, and client ids are
    /// only ever compared for equality (the model check relies on that).
    requests: Vec<(ClientId, Vec<u8>)>,
    /// Clients seen to leave that may still be (or become) in the group.
    departed: BTreeSet<ClientId>,
    /// Our Commit waiting to be sequenced.
    in_flight: Option<CommitRef>,
    /// Welcomes naming us, unprocessed, with the Commit each belongs to.
    staged: VecDeque<(CommitRef, Vec<u8>)>,
    transmits: VecDeque<GroupMessage>,
    events: VecDeque<CallEvent>,
}

impl<K: GroupKeying> CallMember<K> {
    /// A client `me` about to join: queues its join request.
    pub fn join(me: ClientId, mut keying: K) -> Result<Self, Error> {
        let key_package = keying.key_package()?;
        let mut m = Self {
            me,
            keying,
            phase: Phase::Joining,
            requests: Vec::new(),
            departed: BTreeSet::new(),
            in_flight: None,
            staged: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        };
        m.transmits.push_back(GroupMessage::JoinRequest {
            client: me,
            key_package,
        });
        Ok(m)
    }

    /// Our client id.
    pub fn client(&self) -> ClientId {
        self.me
    }

    /// Where we are.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The MLS state (for SFrame keys and inspection).
    pub fn keying(&self) -> &K {
        &self.keying
    }

    /// Whether we currently believe we are the committer: a member, and every
    /// member with a smaller leaf index has been seen to leave.
    pub fn is_committer(&self) -> bool {
        if self.phase != Phase::Member {
            return false;
        }
        let Some(mine) = self.keying.own_leaf() else {
            return false;
        };
        self.keying
            .roster()
            .iter()
            .filter(|(leaf, _)| *leaf < mine)
            .all(|(_, c)| self.departed.contains(c))
    }

    /// Join requests we would add if we were committer.
    pub fn pending_adds(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.requests.iter().map(|(c, _)| *c)
    }

    /// Members we would remove if we were committer.
    pub fn pending_removes(&self) -> Vec<ClientId> {
        self.keying
            .roster()
            .into_iter()
            .map(|(_, c)| c)
            .filter(|c| self.departed.contains(c))
            .collect()
    }

    /// Messages queued for the server.
    pub fn queued_transmits(&self) -> usize {
        self.transmits.len()
    }

    /// Next message to send to the server, in order.
    pub fn poll_transmit(&mut self) -> Option<GroupMessage> {
        self.transmits.pop_front()
    }

    /// Next event for the application.
    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    /// Feeds one message of the broadcast channel (encoded), in server order.
    pub fn handle_broadcast(&mut self, data: &[u8]) {
        match GroupMessage::decode(data) {
            Ok(msg) => self.handle_message(msg),
            Err(e) => self.events.push_back(CallEvent::Rejected(e)),
        }
    }

    /// Feeds one already-decoded message of the broadcast channel.
    pub fn handle_message(&mut self, msg: GroupMessage) {
        if self.phase == Phase::Gone {
            return;
        }
        let result = match msg {
            GroupMessage::JoinRequest {
                client,
                key_package,
            } => self.on_join_request(client, key_package),
            GroupMessage::Left { client } => {
                self.on_left(client);
                Ok(())
            }
            GroupMessage::Found { client } => self.on_found(client),
            GroupMessage::Welcome {
                commit,
                joiners,
                welcome,
            } => {
                if self.phase == Phase::Joining && joiners.contains(&self.me) {
                    if self.staged.len() == MAX_STAGED_WELCOMES {
                        self.staged.pop_front();
                    }
                    self.staged.push_back((commit, welcome));
                }
                Ok(())
            }
            GroupMessage::Commit { epoch, commit, .. } => self.on_commit(epoch, &commit),
        };
        if let Err(e) = result {
            self.events.push_back(CallEvent::Rejected(e));
        }
        if let Err(e) = self.maybe_commit() {
            self.events.push_back(CallEvent::Rejected(e));
        }
    }

    fn in_roster(&self, client: ClientId) -> bool {
        self.keying.roster().iter().any(|(_, c)| *c == client)
    }

    fn on_join_request(&mut self, client: ClientId, key_package: Vec<u8>) -> Result<(), Error> {
        if client == self.me
            || self.requests.iter().any(|(c, _)| *c == client)
            || self.departed.contains(&client)
        {
            return Ok(());
        }
        if self.phase == Phase::Member && self.in_roster(client) {
            return Ok(());
        }
        if self.requests.len() >= MAX_PENDING_JOINS {
            return Err(Error::KeyPackageRejected("too many pending join requests"));
        }
        // Every member runs the same deterministic check, so all agree on
        // which requests are pending, and a bad key package cannot stall the
        // committer.
        self.keying.check_key_package(client, &key_package)?;
        self.requests.push((client, key_package));
        Ok(())
    }

    fn on_left(&mut self, client: ClientId) {
        if client == self.me {
            self.phase = Phase::Gone;
            return;
        }
        self.requests.retain(|(c, _)| *c != client);
        self.departed.insert(client);
    }

    fn on_found(&mut self, client: ClientId) -> Result<(), Error> {
        // A new group replaces the old one: its Welcomes can never activate.
        self.staged.clear();
        if client != self.me || self.phase != Phase::Joining {
            return Ok(());
        }
        self.keying.found()?;
        self.phase = Phase::Member;
        self.entered_epoch();
        Ok(())
    }

    fn on_commit(&mut self, epoch: u64, commit: &[u8]) -> Result<(), Error> {
        let r = CommitRef::of(commit);
        match self.phase {
            Phase::Joining => {
                let Some(pos) = self.staged.iter().position(|(c, _)| *c == r) else {
                    return Ok(());
                };
                let welcome = self.staged.remove(pos).map(|(_, w)| w).unwrap_or_default();
                self.staged.clear();
                self.keying.join(&welcome)?;
                self.phase = Phase::Member;
                self.entered_epoch();
                Ok(())
            }
            Phase::Member => {
                if epoch != self.keying.epoch() {
                    return Ok(());
                }
                if self.in_flight == Some(r) {
                    self.in_flight = None;
                    self.keying.merge_own_commit()?;
                } else {
                    if self.in_flight.take().is_some() {
                        self.keying.discard_own_commit();
                    }
                    if self.keying.apply_commit(commit)? == CommitOutcome::Removed {
                        self.phase = Phase::Gone;
                        self.events.push_back(CallEvent::Removed);
                        return Ok(());
                    }
                }
                self.entered_epoch();
                Ok(())
            }
            Phase::Gone => Ok(()),
        }
    }

    /// Bookkeeping after every epoch change.
    fn entered_epoch(&mut self) {
        let roster: BTreeSet<ClientId> = self.keying.roster().into_iter().map(|(_, c)| c).collect();
        self.requests.retain(|(c, _)| !roster.contains(c));
        // A departure matters only while the client is a member or could be
        // added by a Commit already in flight; that Commit is the one just
        // applied (or it lost), so non-members can be forgotten now.
        self.departed.retain(|c| roster.contains(c));
        if let Some(safety_number) = self.keying.safety_number() {
            self.events.push_back(CallEvent::EpochChanged {
                epoch: self.keying.epoch(),
                safety_number,
            });
        }
    }

    fn maybe_commit(&mut self) -> Result<(), Error> {
        if self.in_flight.is_some() || !self.is_committer() {
            return Ok(());
        }
        let removes: Vec<(u32, ClientId)> = self
            .keying
            .roster()
            .into_iter()
            .filter(|(_, c)| self.departed.contains(c))
            .collect();
        if self.requests.is_empty() && removes.is_empty() {
            return Ok(());
        }
        let adds: Vec<(ClientId, &[u8])> = self
            .requests
            .iter()
            .map(|(c, kp)| (*c, kp.as_slice()))
            .collect();
        let added: Vec<ClientId> = adds.iter().map(|(c, _)| *c).collect();
        let leaves: Vec<u32> = removes.iter().map(|(l, _)| *l).collect();
        let epoch = self.keying.epoch();
        let (commit, welcome) = self.keying.commit(&adds, &leaves)?;
        let r = CommitRef::of(&commit);
        self.in_flight = Some(r);
        if let Some(welcome) = welcome {
            self.transmits.push_back(GroupMessage::Welcome {
                commit: r,
                joiners: added.clone(),
                welcome,
            });
        }
        self.transmits.push_back(GroupMessage::Commit {
            epoch,
            added,
            removed: removes.into_iter().map(|(_, c)| c).collect(),
            commit,
        });
        Ok(())
    }
}
