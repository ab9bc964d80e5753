//! A sliding replay window over SFrame counters, one per sending key.

/// Bits in the window: how far behind the newest counter a frame may arrive.
/// Audio and video of one sender share a key, so frames of two tracks
/// interleave in counter space; 1024 counters is about ten seconds of both.
pub const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// Remembers which counters near the newest one were already accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayWindow {
    /// Newest accepted counter, if any.
    newest: Option<u64>,
    /// Bit `c % WINDOW` set when counter `c` in `(newest - WINDOW, newest]` was accepted.
    bits: [u64; WORDS],
}

impl ReplayWindow {
    /// Whether `ctr` would be accepted (not seen, not too old). Does not record it.
    pub fn check(&self, ctr: u64) -> bool {
        match self.newest {
            None => true,
            Some(newest) if ctr > newest => true,
            Some(newest) if newest - ctr >= WINDOW => false,
            Some(_) => !self.bit(ctr),
        }
    }

    /// Records `ctr` as accepted; call only after the frame authenticated.
    pub fn accept(&mut self, ctr: u64) {
        match self.newest {
            Some(newest) if ctr <= newest => {}
            Some(newest) if ctr - newest < WINDOW => {
                for c in newest + 1..ctr {
                    self.set(c, false);
                }
                self.newest = Some(ctr);
            }
            _ => {
                self.bits = [0; WORDS];
                self.newest = Some(ctr);
            }
        }
        self.set(ctr, true);
    }

    fn bit(&self, ctr: u64) -> bool {
        let i = (ctr % WINDOW) as usize;
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn set(&mut self, ctr: u64, on: bool) {
        let i = (ctr % WINDOW) as usize;
        if let Some(w) = self.bits.get_mut(i / 64) {
            if on {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_counter_is_rejected_once_accepted() {
        let mut w = ReplayWindow::default();
        assert!(w.check(5));
        w.accept(5);
        assert!(!w.check(5));
        assert!(w.check(4));
        assert!(w.check(6));
    }

    #[test]
    fn counters_older_than_the_window_are_rejected() {
        let mut w = ReplayWindow::default();
        w.accept(5000);
        assert!(!w.check(5000 - WINDOW));
        assert!(w.check(5000 - WINDOW + 1));
        w.accept(5000 - WINDOW + 1);
        assert!(!w.check(5000 - WINDOW + 1));
    }

    #[test]
    fn reordered_counters_inside_the_window_are_each_accepted_once() {
        let mut w = ReplayWindow::default();
        for c in [10u64, 8, 9, 300, 12, 11, 299, 1200, 1100] {
            assert!(w.check(c), "{c}");
            w.accept(c);
            assert!(!w.check(c));
        }
        // Window slid when 1200 arrived: only counters above 1200 - 1024 = 176 remain.
        assert!(!w.check(150));
        assert!(!w.check(300));
        assert!(w.check(301));
    }

    #[test]
    fn counter_at_u64_max_does_not_overflow() {
        let mut w = ReplayWindow::default();
        w.accept(u64::MAX);
        assert!(!w.check(u64::MAX));
        assert!(w.check(u64::MAX - 1));
    }
}
