//! The meeting's MLS broadcast channel: the page server's only part in
//! end-to-end encryption, as Orange Meets' room channel. Per room, an
//! `sfu-e2ee` [`CallRelay`] sequences what members send (join requests
//! with key packages, Welcomes, Commits), stamps who sent it, designates a
//! founder, and every member reads the one resulting order. It holds no
//! key and parses no MLS: it cannot read the media it helps key.
//!
//! Transport: `POST …/mls/connect` gives a client id and a bearer token;
//! `POST …/mls/send` takes one encoded `GroupMessage`; `GET
//! …/mls/poll?after=N` waits up to a second for messages after sequence
//! number `N` (each `[u64 seq][u32 len][bytes]`); `POST …/mls/leave` (or a
//! client that stops polling for [`LEASE`]) is a departure the relay
//! broadcasts. The Rust member calls the same methods in-process.
//!
//! Bounds: rooms, clients per room, bytes kept per room (a client that
//! falls that far behind is disconnected), message size.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::Notify;

use sfu::e2ee::relay::CallRelay;
use sfu::e2ee::wire::{ClientId, GroupMessage, MAX_MESSAGE_LEN};

/// A client that has not polled for this long has left. A closing page
/// says goodbye at once (`leave` by beacon), so this only times out pages
/// that vanished; it is long because a page that lives on is often slow to
/// poll (a starved machine, a throttled background tab), and losing a
/// member costs a Commit and the member's seat.
pub const LEASE: Duration = Duration::from_secs(10);
/// How long a poll waits for something new.
pub const POLL_WAIT: Duration = Duration::from_secs(1);
const MAX_ROOMS: usize = 1024;
const MAX_CLIENTS: usize = 40;
/// Bytes of sequenced messages a room keeps for clients still to read them.
const MAX_LOG_BYTES: usize = 4 << 20;
/// Most bytes one poll returns (the client polls again for the rest).
const MAX_POLL_BYTES: usize = 1 << 20;

/// Why the channel refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("too many rooms or clients in this room")]
    Full,
    #[error("no such client in this room (left, or its lease ran out)")]
    UnknownClient,
    #[error("malformed or out-of-turn group message: {0}")]
    Rejected(String),
    #[error("no randomness for a client id")]
    NoRandomness,
}

struct Client {
    token: [u8; 16],
    last_seen: Instant,
    /// Everything up to this sequence number was delivered.
    cursor: u64,
}

struct Room {
    relay: CallRelay,
    /// Sequenced messages still to be read by someone: `(seq, bytes)`.
    log: VecDeque<(u64, Bytes)>,
    log_bytes: usize,
    next_seq: u64,
    clients: HashMap<ClientId, Client>,
    notify: Arc<Notify>,
}

impl Room {
    fn new() -> Self {
        Self {
            relay: CallRelay::new(),
            log: VecDeque::new(),
            log_bytes: 0,
            next_seq: 1,
            clients: HashMap::new(),
            notify: Arc::new(Notify::new()),
        }
    }

    /// Moves what the relay sequenced into the log and wakes the pollers.
    fn flush(&mut self) {
        let mut any = false;
        while let Some(msg) = self.relay.poll_broadcast() {
            let bytes = Bytes::from(msg.to_bytes());
            self.log_bytes += bytes.len();
            self.log.push_back((self.next_seq, bytes));
            self.next_seq += 1;
            any = true;
        }
        if any {
            self.notify.notify_waiters();
        }
    }

    /// Drops what every client has read; disconnects clients so far behind
    /// that the log would exceed its bound.
    fn trim(&mut self) {
        loop {
            let oldest_cursor = self.clients.values().map(|c| c.cursor).min();
            while let Some((seq, b)) = self.log.front() {
                if oldest_cursor.is_some_and(|c| *seq > c) {
                    break;
                }
                self.log_bytes -= b.len();
                self.log.pop_front();
            }
            if self.log_bytes <= MAX_LOG_BYTES {
                return;
            }
            let laggard = self
                .clients
                .iter()
                .min_by_key(|(_, c)| c.cursor)
                .map(|(id, _)| *id);
            let Some(id) = laggard else { return };
            tracing::info!(
                client = id.0,
                "channel: client too far behind, disconnected"
            );
            self.depart(id);
        }
    }

    fn depart(&mut self, id: ClientId) {
        if self.clients.remove(&id).is_some() {
            self.relay.handle_disconnect(id);
            self.flush();
        }
    }

    fn client(&mut self, id: ClientId, token: &[u8]) -> Result<&mut Client, ChannelError> {
        self.clients
            .get_mut(&id)
            .filter(|c| crate::ids::secret_matches(token, &c.token))
            .ok_or(ChannelError::UnknownClient)
    }
}

/// A connected client's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub client: ClientId,
    pub token: [u8; 16],
    /// Sequence number to poll after: the client reads from its connection on.
    pub after: u64,
}

/// Every room's channel.
#[derive(Default)]
pub struct Channels {
    rooms: Mutex<HashMap<String, Room>>,
    rejected: std::sync::atomic::AtomicU64,
}

impl Channels {
    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new client of `room`.
    pub fn connect(&self, now: Instant, room: &str) -> Result<Ticket, ChannelError> {
        let rng = SystemRandom::new();
        let mut id = [0u8; 8];
        let mut token = [0u8; 16];
        rng.fill(&mut id).map_err(|_| ChannelError::NoRandomness)?;
        rng.fill(&mut token)
            .map_err(|_| ChannelError::NoRandomness)?;
        let mut rooms = self.rooms();
        if !rooms.contains_key(room) && rooms.len() >= MAX_ROOMS {
            return Err(ChannelError::Full);
        }
        let r = rooms.entry(room.to_owned()).or_insert_with(Room::new);
        if r.clients.len() >= MAX_CLIENTS {
            return Err(ChannelError::Full);
        }
        let client = ClientId(u64::from_be_bytes(id));
        let after = r.next_seq - 1;
        r.clients.insert(
            client,
            Client {
                token,
                last_seen: now,
                cursor: after,
            },
        );
        Ok(Ticket {
            client,
            token,
            after,
        })
    }

    /// One message from a client, sequenced for everyone.
    pub fn send(
        &self,
        room: &str,
        client: ClientId,
        token: &[u8],
        data: &[u8],
    ) -> Result<(), ChannelError> {
        let mut rooms = self.rooms();
        let r = rooms.get_mut(room).ok_or(ChannelError::UnknownClient)?;
        r.client(client, token)?;
        let result = if data.len() > MAX_MESSAGE_LEN {
            Err(ChannelError::Rejected("message too large".into()))
        } else {
            GroupMessage::decode(data)
                .and_then(|msg| r.relay.handle_client_message(client, msg))
                .map_err(|e| ChannelError::Rejected(e.to_string()))
        };
        if result.is_err() {
            self.rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        r.flush();
        r.trim();
        result
    }

    /// Messages after `after` (encoded for the wire), or `None` when there
    /// are none yet, with the room's wake-up to wait on.
    pub fn take(
        &self,
        now: Instant,
        room: &str,
        client: ClientId,
        token: &[u8],
        after: u64,
    ) -> Result<(Option<Bytes>, Arc<Notify>), ChannelError> {
        let mut rooms = self.rooms();
        let r = rooms.get_mut(room).ok_or(ChannelError::UnknownClient)?;
        let last = r.next_seq - 1;
        let c = r.client(client, token)?;
        c.last_seen = now;
        // A client may re-read, never skip: its cursor is what it asked
        // after, so the log keeps everything beyond it.
        c.cursor = after.max(c.cursor).min(last);
        let mut out = BytesMut::new();
        for (seq, b) in r.log.iter().filter(|(s, _)| *s > after) {
            if !out.is_empty() && out.len() + b.len() > MAX_POLL_BYTES {
                break;
            }
            out.put_u64(*seq);
            out.put_u32(b.len() as u32);
            out.put_slice(b);
        }
        let notify = Arc::clone(&r.notify);
        r.trim();
        Ok(((!out.is_empty()).then(|| out.freeze()), notify))
    }

    /// The client said goodbye.
    pub fn leave(&self, room: &str, client: ClientId, token: &[u8]) -> Result<(), ChannelError> {
        let mut rooms = self.rooms();
        let r = rooms.get_mut(room).ok_or(ChannelError::UnknownClient)?;
        r.client(client, token)?;
        r.depart(client);
        r.trim();
        Ok(())
    }

    /// Ends the leases that ran out and forgets empty rooms; run often.
    pub fn sweep(&self, now: Instant) {
        let mut rooms = self.rooms();
        for r in rooms.values_mut() {
            let expired: Vec<ClientId> = r
                .clients
                .iter()
                .filter(|(_, c)| now.saturating_duration_since(c.last_seen) > LEASE)
                .map(|(id, _)| *id)
                .collect();
            for id in expired {
                r.depart(id);
            }
            r.trim();
        }
        rooms.retain(|_, r| !r.clients.is_empty());
    }

    /// Messages refused so far (malformed, out of turn, oversized).
    pub fn rejected(&self) -> u64 {
        self.rejected.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Parses the wire form of a poll's answer (what the Rust member reads).
pub fn parse_poll(mut data: &[u8]) -> Vec<(u64, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 12 {
        let seq = u64::from_be_bytes(data[..8].try_into().unwrap_or_default());
        let len = u32::from_be_bytes(data[8..12].try_into().unwrap_or_default()) as usize;
        let Some(msg) = data.get(12..12 + len) else {
            break;
        };
        out.push((seq, msg));
        data = &data[12 + len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_joiner_is_told_to_found_and_everyone_reads_one_order() {
        let ch = Channels::default();
        let now = Instant::now();
        let a = ch.connect(now, "r").unwrap();
        let b = ch.connect(now, "r").unwrap();
        let join = |c: ClientId| {
            GroupMessage::JoinRequest {
                client: c,
                key_package: vec![1, 2, 3],
            }
            .to_bytes()
        };
        ch.send("r", a.client, &a.token, &join(a.client)).unwrap();
        // A join request naming someone else is refused and counted.
        assert!(ch.send("r", b.client, &b.token, &join(a.client)).is_err());
        assert_eq!(ch.rejected(), 1);
        // A wrong token is an unknown client.
        assert_eq!(
            ch.send("r", b.client, &[0; 16], &join(b.client)),
            Err(ChannelError::UnknownClient)
        );
        let (got, _) = ch.take(now, "r", b.client, &b.token, b.after).unwrap();
        let got = got.unwrap();
        let msgs = parse_poll(&got);
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            GroupMessage::decode(msgs[1].1).unwrap(),
            GroupMessage::Found { client: a.client }
        );
        // Nothing new after the last one read.
        let (none, _) = ch.take(now, "r", b.client, &b.token, msgs[1].0).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn a_client_that_stops_polling_leaves_and_its_room_is_forgotten() {
        let ch = Channels::default();
        let now = Instant::now();
        let a = ch.connect(now, "r").unwrap();
        let b = ch.connect(now, "r").unwrap();
        let later = now + LEASE + Duration::from_millis(10);
        let (_, _) = ch.take(later, "r", b.client, &b.token, b.after).unwrap();
        ch.sweep(later);
        let (got, _) = ch.take(later, "r", b.client, &b.token, b.after).unwrap();
        let got = got.unwrap();
        let msgs = parse_poll(&got);
        assert_eq!(
            GroupMessage::decode(msgs[0].1).unwrap(),
            GroupMessage::Left { client: a.client }
        );
        assert_eq!(
            ch.send("r", a.client, &a.token, &[2, 0]),
            Err(ChannelError::UnknownClient)
        );
        ch.sweep(later + LEASE + Duration::from_millis(10));
        assert!(ch.rooms().is_empty());
    }

    #[test]
    fn rooms_and_clients_are_bounded() {
        let ch = Channels::default();
        let now = Instant::now();
        for _ in 0..MAX_CLIENTS {
            ch.connect(now, "r").unwrap();
        }
        assert_eq!(ch.connect(now, "r"), Err(ChannelError::Full));
    }
}
