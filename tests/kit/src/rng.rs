//! One seeded generator for every test, so a failure reproduces from the
//! seed it prints.
//!
//! Two algorithms, because the tests that came before the kit used both and
//! their seeds must keep meaning the same schedules:
//! - [`Rng::new`]: xorshift64* (the fuzz-style mutation loops);
//! - [`Rng::splitmix`] and [`Rng::splitmix_stream`]: SplitMix64 (the network
//!   models, where one seed feeds several independent links).
//!
//! Every derived draw ([`Rng::below`], [`Rng::unit`], [`Rng::chance`], ...)
//! consumes exactly one [`Rng::next_u64`], whatever the algorithm.

use std::time::Duration;

/// Which recurrence the generator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    XorShift64Star,
    SplitMix64,
}

/// A small deterministic generator; not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
    algorithm: Algorithm,
}

/// SplitMix64's stream separator: seeds of different streams differ in
/// many bits even for adjacent stream numbers.
const STREAM_MIX: u64 = 0xA076_1D64_78BD_642F;

impl Rng {
    /// xorshift64* from `seed` (a zero seed yields only zeros).
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed,
            algorithm: Algorithm::XorShift64Star,
        }
    }

    /// SplitMix64 from `seed`; any seed, zero included, is fine.
    pub fn splitmix(seed: u64) -> Self {
        Self {
            state: seed,
            algorithm: Algorithm::SplitMix64,
        }
    }

    /// SplitMix64 for stream `stream` of one seed (one link of a simulated
    /// network, say): the seed is mixed with the stream number and the first
    /// output is discarded.
    pub fn splitmix_stream(seed: u64, stream: u64) -> Self {
        let mut rng = Self::splitmix(seed ^ stream.wrapping_mul(STREAM_MIX));
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        match self.algorithm {
            Algorithm::XorShift64Star => {
                self.state ^= self.state >> 12;
                self.state ^= self.state << 25;
                self.state ^= self.state >> 27;
                self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
            }
            Algorithm::SplitMix64 => {
                self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            }
        }
    }

    /// The high 32 bits of the next output.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// The low byte of the next output (what the mutation loops write).
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// Fills `out` one [`Rng::byte`] per element.
    pub fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.byte();
        }
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    /// Uniform in `0..n` (by remainder; the bias is irrelevant for tests).
    /// `below(0)` is 0, so an empty input can be "indexed" without a panic
    /// in the generator.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// [`Rng::below`] on `u64`.
    pub fn below_u64(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (`unit() < p`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// True when `unit() <= p`: the same draw as [`Rng::chance`], kept for
    /// the tests whose schedules were written with `<=` (they differ only
    /// when the draw equals `p` exactly).
    pub fn chance_at_most(&mut self, p: f64) -> bool {
        self.unit() <= p
    }

    /// Uniform in `[0, d)`.
    pub fn upto(&mut self, d: Duration) -> Duration {
        d.mul_f64(self.unit())
    }

    /// Uniform in `[min, max)`.
    pub fn between(&mut self, min: Duration, max: Duration) -> Duration {
        min + self.upto(max.saturating_sub(min))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_matches_the_reference_recurrence() {
        let mut state = 0x5EEDu64;
        let mut rng = Rng::new(0x5EED);
        for _ in 0..1000 {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            assert_eq!(rng.next_u64(), state.wrapping_mul(0x2545_F491_4F6C_DD1D));
        }
    }

    #[test]
    fn splitmix_matches_published_output() {
        // First outputs of SplitMix64 seeded with 0 (Vigna's reference code).
        let mut rng = Rng::splitmix(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn streams_of_one_seed_differ() {
        let a: Vec<u64> = {
            let mut r = Rng::splitmix_stream(7, 1);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::splitmix_stream(7, 2);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_ne!(a, b);
    }

    #[test]
    fn derived_draws_stay_in_range() {
        let mut rng = Rng::splitmix(1);
        for _ in 0..10_000 {
            assert!(rng.below(7) < 7);
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
            let d = rng.between(Duration::from_millis(1), Duration::from_millis(4));
            assert!(d >= Duration::from_millis(1) && d < Duration::from_millis(4));
        }
        assert_eq!(rng.below(0), 0);
    }
}
