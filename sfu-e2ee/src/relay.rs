//! The application server's side of the designated-committer protocol: a
//! sequencer that stamps senders, broadcasts everything in one order, and
//! designates a founder when no live member is left. It holds no keys and
//! never parses MLS.

use std::collections::{BTreeSet, VecDeque};

use crate::Error;
use crate::wire::{ClientId, GroupMessage};

/// Sequencer for one call's broadcast channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CallRelay {
    /// Members according to the Commits (and Found) sequenced so far.
    roster: BTreeSet<ClientId>,
    /// Clients that disconnected and are (or may yet be added as) members:
    /// a Commit already in flight can add a joiner that just left.
    departed: BTreeSet<ClientId>,
    /// Connected clients that asked to join and are not members, oldest first.
    joiners: VecDeque<ClientId>,
    /// Epoch the next Commit must name to change the roster.
    epoch: u64,
    out: VecDeque<GroupMessage>,
}

impl CallRelay {
    /// An empty call.
    pub fn new() -> Self {
        Self::default()
    }

    /// A message from client `from`. Join requests must name their sender;
    /// Welcomes and Commits must come from a member.
    pub fn handle_client_message(
        &mut self,
        from: ClientId,
        msg: GroupMessage,
    ) -> Result<(), Error> {
        match &msg {
            GroupMessage::JoinRequest { client, .. } => {
                if *client != from || self.roster.contains(&from) || self.joiners.contains(&from) {
                    return Err(Error::MalformedGroupMessage);
                }
                self.joiners.push_back(from);
            }
            GroupMessage::Welcome { .. } => {
                if !self.roster.contains(&from) {
                    return Err(Error::MalformedGroupMessage);
                }
            }
            GroupMessage::Commit {
                epoch,
                added,
                removed,
                ..
            } => {
                if !self.roster.contains(&from) {
                    return Err(Error::MalformedGroupMessage);
                }
                // Clients apply the first Commit of an epoch; so does the roster.
                if *epoch == self.epoch {
                    self.epoch += 1;
                    for c in removed {
                        self.roster.remove(c);
                        self.departed.remove(c);
                    }
                    for c in added {
                        self.joiners.retain(|j| j != c);
                        self.roster.insert(*c);
                    }
                    // Only the Commit just sequenced could still add a
                    // departed joiner; later ones are built after its Left.
                    let roster = &self.roster;
                    self.departed.retain(|c| roster.contains(c));
                }
            }
            GroupMessage::Left { .. } | GroupMessage::Found { .. } => {
                return Err(Error::MalformedGroupMessage);
            }
        }
        self.out.push_back(msg);
        self.maybe_found();
        Ok(())
    }

    /// Client `client` disconnected (or said goodbye).
    pub fn handle_disconnect(&mut self, client: ClientId) {
        self.joiners.retain(|j| *j != client);
        self.departed.insert(client);
        self.out.push_back(GroupMessage::Left { client });
        self.maybe_found();
    }

    fn maybe_found(&mut self) {
        if self.roster.iter().any(|c| !self.departed.contains(c)) {
            return;
        }
        if let Some(founder) = self.joiners.pop_front() {
            self.roster.clear();
            self.departed.clear();
            self.roster.insert(founder);
            self.epoch = 0;
            self.out.push_back(GroupMessage::Found { client: founder });
        }
    }

    /// Next message to broadcast to every connected client, in order.
    pub fn poll_broadcast(&mut self) -> Option<GroupMessage> {
        self.out.pop_front()
    }

    /// Members by the relay's count (for dashboards and tests).
    pub fn roster(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.roster.iter().copied()
    }
}
