//! Simulated time: the next instant to run, the event queue, and when each
//! viewer's loss detectors need a turn.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::Viewer;

/// The earliest of `times` and `instants` (the routers' and detectors'
/// clock, `t0` + simulated time), if before `end`.
pub(crate) fn earliest(
    t0: Instant,
    end: Duration,
    times: impl IntoIterator<Item = Option<Duration>>,
    instants: impl IntoIterator<Item = Option<Instant>>,
) -> Option<Duration> {
    let mut next = end;
    for t in times.into_iter().flatten() {
        next = next.min(t);
    }
    for t in instants.into_iter().flatten() {
        next = next.min(t.saturating_duration_since(t0));
    }
    (next < end).then_some(next)
}

/// Stops a world that keeps stepping at one instant (a timer that never
/// moves its deadline).
#[derive(Default)]
pub(crate) struct StuckGuard {
    last: Duration,
    steps: u32,
}

impl StuckGuard {
    pub(crate) fn check(&mut self, now: Duration) {
        self.steps = if now == self.last { self.steps + 1 } else { 0 };
        assert!(self.steps < 100_000, "simulation stuck at {now:?}");
        self.last = now;
    }
}

/// Deliveries in simulated time: earliest first, ties in the order they
/// were scheduled.
pub(crate) struct Schedule<T> {
    heap: BinaryHeap<Entry<T>>,
    order: u64,
}

struct Entry<T> {
    at: Duration,
    order: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    /// Reversed: the heap's top is the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

impl<T> Schedule<T> {
    pub(crate) fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            order: 0,
        }
    }

    /// Delivers `item` at `at`.
    pub(crate) fn push(&mut self, at: Duration, item: T) {
        self.order += 1;
        self.heap.push(Entry {
            at,
            order: self.order,
            item,
        });
    }

    /// When the next delivery is due.
    pub(crate) fn next_at(&self) -> Option<Duration> {
        self.heap.peek().map(|e| e.at)
    }

    /// The next delivery due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Duration) -> Option<T> {
        if self.heap.peek()?.at > now {
            return None;
        }
        self.heap.pop().map(|e| e.item)
    }
}

/// When each viewer's detectors next need a turn, without asking every
/// viewer on every step: a heap of deadlines the world arms after each call
/// into a viewer. An entry may be early (the deadline moved later since):
/// the viewer is then found not due and armed again. None is ever late.
pub(crate) struct Wakeups {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    /// The earliest entry of each viewer still in the heap.
    armed: Vec<Option<Instant>>,
}

impl Wakeups {
    pub(crate) fn new(viewers: usize) -> Self {
        Self {
            heap: BinaryHeap::new(),
            armed: vec![None; viewers],
        }
    }

    /// Viewer `i`'s detectors are next due at `deadline`.
    pub(crate) fn arm(&mut self, i: usize, deadline: Option<Instant>) {
        let Some(at) = deadline else {
            return;
        };
        if self.armed[i].is_none_or(|a| at < a) {
            self.armed[i] = Some(at);
            self.heap.push(Reverse((at, i)));
        }
    }

    /// The earliest entry.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Runs the timers of the viewers due at `now`, in index order, and
    /// leaves in `ran` those whose timers ran: the caller asks each for its
    /// NACKs ([`Viewer::nacks`]) and arms it again. The others are armed
    /// here.
    pub(crate) fn run_due(&mut self, now: Instant, viewers: &mut [Viewer], ran: &mut Vec<usize>) {
        ran.clear();
        while let Some(&Reverse((at, i))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            if self.armed[i] == Some(at) {
                self.armed[i] = None;
            }
            ran.push(i);
        }
        ran.sort_unstable();
        ran.dedup();
        ran.retain(|&i| {
            let due = viewers[i].handle_timeout(now);
            if !due {
                self.arm(i, viewers[i].poll_timeout());
            }
            due
        });
    }
}
