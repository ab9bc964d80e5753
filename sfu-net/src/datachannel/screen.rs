//! A screen before the SCTP stack: every packet is checked for structure
//! and checksum here, so a malformed one is counted by kind and dropped
//! before `sctp-proto` sees it (the crate drops such packets too, but
//! silently, and closes the association on a chunk that fails its own
//! checks). Reads are checked; nothing is copied.

use crc::{CRC_32_ISCSI, Crc, Table};

/// CRC32c (RFC 9260 appendix B) with 16-way tables: the screen checks
/// every packet, so it should cost less than the stack's own check.
const CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);
/// Source port, destination port, verification tag, checksum.
const COMMON_HEADER_LEN: usize = 12;
/// Chunk type, flags, length.
const CHUNK_HEADER_LEN: usize = 4;
/// DATA (RFC 9260 section 3.3.1).
const CHUNK_DATA: u8 = 0;
/// DATA's header up to the stream identifier's end.
const DATA_STREAM_ID_END: usize = 10;
/// At most this many chunks in one packet: a 1200-byte packet of empty
/// chunks would be 297, and nothing legitimate bundles more than a few
/// dozen.
const MAX_CHUNKS: usize = 128;

/// Why the screen dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Shorter than the common header plus one chunk header.
    Truncated,
    /// A chunk's length is under 4 or runs past the packet.
    BadChunkLength,
    /// More chunks than [`MAX_CHUNKS`].
    TooManyChunks,
    /// The CRC32c does not match.
    BadChecksum,
    /// A DATA chunk names a stream id at or over the bound we announced.
    StreamOutOfRange,
}

/// Checks one SCTP packet; `max_streams` is the number of inbound streams
/// we announced (ids must be below it, RFC 9260 section 6.5).
pub(crate) fn screen(packet: &[u8], max_streams: u16) -> Result<(), Refusal> {
    if packet.len() < COMMON_HEADER_LEN + CHUNK_HEADER_LEN {
        return Err(Refusal::Truncated);
    }
    let mut at = COMMON_HEADER_LEN;
    let mut chunks = 0;
    while at < packet.len() {
        let header = packet
            .get(at..at + CHUNK_HEADER_LEN)
            .ok_or(Refusal::BadChunkLength)?;
        let kind = header.first().copied().unwrap_or_default();
        let len = usize::from(u16::from_be_bytes([
            header.get(2).copied().unwrap_or_default(),
            header.get(3).copied().unwrap_or_default(),
        ]));
        if len < CHUNK_HEADER_LEN || at + len > packet.len() {
            return Err(Refusal::BadChunkLength);
        }
        if kind == CHUNK_DATA {
            let id = packet
                .get(at + 8..at + DATA_STREAM_ID_END)
                .filter(|_| len >= DATA_STREAM_ID_END)
                .ok_or(Refusal::BadChunkLength)?;
            let id = u16::from_be_bytes([
                id.first().copied().unwrap_or_default(),
                id.get(1).copied().unwrap_or_default(),
            ]);
            if id >= max_streams {
                return Err(Refusal::StreamOutOfRange);
            }
        }
        chunks += 1;
        if chunks > MAX_CHUNKS {
            return Err(Refusal::TooManyChunks);
        }
        // Chunks are padded to 4 bytes; the last one's padding may be absent.
        at += len.next_multiple_of(4);
    }
    let mut digest = CRC32C.digest();
    digest.update(packet.get(..8).unwrap_or_default());
    digest.update(&[0; 4]);
    digest.update(packet.get(COMMON_HEADER_LEN..).unwrap_or_default());
    let theirs = packet
        .get(8..COMMON_HEADER_LEN)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes);
    if theirs != Some(digest.finalize()) {
        return Err(Refusal::BadChecksum);
    }
    Ok(())
}
