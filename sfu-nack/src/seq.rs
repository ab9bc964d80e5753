//! RTP sequence numbers extended past their 16-bit wrap-around.

/// Extends 16-bit RTP sequence numbers into a monotonic `u64` space, so that
/// "newer", "older" and "distance" are plain integer comparisons.
///
/// A sequence number is read as the nearest value to the highest one seen so
/// far (a forward step of up to 32767, or a backward step of up to 32768),
/// which is how RFC 3550 Appendix A.1 treats wrap-around. The low 16 bits of
/// an extended number always equal the wire value. The first number seen is
/// placed in cycle 2^16 rather than cycle 0, so packets that arrive before
/// the first one (reordering at stream start) still extend to a valid,
/// smaller number instead of underflowing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqUnwrapper {
    highest: Option<u64>,
}

/// Cycle count given to the first sequence number a [`SeqUnwrapper`] sees.
const FIRST_CYCLE: u64 = 1 << 16;

impl SeqUnwrapper {
    /// An unwrapper that has seen nothing yet.
    pub const fn new() -> Self {
        Self { highest: None }
    }

    /// Extends `seq` and, when it is newer than anything seen, remembers it
    /// as the highest.
    pub fn extend(&mut self, seq: u16) -> u64 {
        let ext = self
            .peek(seq)
            .unwrap_or((FIRST_CYCLE << 16) | u64::from(seq));
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        ext
    }

    /// Extends `seq` relative to the highest number seen, without changing
    /// any state; `None` before the first [`extend`](Self::extend).
    pub fn peek(&self, seq: u16) -> Option<u64> {
        self.highest.map(|h| extend_near(h, seq))
    }

    /// The highest extended sequence number seen so far.
    pub const fn highest(&self) -> Option<u64> {
        self.highest
    }
}

/// Extends `seq` to the value nearest `reference` (an extended number).
///
/// A distance of exactly 32768 is read as older. The result cannot underflow
/// for a `reference` produced by [`SeqUnwrapper`], which starts at 2^32.
pub fn extend_near(reference: u64, seq: u16) -> u64 {
    // Truncation is the point: the low 16 bits are the wire value.
    #[allow(clippy::cast_possible_truncation)]
    let delta = seq.wrapping_sub(reference as u16) as i16;
    reference.wrapping_add_signed(i64::from(delta))
}

/// True when `a` is newer than `b` in RTP's circular 16-bit order.
pub fn seq_is_newer(a: u16, b: u16) -> bool {
    a != b && (a.wrapping_sub(b) as i16) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_bits_always_equal_the_wire_value() {
        let mut u = SeqUnwrapper::new();
        for seq in [65530u16, 65535, 0, 3, 40000, 7000] {
            assert_eq!(u.extend(seq) as u16, seq);
        }
    }

    #[test]
    fn older_packet_before_the_first_does_not_underflow() {
        let mut u = SeqUnwrapper::new();
        let first = u.extend(5);
        let older = u.extend(65534);
        assert_eq!(first - older, 7);
        assert_eq!(u.highest(), Some(first));
    }

    #[test]
    fn half_range_is_read_as_older() {
        let mut u = SeqUnwrapper::new();
        let first = u.extend(0);
        assert_eq!(u.peek(32768), Some(first - 32768));
        assert_eq!(u.peek(32767), Some(first + 32767));
        assert!(seq_is_newer(1, 65535));
        assert!(!seq_is_newer(65535, 1));
        assert!(!seq_is_newer(9, 9));
    }
}
