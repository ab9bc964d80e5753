//! The safety number: what two people read to each other to know they are in
//! the same MLS epoch with the same members (no one silently added).

use sha2::{Digest, Sha256};

/// Thirty decimal digits in six groups, derived from the MLS epoch
/// authenticator (RFC 9420 §8.7), which every member of an epoch shares and
/// which changes with every Commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SafetyNumber(pub [u32; 6]);

impl SafetyNumber {
    /// Derives the number from an epoch authenticator.
    pub fn from_epoch_authenticator(authenticator: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"sfu-e2ee safety number v1");
        h.update(authenticator);
        let d = h.finalize();
        let mut groups = [0u32; 6];
        for (g, chunk) in groups.iter_mut().zip(d.chunks_exact(5)) {
            let v = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            *g = (v % 100_000) as u32;
        }
        Self(groups)
    }
}

impl std::fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:05} {b:05} {c:05} {d:05} {e:05} {g:05}")
    }
}
