//! The driver thread's loop: the node's run-loop contract on mio.
//!
//! Each turn: wait for readiness, a wake-up or the node's deadline; read a
//! bounded number of batches from each readable socket (so calls and timers
//! always run, however fast datagrams arrive); run the application's
//! calls; fire the node's timers; send what the node queued; hand its
//! events on. Each turn's working time (wake-up to the next wait) is
//! counted in the shared state for [`DriverStats`](super::DriverStats).

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::udp::{self, Outgoing, RecvBatch};
use super::{Call, MediaSocket, Shared};
use crate::Transmit;
use crate::node::{Node, NodeEvent};

/// Media socket `i` has token `i`; the waker comes after them.
pub(crate) const WAKER: Token = Token(16);

/// Batches read from one socket per turn before calls and timers run.
const READS_PER_TURN: usize = 8;

/// Datagrams a turn sends before it stops reading, so calls and timers
/// also run soon under a large fan-out (eight batches of publisher packets
/// to a thousand viewers each would be a turn of over a second): a turn
/// then lasts about this many sends plus one batch's fan-out.
const SENDS_PER_TURN: usize = 8192;

/// Queued datagrams at which a batch being handled is sent before its
/// next datagram: well under the endpoint's queue bound (16 384), which a
/// batch of publisher packets times a thousand viewers would pass.
const FLUSH_AT: usize = 4096;

pub(crate) struct Shell {
    node: Node,
    sockets: Vec<MediaSocket>,
    batch: RecvBatch,
    out: Out,
}

/// What sends the node's datagrams and hands its events on: apart from
/// the receive batch, so a batch can be flushed halfway through.
struct Out {
    events: Sender<NodeEvent>,
    shared: Arc<Shared>,
    transmits: Vec<Transmit>,
    /// The allocation behind each flush's list of datagrams to send, kept
    /// across flushes so a steady stream allocates nothing per turn.
    outgoing: Vec<Outgoing<'static>>,
    /// Datagrams handed to the kernel since the turn began.
    sent_in_turn: usize,
}

/// An empty vector on `v`'s allocation, for borrows of another lifetime
/// (collecting in place reuses the buffer: same element type and size).
fn recycle<'a, 'b>(mut v: Vec<Outgoing<'a>>) -> Vec<Outgoing<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!("cleared")).collect()
}

impl Shell {
    pub fn new(
        node: Node,
        sockets: Vec<MediaSocket>,
        events: Sender<NodeEvent>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            node,
            sockets,
            batch: RecvBatch::default(),
            out: Out {
                events,
                shared,
                transmits: Vec::with_capacity(udp::BATCH * 8),
                outgoing: Vec::with_capacity(udp::BATCH * 8),
                sent_in_turn: 0,
            },
        }
    }

    pub fn run(&mut self, mut poll: Poll, calls: Receiver<Call>) {
        for (i, m) in self.sockets.iter().enumerate() {
            let fd = m.socket.as_raw_fd();
            if poll
                .registry()
                .register(&mut SourceFd(&fd), Token(i), Interest::READABLE)
                .is_err()
            {
                return;
            }
        }
        // Readiness is edge-triggered: a socket stays "readable" until a
        // read would block, even across turns that stopped reading early.
        let mut readable = vec![true; self.sockets.len()];
        let mut events = Events::with_capacity(64);
        let mut now = Instant::now();
        while !self.out.shared.stop.load(Ordering::Relaxed) {
            let timeout = if readable.contains(&true) {
                Some(std::time::Duration::ZERO)
            } else {
                self.node
                    .poll_timeout()
                    .map(|d| d.saturating_duration_since(now))
            };
            if let Err(e) = poll.poll(&mut events, timeout)
                && e.kind() != std::io::ErrorKind::Interrupted
            {
                break;
            }
            let woke = Instant::now();
            for event in events.iter() {
                if let Some(r) = readable.get_mut(event.token().0) {
                    *r = true;
                }
            }
            self.out.sent_in_turn = 0;
            for (i, r) in readable.iter_mut().enumerate() {
                if *r {
                    *r = self.read(i);
                }
            }
            while let Ok(call) = calls.try_recv() {
                call(&mut self.node, Instant::now());
                self.flush();
            }
            let due = Instant::now();
            if self.node.poll_timeout().is_some_and(|t| t <= due) {
                self.node.handle_timeout(due);
            }
            self.flush();
            // The end of this turn is the next one's "now" (its poll
            // timeout), so measuring costs one clock read a turn.
            now = Instant::now();
            self.out
                .shared
                .count_turn(now.saturating_duration_since(woke));
        }
        self.node.close_all(Instant::now());
        self.flush();
    }

    /// Reads up to [`READS_PER_TURN`] batches from socket `i`, fewer once
    /// the turn sent [`SENDS_PER_TURN`] datagrams; whether it may still
    /// have more.
    fn read(&mut self, i: usize) -> bool {
        for _ in 0..READS_PER_TURN {
            if self.out.sent_in_turn >= SENDS_PER_TURN {
                return true;
            }
            let Some(m) = self.sockets.get(i) else {
                return false;
            };
            let local = m.local;
            match udp::recv_batch(&m.socket, &mut self.batch) {
                Ok(0) | Err(_) => return false,
                Ok(_) => {
                    let now = Instant::now();
                    for d in self.batch.iter() {
                        // A wildcard socket reports where each datagram
                        // arrived: ICE paths and replies use that address.
                        let to = SocketAddr::new(d.to.unwrap_or(local.ip()), local.port());
                        self.node.handle_datagram(now, d.from, to, d.data);
                        if self.node.queued_transmits() >= FLUSH_AT {
                            self.out.flush(&mut self.node, &self.sockets);
                        }
                    }
                    self.flush();
                }
            }
        }
        true
    }

    fn flush(&mut self) {
        self.out.flush(&mut self.node, &self.sockets);
    }
}

impl Out {
    /// Sends everything the node queued, each datagram from the socket of
    /// its destination's family, then hands its events on.
    fn flush(&mut self, node: &mut Node, sockets: &[MediaSocket]) {
        while let Some(t) = node.poll_transmit() {
            self.transmits.push(t);
        }
        if !self.transmits.is_empty() {
            let mut batch = recycle(std::mem::take(&mut self.outgoing));
            for m in sockets {
                // Only a wildcard socket needs to be told the source address
                // (a control message per datagram); a bound one has one.
                let wildcard = m.local.ip().is_unspecified();
                batch.clear();
                batch.extend(
                    self.transmits
                        .iter()
                        .filter(|t| t.destination.is_ipv4() == m.local.is_ipv4())
                        .map(|t| Outgoing {
                            to: t.destination,
                            from: Some(t.source.ip()).filter(|ip| wildcard && !ip.is_unspecified()),
                            data: &t.contents,
                        }),
                );
                if batch.is_empty() {
                    continue;
                }
                self.sent_in_turn += batch.len();
                let report = udp::send_batch(&m.socket, &batch);
                self.shared
                    .send_refused
                    .fetch_add(report.refused as u64, Ordering::Relaxed);
                self.shared
                    .send_dropped
                    .fetch_add(report.dropped as u64, Ordering::Relaxed);
            }
            self.outgoing = recycle(batch);
            self.transmits.clear();
        }
        while let Some(event) = node.poll_event() {
            // A full channel means nobody reads events: drop, never block
            // the media plane.
            let _ = self.events.try_send(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flush relies on this to allocate nothing per turn.
    #[test]
    fn recycling_keeps_the_allocation() {
        let data = [0u8; 4];
        let mut v: Vec<Outgoing<'_>> = Vec::with_capacity(256);
        v.push(Outgoing {
            to: SocketAddr::from(([127, 0, 0, 1], 1)),
            from: None,
            data: &data,
        });
        let pointer = v.as_ptr() as usize;
        let w: Vec<Outgoing<'static>> = recycle(v);
        assert!(w.is_empty());
        assert_eq!(w.capacity(), 256);
        assert_eq!(w.as_ptr() as usize, pointer);
    }
}
