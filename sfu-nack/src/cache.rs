//! The retransmission cache: recent packets of one stream, by sequence number.

use std::time::{Duration, Instant};

use crate::Error;
use crate::seq::SeqUnwrapper;

/// Largest cache, in packets: half the 16-bit sequence space, beyond which a
/// wire sequence number no longer names a single cached packet.
pub const MAX_CACHE_PACKETS: usize = 1 << 15;

/// Bounds of a [`RetransmitCache`].
///
/// The defaults hold one second of 4 Mbit/s video in ~1200-byte packets
/// (about 420 packets/s), rounded up to a power of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Most packets held; rounded up to a power of two, at most
    /// [`MAX_CACHE_PACKETS`].
    pub max_packets: usize,
    /// Packets older than this (since they were stored) are never returned
    /// and are dropped as the cache moves on.
    pub max_age: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_packets: 512,
            max_age: Duration::from_secs(1),
        }
    }
}

// Fields stay public for reading; new ones may be added, so users start
// from `default()` and chain these setters instead of writing literals.
impl CacheConfig {
    /// Sets [`CacheConfig::max_packets`].
    pub fn with_max_packets(mut self, max_packets: usize) -> Self {
        self.max_packets = max_packets;
        self
    }

    /// Sets [`CacheConfig::max_age`].
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }
}

/// What [`RetransmitCache::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheInsert {
    /// Stored; the extended sequence number it was stored under.
    Stored(u64),
    /// A packet with that sequence number is already held; the new one was
    /// dropped.
    Duplicate,
    /// Older than the newest packet by the whole capacity or more: it could
    /// never be held, so it was dropped.
    TooOld,
}

#[derive(Debug)]
struct Slot<P> {
    ext: u64,
    stored_at: Instant,
    size: usize,
    packet: P,
}

/// Recent packets of one stream, addressed by RTP sequence number, for
/// answering NACKs.
///
/// A ring of `max_packets` slots indexed by the extended sequence number, so
/// insert and lookup are O(1) and the ring is allocated once, up front.
/// `P` is the caller's packet (a parsed RTP packet whose payload is a
/// `bytes::Bytes`, so storing one is a reference-count bump); `size` given at
/// insert is what the byte gauges count.
///
/// The count bound is exact: only the `max_packets` newest sequence numbers
/// can be held. The age bound is exact for lookups; memory of expired packets
/// is released as later inserts (or [`evict_expired`](Self::evict_expired))
/// walk the oldest end, in sequence order.
#[derive(Debug)]
pub struct RetransmitCache<P> {
    slots: Box<[Option<Slot<P>>]>,
    mask: u64,
    max_age: Duration,
    unwrapper: SeqUnwrapper,
    /// No packet is held below this extended sequence number.
    oldest: u64,
    len: usize,
    bytes: usize,
    bytes_max: usize,
}

impl<P> RetransmitCache<P> {
    /// An empty cache with its ring allocated.
    pub fn new(config: CacheConfig) -> Result<Self, Error> {
        if config.max_packets == 0 || config.max_packets > MAX_CACHE_PACKETS {
            return Err(Error::CacheCapacityOutOfRange {
                requested: config.max_packets,
            });
        }
        let capacity = config.max_packets.next_power_of_two();
        Ok(Self {
            slots: (0..capacity).map(|_| None).collect(),
            mask: capacity as u64 - 1,
            max_age: config.max_age,
            unwrapper: SeqUnwrapper::new(),
            oldest: 0,
            len: 0,
            bytes: 0,
            bytes_max: 0,
        })
    }

    /// Stores `packet` under `seq`, counting `size` bytes for it.
    pub fn insert(&mut self, now: Instant, seq: u16, packet: P, size: usize) -> CacheInsert {
        let capacity = self.capacity_u64();
        let previous = self.unwrapper.highest();
        let ext = self.unwrapper.extend(seq);
        match previous {
            None => self.oldest = ext,
            Some(highest) if ext > highest => {
                let window_start = (ext + 1).saturating_sub(capacity);
                self.drop_below(window_start);
            }
            Some(highest) => {
                if highest - ext >= capacity {
                    return CacheInsert::TooOld;
                }
                // An expired copy is replaced: a repair of a packet the
                // cache had let age out must be servable again.
                if self
                    .slot(ext)
                    .is_some_and(|slot| slot.ext == ext && !self.expired(now, slot))
                {
                    return CacheInsert::Duplicate;
                }
            }
        }
        self.evict_expired(now);
        self.oldest = self.oldest.min(ext);
        let index = self.index(ext);
        if let Some(entry) = self.slots.get_mut(index) {
            // The window is at most `capacity` wide, so any occupant left
            // here is out of it; it was dropped above.
            if let Some(old) = entry.replace(Slot {
                ext,
                stored_at: now,
                size,
                packet,
            }) {
                self.len -= 1;
                self.bytes -= old.size;
            }
            self.len += 1;
            self.bytes += size;
            self.bytes_max = self.bytes_max.max(self.bytes);
        }
        CacheInsert::Stored(ext)
    }

    /// The packet stored under `seq`, if held and younger than `max_age`.
    pub fn get(&self, now: Instant, seq: u16) -> Option<&P> {
        self.get_extended(now, self.extend(seq)?)
    }

    /// The packet stored under the extended sequence number `ext`.
    pub fn get_extended(&self, now: Instant, ext: u64) -> Option<&P> {
        let slot = self.slot(ext)?;
        (slot.ext == ext && !self.expired(now, slot)).then_some(&slot.packet)
    }

    /// The packet stored under `ext` with the size it was stored with.
    pub(crate) fn lookup(&self, now: Instant, ext: u64) -> Option<(&P, usize)> {
        let slot = self.slot(ext)?;
        (slot.ext == ext && !self.expired(now, slot)).then_some((&slot.packet, slot.size))
    }

    /// Extends `seq` relative to the newest packet stored, without changing
    /// state; `None` while nothing has been stored.
    pub fn extend(&self, seq: u16) -> Option<u64> {
        self.unwrapper.peek(seq)
    }

    /// Extended sequence number of the newest packet stored.
    pub fn highest(&self) -> Option<u64> {
        self.unwrapper.highest()
    }

    /// True when `ext` lies in the window the cache can hold (the
    /// `capacity` newest sequence numbers up to the newest stored).
    pub fn in_window(&self, ext: u64) -> bool {
        self.highest()
            .is_some_and(|highest| ext <= highest && highest - ext < self.capacity_u64())
    }

    /// Drops packets older than `max_age` from the oldest end, in sequence
    /// order, stopping at the first one still young enough.
    pub fn evict_expired(&mut self, now: Instant) {
        let Some(highest) = self.highest() else {
            return;
        };
        while self.oldest <= highest {
            let index = self.index(self.oldest);
            let expired = match self.slots.get(index) {
                Some(Some(slot)) => self.expired(now, slot),
                _ => true,
            };
            if !expired {
                break;
            }
            self.remove_at(index);
            self.oldest += 1;
        }
    }

    /// Packets held (including expired ones not yet walked over).
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when no packet is held.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held, as given by the `size` of each insert.
    pub const fn bytes(&self) -> usize {
        self.bytes
    }

    /// The most bytes ever held at once.
    pub const fn bytes_max(&self) -> usize {
        self.bytes_max
    }

    /// Slots in the ring (the configured count rounded up to a power of two).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn capacity_u64(&self) -> u64 {
        self.mask + 1
    }

    fn index(&self, ext: u64) -> usize {
        // The mask keeps the value below the slice length, a usize.
        #[allow(clippy::cast_possible_truncation)]
        let index = (ext & self.mask) as usize;
        index
    }

    fn slot(&self, ext: u64) -> Option<&Slot<P>> {
        self.slots.get(self.index(ext))?.as_ref()
    }

    fn expired(&self, now: Instant, slot: &Slot<P>) -> bool {
        now.saturating_duration_since(slot.stored_at) > self.max_age
    }

    fn remove_at(&mut self, index: usize) {
        if let Some(old) = self.slots.get_mut(index).and_then(Option::take) {
            self.len -= 1;
            self.bytes -= old.size;
        }
    }

    /// Drops every packet below `start`; the walk is bounded by the ring
    /// size however far the stream jumped.
    fn drop_below(&mut self, start: u64) {
        if start <= self.oldest {
            return;
        }
        if start - self.oldest >= self.capacity_u64() {
            if self.len > 0 {
                for index in 0..self.slots.len() {
                    self.remove_at(index);
                }
            }
        } else {
            for ext in self.oldest..start {
                self.remove_at(self.index(ext));
            }
        }
        self.oldest = start;
    }
}
