//! The shield's timer heap: one queued wake-up per stream with a deadline,
//! earliest first, so `poll_timeout` is a peek and `handle_timeout` visits
//! only the streams whose deadline has passed, instead of every missing
//! packet of every stream on every driver turn.
//!
//! Entries are never updated in place. A stream whose deadline moves
//! earlier gets a second entry; one whose deadline moves later keeps the
//! early entry, which fires, finds little to do and queues the real one.
//! An entry that no longer matches its stream's
//! [`scheduled`](super::stream::StreamShield::scheduled) time (or whose
//! stream ended) is stale and skipped when it comes up. Stale entries are
//! bounded by compaction: the heap's capacity is reserved as streams are
//! added (so pushing never allocates on the packet path), and a push into
//! a full heap first drops every stale entry.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::stream::StreamShield;
use crate::Map;
use crate::recovery::StreamKey;

/// Heap slots reserved per stream: its live entry and room for stale ones
/// between compactions.
const SLOTS_PER_STREAM: usize = 4;

/// One queued wake-up.
#[derive(Debug, Clone, Copy)]
struct Wake {
    at: Instant,
    stream: StreamKey,
}

// Ordered by time alone, reversed: `BinaryHeap` is a max-heap and the
// earliest wake-up must come out first.
impl PartialEq for Wake {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Wake {}

impl PartialOrd for Wake {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Wake {
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at)
    }
}

/// Wake-ups of the shield's streams, earliest first.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Wake>,
}

impl Timers {
    /// Makes room for one more stream's entries (called as a stream is
    /// created, which allocates anyway).
    pub fn reserve_stream(&mut self) {
        self.heap.reserve(SLOTS_PER_STREAM);
    }

    /// Queues `stream`'s wake-up at `at`; `streams` tells stale entries
    /// apart if the heap must be compacted first.
    pub fn push(&mut self, at: Instant, stream: StreamKey, streams: &Map<StreamKey, StreamShield>) {
        if self.heap.len() >= self.heap.capacity() {
            self.heap.retain(|w| is_live(w, streams));
        }
        self.heap.push(Wake { at, stream });
    }

    /// The earliest queued wake-up (possibly a stale one: waking for it
    /// early is harmless).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|w| w.at)
    }

    /// Takes the earliest live wake-up due at `now`, skipping stale ones;
    /// the stream's [`scheduled`](StreamShield::scheduled) is cleared, as
    /// its entry is gone.
    pub fn pop_due(
        &mut self,
        now: Instant,
        streams: &mut Map<StreamKey, StreamShield>,
    ) -> Option<StreamKey> {
        while let Some(wake) = self.heap.peek().copied()
            && wake.at <= now
        {
            self.heap.pop();
            if let Some(s) = streams.get_mut(&wake.stream)
                && s.scheduled == Some(wake.at)
            {
                s.scheduled = None;
                return Some(wake.stream);
            }
        }
        None
    }
}

fn is_live(wake: &Wake, streams: &Map<StreamKey, StreamShield>) -> bool {
    streams
        .get(&wake.stream)
        .is_some_and(|s| s.scheduled == Some(wake.at))
}
