//! Keyframe detection from RTP payloads, so layer switches land on a frame a
//! decoder can start from. Each function answers "does this packet begin a
//! keyframe?" — the first packet of the frame, not any packet inside it.

use crate::track::Codec;

/// Whether `payload` (RTP payload, padding removed) starts a keyframe of `codec`.
/// Codecs without keyframes (audio) and unknown codecs answer `true`: every
/// packet is a fine place to start.
pub fn starts_keyframe(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::Vp8 => vp8(payload),
        Codec::Vp9 => vp9(payload),
        Codec::H264 => h264(payload),
        Codec::Av1 => av1(payload),
        Codec::Opus | Codec::Other => true,
    }
}

/// RFC 7741 §4.2 descriptor, then the VP8 frame tag: the P bit is the least
/// significant bit of the first byte (RFC 6386 §9.1), 0 for a keyframe.
fn vp8(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let start_of_partition = b0 & 0x10 != 0;
    let partition_id = b0 & 0x07;
    if !start_of_partition || partition_id != 0 {
        return false;
    }
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let Some(&x) = p.get(1) else { return false };
        i = 2;
        if x & 0x80 != 0 {
            // PictureID: 15 bits when M is set.
            let Some(&pid) = p.get(i) else { return false };
            i += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            i += 1; // TID/Y/KEYIDX
        }
    }
    p.get(i).is_some_and(|tag| tag & 0x01 == 0)
}

/// RFC 9628 §4.2 (VP9 descriptor): B (start of frame) set, P (inter-picture
/// predicted) clear, and the base spatial layer when layer indices are present.
fn vp9(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let inter_predicted = b0 & 0x40 != 0;
    let start_of_frame = b0 & 0x08 != 0;
    if inter_predicted || !start_of_frame {
        return false;
    }
    if b0 & 0x20 == 0 {
        return true;
    }
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let Some(&pid) = p.get(i) else { return false };
        i += if pid & 0x80 != 0 { 2 } else { 1 };
    }
    p.get(i).is_some_and(|layer| (layer >> 1) & 0x07 == 0)
}

/// RFC 6184: an IDR slice (5) or SPS (7), alone, inside a STAP-A (24), or at
/// the start of an FU-A (28).
fn h264(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let is_key = |nal: u8| matches!(nal & 0x1f, 5 | 7);
    match b0 & 0x1f {
        24 => {
            let mut i = 1;
            while let Some(size) = p.get(i..i + 2) {
                let len = usize::from(u16::from_be_bytes([size[0], size[1]]));
                match p.get(i + 2) {
                    Some(&nal) if len > 0 && is_key(nal) => return true,
                    Some(_) => {}
                    None => return false,
                }
                i += 2 + len;
            }
            false
        }
        28 => p.get(1).is_some_and(|&fu| fu & 0x80 != 0 && is_key(fu)),
        _ => is_key(b0),
    }
}

/// AV1 RTP spec §4.4: the N bit of the aggregation header marks the first
/// packet of a coded video sequence, which starts with a keyframe.
fn av1(p: &[u8]) -> bool {
    p.first().is_some_and(|&agg| agg & 0x08 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframe_is_lsb_of_frame_tag() {
        // Descriptor with X, I (7-bit picture id), then the frame tag.
        assert!(vp8(&[0x90, 0x80, 0x05, 0x10, 0, 0]));
        assert!(!vp8(&[0x90, 0x80, 0x05, 0x11, 0, 0]));
        // The most significant bit is not the keyframe flag.
        assert!(vp8(&[0x10, 0x80]));
        // Not the start of partition 0.
        assert!(!vp8(&[0x00, 0x10]));
        // 15-bit picture id, L and T/K present.
        assert!(vp8(&[0x90, 0xF0, 0x81, 0x02, 0x03, 0x04, 0x00]));
        assert!(!vp8(&[0x90, 0xF0, 0x81]));
    }

    #[test]
    fn vp9_needs_start_of_frame_without_inter_prediction() {
        assert!(vp9(&[0x08]));
        assert!(!vp9(&[0x48]));
        assert!(!vp9(&[0x00]));
        // L present, spatial id 1 is not a place to start.
        assert!(!vp9(&[0x28, 0x02]));
        assert!(vp9(&[0x28, 0x00]));
    }

    #[test]
    fn h264_finds_idr_in_single_stap_and_fu() {
        assert!(h264(&[0x65]));
        assert!(!h264(&[0x41]));
        // STAP-A: SPS first.
        assert!(h264(&[0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68]));
        // STAP-A with only non-key units.
        assert!(!h264(&[0x78, 0x00, 0x01, 0x41, 0x00, 0x01, 0x06]));
        // FU-A start of IDR vs continuation.
        assert!(h264(&[0x7c, 0x85]));
        assert!(!h264(&[0x7c, 0x05]));
        // Truncated STAP-A.
        assert!(!h264(&[0x78, 0x00]));
    }

    #[test]
    fn av1_uses_new_coded_video_sequence_bit() {
        assert!(av1(&[0x18]));
        assert!(!av1(&[0x10]));
        assert!(!av1(&[]));
    }

    #[test]
    fn empty_payload_is_never_a_video_keyframe() {
        for codec in [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1] {
            assert!(!starts_keyframe(codec, &[]));
        }
    }
}
