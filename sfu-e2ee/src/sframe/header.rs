//! The SFrame header: a config byte, then KID and CTR (RFC 9605 §4.3).

use crate::Error;

/// The longest header: config byte, 8-byte KID, 8-byte CTR.
pub const MAX_HEADER_LEN: usize = 17;

/// A parsed SFrame header: which key (KID) and which counter (CTR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Key ID.
    pub kid: u64,
    /// Frame counter; with the key's salt it forms the nonce.
    pub ctr: u64,
}

fn byte_len(v: u64) -> usize {
    // Values below 8 fit in the config byte and never reach here.
    (8 - v.leading_zeros() as usize / 8).max(1)
}

/// Writes the low `n` bytes of `v` big-endian at `pos`; returns the next position.
fn put_be(out: &mut [u8; MAX_HEADER_LEN], pos: usize, v: u64, n: usize) -> usize {
    let bytes = v.to_be_bytes();
    for (dst, src) in out.iter_mut().skip(pos).zip(bytes.iter().skip(8 - n)) {
        *dst = *src;
    }
    pos + n
}

impl Header {
    /// A header for `kid` and `ctr`.
    pub fn new(kid: u64, ctr: u64) -> Self {
        Self { kid, ctr }
    }

    /// Encoded length in bytes (1 to 17).
    pub fn len(&self) -> usize {
        let k = if self.kid < 8 { 0 } else { byte_len(self.kid) };
        let c = if self.ctr < 8 { 0 } else { byte_len(self.ctr) };
        1 + k + c
    }

    /// Always false: a header has at least its config byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the shortest encoding into `out` and returns the number of bytes used.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        let mut config = 0u8;
        let mut pos = 1;
        if self.kid < 8 {
            config |= (self.kid as u8) << 4;
        } else {
            let n = byte_len(self.kid);
            config |= 0x80 | (((n - 1) as u8) << 4);
            pos = put_be(out, pos, self.kid, n);
        }
        if self.ctr < 8 {
            config |= self.ctr as u8;
        } else {
            let n = byte_len(self.ctr);
            config |= 0x08 | (n - 1) as u8;
            pos = put_be(out, pos, self.ctr, n);
        }
        if let Some(first) = out.first_mut() {
            *first = config;
        }
        pos
    }

    /// Parses a header from the start of `data`; returns it and its length.
    pub fn decode(data: &[u8]) -> Result<(Self, usize), Error> {
        let config = *data.first().ok_or(Error::HeaderTruncated)?;
        let mut pos = 1;
        let mut field = |extended: bool, value: u8| -> Result<u64, Error> {
            if !extended {
                return Ok(u64::from(value));
            }
            let n = usize::from(value) + 1;
            let bytes = data.get(pos..pos + n).ok_or(Error::HeaderTruncated)?;
            pos += n;
            Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        };
        let kid = field(config & 0x80 != 0, (config >> 4) & 0x07)?;
        let ctr = field(config & 0x08 != 0, config & 0x07)?;
        Ok((Self { kid, ctr }, pos))
    }
}
