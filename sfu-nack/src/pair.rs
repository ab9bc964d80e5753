//! RFC 4585 §6.2.1 generic NACK entries, packed and unpacked.
//!
//! The wire type belongs to the RTCP library the router uses; this is our
//! own copy of the two fields so that the packing rules live (and are
//! tested) in one place.

/// One Feedback Control Information entry of a generic NACK: `pid` is lost,
/// and bit `i` of `blp` (least significant first) says `pid + i + 1` is lost
/// too, modulo 2^16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NackPair {
    /// Packet ID: the first lost sequence number.
    pub pid: u16,
    /// Bitmask of following lost packets.
    pub blp: u16,
}

impl NackPair {
    /// An entry naming `pid` alone.
    pub const fn new(pid: u16) -> Self {
        Self { pid, blp: 0 }
    }

    /// Adds `seq` to this entry if it lies in `pid..=pid + 16` (modulo
    /// 2^16); returns whether it fits.
    pub fn try_add(&mut self, seq: u16) -> bool {
        match seq.wrapping_sub(self.pid) {
            0 => true,
            d @ 1..=16 => {
                self.blp |= 1 << (d - 1);
                true
            }
            _ => false,
        }
    }

    /// True when this entry names `seq` as lost.
    pub fn contains(&self, seq: u16) -> bool {
        match seq.wrapping_sub(self.pid) {
            0 => true,
            d @ 1..=16 => self.blp & (1 << (d - 1)) != 0,
            _ => false,
        }
    }

    /// How many sequence numbers this entry names (1 to 17).
    pub const fn len(&self) -> usize {
        1 + self.blp.count_ones() as usize
    }

    /// Never true: an entry always names at least its `pid`. Present because
    /// `len` is.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// The sequence numbers this entry names, `pid` first, ascending modulo
    /// 2^16.
    pub fn seqs(self) -> impl Iterator<Item = u16> {
        let Self { pid, blp } = self;
        core::iter::once(pid).chain(
            (0u16..16)
                .filter(move |bit| blp & (1 << bit) != 0)
                .map(move |bit| pid.wrapping_add(bit + 1)),
        )
    }
}

/// Packs sequence numbers into generic NACK entries.
///
/// Give the numbers in ascending order (modulo 2^16) for the most compact
/// result; in any order, every number given is named by exactly the entries
/// yielded (out-of-order numbers just start new entries). Duplicates of a
/// number already in the current entry are absorbed.
pub fn pack_nacks<I>(seqs: I) -> NackPacker<I::IntoIter>
where
    I: IntoIterator<Item = u16>,
{
    NackPacker {
        seqs: seqs.into_iter(),
        pending: None,
    }
}

/// Iterator returned by [`pack_nacks`].
#[derive(Debug, Clone)]
pub struct NackPacker<I> {
    seqs: I,
    pending: Option<u16>,
}

impl<I: Iterator<Item = u16>> Iterator for NackPacker<I> {
    type Item = NackPair;

    fn next(&mut self) -> Option<NackPair> {
        let first = self.pending.take().or_else(|| self.seqs.next())?;
        let mut pair = NackPair::new(first);
        for seq in self.seqs.by_ref() {
            if !pair.try_add(seq) {
                self.pending = Some(seq);
                break;
            }
        }
        Some(pair)
    }
}

/// Every sequence number named by `pairs`, in entry order.
pub fn unpack_nacks(pairs: &[NackPair]) -> impl Iterator<Item = u16> + '_ {
    pairs.iter().flat_map(|pair| pair.seqs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_bounds() {
        let mut p = NackPair::new(100);
        assert!(p.try_add(116));
        assert!(!p.try_add(117));
        assert!(!p.try_add(99));
        assert_eq!(p.blp, 0x8000);
        assert_eq!(p.len(), 2);
        assert!(p.contains(116) && p.contains(100) && !p.contains(101));
    }
}
