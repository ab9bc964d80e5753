//! The Rust member: a participant of an end-to-end encrypted meeting that
//! lives in the server's process and links `sfu-e2ee`, the shape of a bot
//! or AI agent that must hear an encrypted call. It joins the room's MLS
//! group through the same channel and designated-committer flow as the
//! browsers, pulls every member's tracks through a direct session of the
//! node, decrypts their frames, and publishes one track of its own: the
//! first other member's audio, decrypted and encrypted again under its own
//! SFrame key (an echo), which the browsers pull and decrypt like anyone's.
//!
//! One thread runs every member: it drains the node's direct packets once
//! per tick and hands each to the member whose session pulled it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use sfu::e2ee::codec::Codec;
use sfu::e2ee::committer::{CallEvent, CallMember, GroupKeying, Phase};
use sfu::e2ee::frame::{DEFAULT_GRACE, FrameDecryptor, FrameEncryptor};
use sfu::e2ee::mls::{KidLayout, MlsKeying};
use sfu::e2ee::sframe::CipherSuite;
use sfu::net::driver::DriverHandle;
use sfu::net::sdp::MediaKind;
use sfu::net::{DirectPacket, DirectTrack, SessionId};

use super::channel::{Channels, Ticket};
use super::rtp;
use crate::calls::Sessions;
use crate::demo::Rooms;

/// Members the server runs at most (each holds MLS state and a thread's share).
const MAX_MEMBERS: usize = 8;
const TICK: Duration = Duration::from_millis(10);
/// The SFrame suite the meeting uses (as the browsers' module).
pub const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
/// The member's published track.
pub const TRACK: &str = "audio";
/// How long the echo's source may be silent to us before another takes over.
const ECHO_HANDOVER: Duration = Duration::from_secs(1);
/// A member alone in its room this long leaves it, so that a forgotten
/// bot does not hold one of the server's [`MAX_MEMBERS`] seats forever.
const ALONE_LEAVE: Duration = Duration::from_secs(30);

/// What a member has done, for its page and the tests.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStats {
    pub session_id: String,
    pub client: String,
    pub phase: String,
    pub epoch: u64,
    pub safety_number: Option<String>,
    /// Frames decrypted per sender (MLS client id, decimal) and kind.
    pub decrypted: HashMap<String, KindCounts>,
    /// Frames that did not decrypt, by error.
    pub failed: HashMap<String, u64>,
    /// Frames it sent (encrypted echo).
    pub sent: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct KindCounts {
    pub audio: u64,
    pub video: u64,
}

struct Pulled {
    publisher: SessionId,
    kind: MediaKind,
    pt: u8,
    frame: rtp::Vp8Assembler,
}

struct Member {
    room: String,
    ticket: Ticket,
    call: CallMember<MlsKeying>,
    session: SessionId,
    encryptor: FrameEncryptor,
    decryptor: FrameDecryptor,
    pulls: HashMap<u32, Pulled>,
    /// `(publisher session, track name)` pulled already.
    pulled: Vec<(SessionId, String)>,
    /// The echo: whose audio, and our numbering of it. When the source
    /// falls silent for us (it left, or its frames stopped decrypting), the
    /// next audio that decrypts takes over on the same SSRC, its
    /// timestamps shifted to carry on from ours.
    echo_source: Option<SessionId>,
    echo_last: Option<Instant>,
    echo_ssrc: u32,
    echo_seq: u16,
    echo_ts: EchoClock,
    published: bool,
    /// Since when no one else is in the room.
    alone_since: Option<Instant>,
    stats: MemberStats,
}

/// Every Rust member of every room.
pub struct Members {
    members: Mutex<HashMap<String, Member>>,
    channels: Arc<Channels>,
    rooms: Arc<Rooms>,
    sessions: Arc<Sessions>,
    app: String,
    node: DriverHandle,
}

fn leaf_clients(call: &CallMember<MlsKeying>) -> HashMap<u64, u64> {
    call.keying()
        .roster()
        .into_iter()
        .map(|(leaf, c)| (u64::from(leaf), c.0))
        .collect()
}

impl Members {
    pub fn new(
        channels: Arc<Channels>,
        rooms: Arc<Rooms>,
        sessions: Arc<Sessions>,
        app: String,
        node: DriverHandle,
    ) -> Arc<Self> {
        let m = Arc::new(Self {
            members: Mutex::new(HashMap::new()),
            channels,
            rooms,
            sessions,
            app,
            node,
        });
        let runner = Arc::clone(&m);
        let _ = std::thread::Builder::new()
            .name("sfu-members".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    runner.tick();
                }
            });
        m
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Member>> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The room's member, started if it has none: its stats.
    pub fn start(&self, room: &str) -> Result<MemberStats, String> {
        if let Some(m) = self.lock().get(room) {
            return Ok(m.stats.clone());
        }
        if self.lock().len() >= MAX_MEMBERS {
            return Err("the server runs its maximum of Rust members".into());
        }
        let ticket = self
            .channels
            .connect(Instant::now(), room)
            .map_err(|e| e.to_string())?;
        let keying = MlsKeying::new(ticket.client).map_err(|e| e.to_string())?;
        let call = CallMember::join(ticket.client, keying).map_err(|e| e.to_string())?;
        let session = self
            .node
            .call(|node, now| node.open_direct(now))
            .and_then(|r| r)
            .map_err(|e| e.to_string())?;
        let id = crate::ids::random_id().ok_or("no randomness")?;
        self.sessions.insert(id.clone(), &self.app, session, 2);
        let body = serde_json::json!({ "sessionId": id, "tracks": [TRACK] }).to_string();
        let reply = self.rooms.handle(
            &hyper::Method::PUT,
            room,
            body.as_bytes(),
            &self.sessions,
            &self.app,
        );
        if !reply.status.is_success() {
            return Err(format!("cannot join the room list: {}", reply.status));
        }
        let stats = MemberStats {
            session_id: id,
            client: ticket.client.0.to_string(),
            ..MemberStats::default()
        };
        let member = Member {
            room: room.to_owned(),
            ticket,
            call,
            session,
            encryptor: FrameEncryptor::new(),
            decryptor: FrameDecryptor::new(DEFAULT_GRACE),
            pulls: HashMap::new(),
            pulled: Vec::new(),
            echo_source: None,
            echo_last: None,
            echo_ssrc: 0x5eed_0000 | (ticket.client.0 as u32 & 0xffff),
            echo_seq: 0,
            echo_ts: EchoClock::default(),
            published: false,
            alone_since: Some(Instant::now()),
            stats: stats.clone(),
        };
        self.lock().insert(room.to_owned(), member);
        Ok(stats)
    }

    /// The room's member's stats.
    pub fn stats(&self, room: &str) -> Option<MemberStats> {
        self.lock().get(room).map(|m| m.stats.clone())
    }

    /// Takes the room's member out: it says goodbye on the channel (the
    /// group's committer removes it) and its session closes, which takes
    /// it off the room's list. Whether there was one.
    pub fn stop(&self, room: &str) -> bool {
        let Some(m) = self.lock().remove(room) else {
            return false;
        };
        let _ = self.channels.leave(room, m.ticket.client, &m.ticket.token);
        let session = m.session;
        let _ = self
            .node
            .call(move |node, now| node.close_session(now, session));
        true
    }

    fn tick(&self) {
        // Only members open direct sessions: with none, nothing is queued
        // and the driver need not be asked.
        if self.lock().is_empty() {
            return;
        }
        let now = Instant::now();
        let packets = self
            .node
            .call(|node, _| std::iter::from_fn(|| node.poll_direct()).collect::<Vec<_>>())
            .unwrap_or_default();
        let mut members = self.lock();
        let mut out: Vec<(SessionId, Bytes)> = Vec::new();
        for m in members.values_mut() {
            self.channel_turn(now, m);
        }
        for p in packets {
            if let Some(m) = members.values_mut().find(|m| m.session == p.session) {
                m.media(now, p, &mut out);
            }
        }
        let wanted: Vec<(String, SessionId)> = members
            .values()
            .map(|m| (m.room.clone(), m.session))
            .collect();
        drop(members);
        // New tracks of the room to pull, outside the members' lock.
        for (room, me) in wanted {
            self.pull_new(&room, me);
        }
        let lonely: Vec<String> = self
            .lock()
            .values()
            .filter(|m| {
                m.alone_since
                    .is_some_and(|t| now.saturating_duration_since(t) >= ALONE_LEAVE)
            })
            .map(|m| m.room.clone())
            .collect();
        for room in lonely {
            self.stop(&room);
        }
        if !out.is_empty() {
            let _ = self.node.call(move |node, now| {
                for (session, rtp) in out {
                    let _ = node.handle_direct_rtp(now, session, rtp);
                }
            });
        }
    }

    /// Reads the channel into the member's state machine and sends what it says.
    fn channel_turn(&self, now: Instant, m: &mut Member) {
        let t = m.ticket;
        if let Ok((Some(data), _)) = self
            .channels
            .take(now, &m.room, t.client, &t.token, t.after)
        {
            for (seq, msg) in super::channel::parse_poll(&data) {
                m.ticket.after = seq;
                m.call.handle_broadcast(msg);
            }
        }
        while let Some(msg) = m.call.poll_transmit() {
            let _ = self
                .channels
                .send(&m.room, t.client, &t.token, &msg.to_bytes());
        }
        while let Some(ev) = m.call.poll_event() {
            match ev {
                CallEvent::EpochChanged {
                    epoch,
                    safety_number,
                } => {
                    if let Ok(keys) = m.call.keying().epoch_keys(SUITE, KidLayout::default()) {
                        m.encryptor.set_key(keys.own.clone());
                        m.decryptor
                            .keys()
                            .install_epoch(now, epoch, keys.others.iter().cloned());
                    }
                    m.stats.epoch = epoch;
                    m.stats.safety_number = Some(safety_number.to_string());
                }
                CallEvent::Removed => m.stats.safety_number = None,
                CallEvent::Rejected(e) => {
                    *m.stats.failed.entry(format!("group: {e}")).or_default() += 1;
                }
                _ => {}
            }
        }
        m.decryptor.keys().handle_timeout(now);
        m.stats.phase = match m.call.phase() {
            Phase::Joining => "joining",
            Phase::Member => "member",
            Phase::Gone => "gone",
        }
        .into();
    }

    /// Pulls the room's tracks this member does not pull yet.
    fn pull_new(&self, room: &str, me: SessionId) {
        let listed = self.rooms.members(room);
        let mut todo = Vec::new();
        {
            let mut members = self.lock();
            let Some(m) = members.get_mut(room) else {
                return;
            };
            let mut present = Vec::new();
            for (id, tracks) in listed {
                let Some(s) = self.sessions.get(&self.app, &id) else {
                    continue;
                };
                if s.node == me {
                    continue;
                }
                present.push(s.node);
                for t in tracks {
                    if !m.pulled.contains(&(s.node, t.clone())) {
                        todo.push((s.node, t));
                    }
                }
            }
            m.forget_departed(&present);
            if !present.is_empty() {
                m.alone_since = None;
            } else if m.alone_since.is_none() {
                m.alone_since = Some(Instant::now());
            }
        }
        for (publisher, name) in todo {
            let n = name.clone();
            let Ok(Ok(pull)) = self
                .node
                .call(move |node, now| node.pull_direct(now, me, publisher, &n, None))
            else {
                continue;
            };
            let mut members = self.lock();
            let Some(m) = members.get_mut(room) else {
                return;
            };
            m.pulled.push((publisher, name));
            let pt = pull.format.pt;
            if pull.kind == MediaKind::Audio && !m.published {
                let track = DirectTrack {
                    name: TRACK.into(),
                    kind: MediaKind::Audio,
                    format: pull.format.clone(),
                    ssrc: m.echo_ssrc,
                };
                m.published = self
                    .node
                    .call(move |node, now| node.publish_direct(now, me, track))
                    .is_ok_and(|r| r.is_ok());
            }
            m.pulls.insert(
                pull.ssrc,
                Pulled {
                    publisher,
                    kind: pull.kind,
                    pt,
                    frame: rtp::Vp8Assembler::default(),
                },
            );
        }
    }
}

/// The echo's RTP timestamps: the source's, shifted so that a change of
/// source carries on one frame after the last one we sent.
#[derive(Default)]
struct EchoClock {
    offset: u32,
    last: Option<u32>,
    resync: bool,
}

impl EchoClock {
    /// Opus at 48 kHz, 20 ms frames: the step across a change of source.
    const FRAME: u32 = 960;

    fn stamp(&mut self, source: u32) -> u32 {
        if std::mem::take(&mut self.resync) {
            self.offset = match self.last {
                Some(last) => last.wrapping_add(Self::FRAME).wrapping_sub(source),
                None => 0,
            };
        }
        let ts = source.wrapping_add(self.offset);
        self.last = Some(ts);
        ts
    }
}

impl Member {
    /// Drops what we pulled from sessions no longer in the room (their
    /// pulls ended with them).
    fn forget_departed(&mut self, present: &[SessionId]) {
        self.pulled.retain(|(p, _)| present.contains(p));
        self.pulls.retain(|_, p| present.contains(&p.publisher));
    }

    /// Whether this decrypted audio of `publisher` is the echo's: the
    /// current source's, or any when the source has been silent to us for
    /// [`ECHO_HANDOVER`].
    fn echoes(&mut self, now: Instant, publisher: SessionId) -> bool {
        let silent = self
            .echo_last
            .is_none_or(|t| now.saturating_duration_since(t) >= ECHO_HANDOVER);
        if self.echo_source != Some(publisher) {
            if !silent {
                return false;
            }
            self.echo_source = Some(publisher);
            self.echo_ts.resync = true;
        }
        self.echo_last = Some(now);
        true
    }

    /// One RTP packet of a pulled track: decrypt its frame; echo the
    /// echo source's audio under our own key.
    fn media(&mut self, now: Instant, p: DirectPacket, out: &mut Vec<(SessionId, Bytes)>) {
        let Some(pull) = self.pulls.get_mut(&p.ssrc) else {
            return;
        };
        let Some(packet) = rtp::parse(&p.rtp) else {
            return;
        };
        let (codec, frame) = match pull.kind {
            MediaKind::Audio => (Codec::Opus, packet.payload.to_vec()),
            _ => match pull.frame.push(&packet) {
                Some(f) => (Codec::Vp8, f),
                None => return,
            },
        };
        let mut plain = Vec::new();
        match self.decryptor.decrypt(now, codec, &frame, &mut plain) {
            Ok(header) => {
                let leaf = KidLayout::default().leaf(header.kid);
                let client = leaf_clients(&self.call)
                    .get(&leaf)
                    .map_or_else(|| format!("leaf {leaf}"), u64::to_string);
                let c = self.stats.decrypted.entry(client).or_default();
                if pull.kind == MediaKind::Audio {
                    c.audio += 1;
                } else {
                    c.video += 1;
                }
            }
            Err(e) => {
                *self.stats.failed.entry(format!("{e:?}")).or_default() += 1;
                return;
            }
        }
        let (publisher, pt) = (pull.publisher, pull.pt);
        if pull.kind != MediaKind::Audio || !self.echoes(now, publisher) {
            return;
        }
        let mut sealed = Vec::new();
        if self
            .encryptor
            .encrypt(Codec::Opus, &plain, &mut sealed)
            .is_err()
        {
            return;
        }
        let rtp = rtp::write(
            pt,
            packet.marker,
            self.echo_seq,
            self.echo_ts.stamp(packet.timestamp),
            self.echo_ssrc,
            &sealed,
        );
        self.echo_seq = self.echo_seq.wrapping_add(1);
        self.stats.sent += 1;
        out.push((self.session, rtp));
    }
}
