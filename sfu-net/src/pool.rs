//! Packet buffers carved from reused blocks, so the media path allocates
//! nothing per packet in the steady state.
//!
//! A packet is written at the end of the current block and split off as
//! [`Bytes`] that share the block's allocation. Once every packet cut from
//! a block is dropped (sent, or evicted from a retransmission cache), the
//! block is whole again and [`BytesMut::try_reclaim`] takes it back
//! without allocating. A block still in use is left alone; past
//! `max_blocks` kept, a new one is allocated and the oldest is let go (its
//! memory is freed by its last packet), so a burst costs one allocation
//! per block, never one per packet, and nothing here grows without bound.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Bytes per block: about fifty 1 200-byte datagrams.
const BLOCK: usize = 64 * 1024;

/// Buffers for packets of one direction.
#[derive(Debug)]
pub(crate) struct BufferPool {
    current: BytesMut,
    /// Blocks packets were cut from, oldest first, to reclaim when whole.
    spare: VecDeque<BytesMut>,
    max_blocks: usize,
    /// Blocks allocated so far (the steady state adds none).
    allocated: u64,
}

impl BufferPool {
    /// A pool that keeps at most `max_blocks` blocks of 64 KiB for reuse.
    pub(crate) fn new(max_blocks: usize) -> Self {
        Self {
            current: BytesMut::new(),
            spare: VecDeque::with_capacity(max_blocks),
            max_blocks,
            allocated: 0,
        }
    }

    /// An empty buffer with room for `len` bytes. Write the packet into
    /// it, then [`BufferPool::finish`] it (or clear it on failure).
    pub(crate) fn buffer(&mut self, len: usize) -> &mut BytesMut {
        self.current.clear();
        if self.current.capacity() < len {
            self.next_block(len);
        }
        &mut self.current
    }

    /// The packet written into [`BufferPool::buffer`], as shared bytes.
    pub(crate) fn finish(&mut self) -> Bytes {
        self.current.split().freeze()
    }

    /// Copies `data` into a pooled buffer.
    pub(crate) fn copy(&mut self, data: &[u8]) -> Bytes {
        self.buffer(data.len()).extend_from_slice(data);
        self.finish()
    }

    fn next_block(&mut self, len: usize) {
        let want = BLOCK.max(len);
        let used = std::mem::take(&mut self.current);
        // Before the first block, `current` is an empty handle on nothing.
        if self.allocated > 0 {
            if self.spare.len() >= self.max_blocks {
                self.spare.pop_front();
            }
            self.spare.push_back(used);
        }
        // The oldest block is the likeliest to be whole again.
        for _ in 0..self.spare.len() {
            let Some(mut block) = self.spare.pop_front() else {
                break;
            };
            if block.try_reclaim(want) {
                self.current = block;
                return;
            }
            self.spare.push_back(block);
        }
        self.allocated += 1;
        self.current = BytesMut::with_capacity(want);
    }

    /// Blocks allocated so far.
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> u64 {
        self.allocated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_come_back_once_their_packets_are_gone() {
        let mut pool = BufferPool::new(4);
        let packet = [7u8; 1200];
        // Three blocks' worth held at once, then dropped.
        let held: Vec<Bytes> = (0..150).map(|_| pool.copy(&packet)).collect();
        assert!(held.iter().all(|b| b[..] == packet[..]));
        let after_burst = pool.allocated();
        assert!(after_burst >= 3);
        drop(held);
        for _ in 0..10_000 {
            let b = pool.copy(&packet);
            drop(b);
        }
        assert_eq!(pool.allocated(), after_burst, "the steady state allocated");
    }

    #[test]
    fn a_block_still_in_use_is_not_reused() {
        let mut pool = BufferPool::new(2);
        let first = pool.copy(&[1u8; 1000]);
        // Fill past the first block while `first` lives.
        let rest: Vec<Bytes> = (0..100).map(|_| pool.copy(&[2u8; 1000])).collect();
        assert!(first.iter().all(|&b| b == 1));
        assert!(rest.iter().all(|b| b.iter().all(|&x| x == 2)));
    }

    #[test]
    fn kept_blocks_are_bounded() {
        let mut pool = BufferPool::new(3);
        let held: Vec<Bytes> = (0..1000).map(|_| pool.copy(&[0u8; 1200])).collect();
        assert!(pool.spare.len() <= 3);
        drop(held);
    }
}
