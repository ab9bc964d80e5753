//! The peer's own seeded generator (SplitMix64): ICE credentials, SSRCs,
//! sequence-number bases and STUN transaction ids all come from it, so a
//! peer is reproducible from its seed.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, good enough for test ids.
#[derive(Debug, Clone)]
pub(crate) struct PeerRng(u64);

impl PeerRng {
    pub(crate) fn new(seed: u64) -> Self {
        PeerRng(seed ^ 0x5eed_9e37_79b9_7f4a)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A non-zero SSRC not in `taken`.
    pub(crate) fn ssrc(&mut self, taken: &[u32]) -> u32 {
        loop {
            let s = self.next_u32();
            if s != 0 && !taken.contains(&s) {
                return s;
            }
        }
    }

    /// `len` ice-chars (RFC 8839: ALPHA / DIGIT; we skip `+` and `/`).
    pub(crate) fn ice_chars(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| {
                let i = (self.next_u64() % CHARS.len() as u64) as usize;
                char::from(CHARS.get(i).copied().unwrap_or(b'A'))
            })
            .collect()
    }

    /// A STUN transaction id.
    pub(crate) fn transaction_id(&mut self) -> [u8; 12] {
        let a = self.next_u64().to_be_bytes();
        let b = self.next_u32().to_be_bytes();
        let mut t = [0u8; 12];
        t[..8].copy_from_slice(&a);
        t[8..].copy_from_slice(&b);
        t
    }
}
