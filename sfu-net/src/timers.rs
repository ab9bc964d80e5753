//! Per-session deadlines in a min-heap, so asking for the next deadline is
//! a peek and a timer run visits only the sessions that are due: no work
//! proportional to the number of sessions per wake-up.
//!
//! Each session has one live deadline (`scheduled`). Moving it earlier
//! pushes a new entry; moving it later pushes nothing — the old entry pops
//! early and the session is rescheduled then — so deadlines that keep
//! moving later (consent refreshed by every check) cost nothing until they
//! come due. An entry that no longer matches its session's live deadline
//! is stale and skipped when it surfaces.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use crate::session::SessionKey;

/// One heap entry, ordered by its deadline only.
#[derive(Debug, Clone, Copy)]
struct Due<K>(Instant, K);

impl<K> PartialEq for Due<K> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<K> Eq for Due<K> {}

impl<K> PartialOrd for Due<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Due<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

/// The sessions' deadlines.
#[derive(Debug)]
pub(crate) struct SessionTimers<K> {
    heap: BinaryHeap<Reverse<Due<K>>>,
    scheduled: HashMap<K, Instant>,
}

impl<K: SessionKey> SessionTimers<K> {
    pub(crate) fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            scheduled: HashMap::new(),
        }
    }

    /// `session`'s deadline is now `at`.
    pub(crate) fn schedule(&mut self, session: K, at: Instant) {
        match self.scheduled.get(&session) {
            // Still due no later than its entry: the entry surfaces first.
            Some(&live) if live <= at => return,
            _ => {}
        }
        self.scheduled.insert(session, at);
        self.heap.push(Reverse(Due(at, session)));
        // Stale entries leave as they surface; a pathological run of
        // earlier-and-earlier deadlines is compacted here, so the heap stays
        // within a constant factor of the sessions.
        if self.heap.len() > 2 * self.scheduled.len() + 64 {
            self.heap = self
                .scheduled
                .iter()
                .map(|(&k, &t)| Reverse(Due(t, k)))
                .collect();
        }
    }

    /// Forgets `session` (its entries become stale).
    pub(crate) fn forget(&mut self, session: K) {
        self.scheduled.remove(&session);
    }

    /// The earliest deadline, possibly of a stale entry (an early wake-up
    /// that [`SessionTimers::pop_due`] then skips).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(Due(t, _))| *t)
    }

    /// A session whose live deadline is at or before `now`, unscheduled:
    /// the caller runs it and schedules its next deadline.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        while let Some(Reverse(Due(at, session))) = self.heap.peek().copied() {
            if at > now {
                return None;
            }
            self.heap.pop();
            if self.scheduled.get(&session) == Some(&at) {
                self.scheduled.remove(&session);
                return Some(session);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_due_sessions_pop_and_later_deadlines_cost_nothing() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut timers = SessionTimers::new();
        for id in 0..1000u32 {
            timers.schedule(id, s(30));
        }
        timers.schedule(7, s(5));
        // Later deadlines (consent refreshed) push nothing.
        for _ in 0..100 {
            timers.schedule(3, s(60));
        }
        assert!(timers.heap.len() <= 1001);
        assert_eq!(timers.next(), Some(s(5)));
        assert_eq!(timers.pop_due(s(4)), None);
        assert_eq!(timers.pop_due(s(5)), Some(7));
        assert_eq!(timers.pop_due(s(5)), None);
        timers.forget(9);
        let due: Vec<u32> = std::iter::from_fn(|| timers.pop_due(s(30))).collect();
        assert_eq!(due.len(), 998, "all but 7 (run) and 9 (forgotten)");
        assert!(!due.contains(&9));
    }

    #[test]
    fn the_heap_stays_bounded_by_the_sessions() {
        let t0 = Instant::now();
        let mut timers = SessionTimers::new();
        for k in 0..10_000u64 {
            timers.schedule(1u8, t0 + Duration::from_secs(1_000_000 - k));
        }
        assert!(timers.heap.len() <= 66);
        assert_eq!(timers.pop_due(t0 + Duration::from_secs(1_000_000)), Some(1));
    }
}
