//! Codec-aware clear bytes: which bytes of a frame stay readable so that RTP
//! packetizers, depacketizers and the SFU keep working, while the SFrame tag
//! still authenticates them.
//!
//! - **Opus** (and any audio): fully encrypted; nothing downstream parses it.
//! - **VP8**: the keyframe flag is the *least* significant bit of byte 0
//!   (RFC 6386 §9.1, 0 = keyframe). Keyframes keep 10 bytes clear (3-byte
//!   frame tag, start code, width and height, which libwebrtc's depacketizer
//!   reads), interframes 1 byte.
//! - **VP9**: fully encrypted. VP9's RTP payload descriptor, which the SFU and
//!   depacketizers read (keyframe, layer ids, scalability structure), is built
//!   by the packetizer from encoder metadata, not from the bitstream.
//! - **H.264** (Annex B): start codes, every NAL unit header and every non-VCL
//!   unit (SPS, PPS, SEI, AUD…) stay clear, and so do the first
//!   [`H264_SLICE_CLEAR`] bytes of each slice, where the slice header names
//!   its PPS (libwebrtc's receiver reads it and drops frames whose PPS it
//!   does not know); that clear run extends while its last byte is `00`, so
//!   no start code can straddle the clear/ciphertext boundary. The rest of
//!   the slice is encrypted and re-escaped so the ciphertext never contains
//!   a start code (`00 00 0x`, x ≤ 3), and each protected slice ends with a
//!   fixed `0x80` byte so it never ends in `00`. A slice no longer than its
//!   clear run stays clear whole; the receiver finds the same run in the
//!   protected frame, as the clear bytes are the same.
//! - **AV1** (low-overhead OBU format): every OBU header and size field stay
//!   clear (sizes rewritten to the protected lengths); sequence headers,
//!   temporal delimiters and padding stay clear whole; all other OBU payloads
//!   are encrypted.
//!
//! For H.264 and AV1 the encrypted payloads of the frame, concatenated, form
//! one ordinary SFrame ciphertext (`header || ciphertext || tag`): the SFrame
//! header sits at the start of the first protected payload and the tag at
//! the end of the last one. The clear bytes, concatenated in frame order, are
//! the SFrame metadata (authenticated, RFC 9605 §4.4.3).

use crate::Error;

/// Media codecs with a clear-byte rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus audio: no clear bytes.
    Opus,
    /// VP8: 10 clear bytes on keyframes, 1 otherwise.
    Vp8,
    /// VP9: no clear bytes.
    Vp9,
    /// H.264 Annex B: NAL unit headers and non-VCL units clear.
    H264,
    /// AV1 OBUs: headers and size fields clear.
    Av1,
}

/// VP8 clear bytes on a keyframe.
pub const VP8_KEYFRAME_CLEAR: usize = 10;

/// Whether a VP8 frame is a keyframe: bit 0 of byte 0 is 0 (RFC 6386 §9.1).
pub fn vp8_is_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 0x01 == 0)
}

/// Clear prefix length for the prefix codecs (Opus, VP8, VP9), computed from
/// the first byte alone so the receiver derives the same length from the
/// protected frame. `None` for H.264 and AV1, which interleave.
pub fn clear_prefix_len(codec: Codec, frame: &[u8]) -> Result<Option<usize>, Error> {
    Ok(match codec {
        Codec::Opus | Codec::Vp9 => Some(0),
        Codec::Vp8 => {
            let need = if vp8_is_keyframe(frame) {
                VP8_KEYFRAME_CLEAR
            } else {
                1
            };
            if frame.len() < need {
                return Err(Error::FrameTooShort);
            }
            Some(need)
        }
        Codec::H264 | Codec::Av1 => None,
    })
}

/// One piece of a frame in order: bytes that stay clear, or bytes that are
/// (or become) part of the SFrame ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Clear bytes `[start, end)` of the source frame.
    Clear(usize, usize),
    /// Protected bytes `[start, end)` of the source frame, with the codec's
    /// framing around them (kept as a unit so sizes can be rewritten).
    Protected(usize, usize),
}

/// Scratch buffers reused across frames so the hot path does not allocate.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub pieces: Vec<Piece>,
    pub metadata: Vec<u8>,
    pub body: Vec<u8>,
    pub plain: Vec<u8>,
    pub seg_lens: Vec<usize>,
}

// ---------------------------------------------------------------- H.264 ----

/// Bytes after a slice's NAL header that stay clear: enough for
/// `first_mb_in_slice`, `slice_type` and `pic_parameter_set_id` (three
/// Exp-Golomb codes) in the frames real encoders make.
pub const H264_SLICE_CLEAR: usize = 4;

/// End of a slice's clear run: [`H264_SLICE_CLEAR`] bytes after the NAL
/// header at `nal_start`, extended while the last clear byte is zero.
fn slice_clear_end(frame: &[u8], nal_start: usize, nal_end: usize) -> usize {
    let mut end = (nal_start + 1 + H264_SLICE_CLEAR).min(nal_end);
    while end < nal_end && frame.get(end - 1) == Some(&0) {
        end += 1;
    }
    end
}

/// Splits an Annex B frame into start codes, NAL headers and payloads.
/// VCL units (types 1–5) past their clear run contribute a protected
/// payload.
pub(crate) fn h264_pieces(frame: &[u8], pieces: &mut Vec<Piece>) -> Result<(), Error> {
    pieces.clear();
    let mut nal_start = match start_code_end(frame, 0) {
        Some((0, end)) => end,
        _ => return Err(Error::MalformedH264),
    };
    pieces.push(Piece::Clear(0, nal_start));
    loop {
        let next = find_start_code(frame, nal_start);
        let nal_end = next.map_or(frame.len(), |(s, _)| s);
        if nal_end <= nal_start {
            return Err(Error::MalformedH264);
        }
        let header = *frame.get(nal_start).ok_or(Error::MalformedH264)?;
        let nal_type = header & 0x1f;
        if (1..=5).contains(&nal_type) {
            let clear_end = slice_clear_end(frame, nal_start, nal_end);
            pieces.push(Piece::Clear(nal_start, clear_end));
            if clear_end < nal_end {
                pieces.push(Piece::Protected(clear_end, nal_end));
            }
        } else {
            pieces.push(Piece::Clear(nal_start, nal_end));
        }
        match next {
            Some((s, e)) => {
                pieces.push(Piece::Clear(s, e));
                nal_start = e;
            }
            None => return Ok(()),
        }
    }
}

/// If a start code begins at `at`, returns `(at, end of start code)`.
fn start_code_end(frame: &[u8], at: usize) -> Option<(usize, usize)> {
    let rest = frame.get(at..)?;
    if rest.starts_with(&[0, 0, 1]) {
        Some((at, at + 3))
    } else if rest.starts_with(&[0, 0, 0, 1]) {
        Some((at, at + 4))
    } else {
        None
    }
}

/// The next start code at or after `from`; a zero byte right before a
/// 3-byte start code belongs to it (4-byte form).
fn find_start_code(frame: &[u8], from: usize) -> Option<(usize, usize)> {
    let tail = frame.get(from..)?;
    let pos = tail.windows(3).position(|w| w == [0, 0, 1])?;
    let mut s = from + pos;
    if s > from && frame.get(s - 1) == Some(&0) {
        s -= 1;
    }
    Some((s, from + pos + 3))
}

/// Appends `src` with emulation prevention: `03` after any `00 00` that is
/// followed by a byte ≤ 3.
pub(crate) fn escape_into(src: &[u8], out: &mut Vec<u8>) {
    let mut zeros = 0;
    for &b in src {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
}

/// Appends `src` without its emulation prevention bytes.
pub(crate) fn unescape_into(src: &[u8], out: &mut Vec<u8>) {
    let mut zeros = 0;
    for &b in src {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
}

/// Trailer byte that ends every protected slice (looks like rbsp trailing bits).
pub(crate) const H264_TRAILER: u8 = 0x80;

// ------------------------------------------------------------------ AV1 ----

const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_PADDING: u8 = 15;

/// Reads an unsigned LEB128 (at most 8 bytes, AV1 spec §4.10.5).
pub(crate) fn read_leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for i in 0..8 {
        let b = *data.get(i)?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Appends the minimal LEB128 encoding of `v`.
pub(crate) fn write_leb128(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// One OBU of a temporal unit: header bytes `[start, header_end)`, whether it
/// had a size field, payload `[payload_start, end)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obu {
    pub start: usize,
    pub header_end: usize,
    pub has_size: bool,
    pub payload_start: usize,
    pub end: usize,
    pub protected: bool,
}

/// Parses the next OBU at `at`.
pub(crate) fn parse_obu(frame: &[u8], at: usize) -> Result<Obu, Error> {
    let h = *frame.get(at).ok_or(Error::MalformedAv1)?;
    if h & 0x80 != 0 {
        return Err(Error::MalformedAv1);
    }
    let obu_type = (h >> 3) & 0x0f;
    let header_end = at + if h & 0x04 != 0 { 2 } else { 1 };
    if header_end > frame.len() {
        return Err(Error::MalformedAv1);
    }
    let has_size = h & 0x02 != 0;
    let (payload_start, end) = if has_size {
        let (size, n) =
            read_leb128(frame.get(header_end..).unwrap_or(&[])).ok_or(Error::MalformedAv1)?;
        let payload_start = header_end + n;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| payload_start.checked_add(s))
            .filter(|&e| e <= frame.len())
            .ok_or(Error::MalformedAv1)?;
        (payload_start, end)
    } else {
        (header_end, frame.len())
    };
    let protected = !matches!(
        obu_type,
        OBU_SEQUENCE_HEADER | OBU_TEMPORAL_DELIMITER | OBU_PADDING
    ) && end > payload_start;
    Ok(Obu {
        start: at,
        header_end,
        has_size,
        payload_start,
        end,
        protected,
    })
}
