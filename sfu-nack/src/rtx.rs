//! RTX payloads (RFC 4588 §4): the original sequence number, then the
//! original payload.
//!
//! Only the payload is handled here. Restoring or rewriting the RTP header
//! (SSRC, payload type, sequence number) is the router's job, since it
//! knows which streams are paired (`a=ssrc-group:FID`, `apt=`).

use bytes::{BufMut, Bytes};

use crate::Error;

/// Bytes an RTX payload adds in front of the original payload.
pub const RTX_OSN_LEN: usize = 2;

/// Splits an RTX payload into the original sequence number and the original
/// payload, sharing `payload`'s memory.
///
/// An RTX packet whose payload is empty after padding removal is a padding
/// probe, not a repair; it fails here with
/// [`Error::RtxPayloadTooShort`], as does any payload under 2 bytes.
pub fn split_rtx_payload(payload: &Bytes) -> Result<(u16, Bytes), Error> {
    let (osn, _) = parse_rtx_payload(payload)?;
    Ok((osn, payload.slice(RTX_OSN_LEN..)))
}

/// Borrowing form of [`split_rtx_payload`].
pub fn parse_rtx_payload(payload: &[u8]) -> Result<(u16, &[u8]), Error> {
    match payload.split_first_chunk::<RTX_OSN_LEN>() {
        Some((osn, rest)) => Ok((u16::from_be_bytes(*osn), rest)),
        None => Err(Error::RtxPayloadTooShort { len: payload.len() }),
    }
}

/// Length of the RTX payload carrying `original_len` bytes of payload.
pub const fn rtx_payload_len(original_len: usize) -> usize {
    original_len + RTX_OSN_LEN
}

/// Writes the RTX payload for packet `osn` (its sequence number as the
/// receiver knows it) carrying `original`, into `out` (a `&mut [u8]`
/// behind the RTX header, a `BytesMut`, ...). Checks room first, so a
/// fixed-size buffer gets an error rather than a panic.
pub fn write_rtx_payload<B: BufMut + ?Sized>(
    osn: u16,
    original: &[u8],
    out: &mut B,
) -> Result<usize, Error> {
    let needed = rtx_payload_len(original.len());
    let available = out.remaining_mut();
    if available < needed {
        return Err(Error::RtxBufferTooSmall { needed, available });
    }
    out.put_u16(osn);
    out.put_slice(original);
    Ok(needed)
}
