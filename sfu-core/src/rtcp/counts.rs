//! Count fields held to their lengths before `rtc-rtcp` parses a compound.
//!
//! `rtc-rtcp` 0.21.1 trusts one count too far: a transport-cc feedback's
//! run-length chunk of "received" statuses makes it push one receive delta
//! per status (8 191 per 2-byte chunk, up to the 16-bit packet status count)
//! before it checks that the deltas fit, so a 40-byte packet costs 2 MB.
//! This walk runs first, over the bytes only: it reads each packet's RTCP
//! header, and for every packet type whose parser sizes anything from a
//! count it checks that the count fits the length. It allocates nothing and
//! reads at most the compound's bytes once.
//!
//! Every condition here is *necessary* for `rtc-rtcp` to accept the packet:
//! the walk never refuses what `rtc-rtcp` would parse, it only refuses it
//! before the allocation instead of after. (The unit tests check that on
//! mutated compounds.)

use crate::error::Error;

const HEADER_LEN: usize = 4;
/// One reception report block (RFC 3550 §6.4.1).
const REPORT_LEN: usize = 24;
/// SR header, sender SSRC and sender info: where its report blocks start.
const SR_REPORTS_AT: usize = 28;
/// RR header and sender SSRC: where its report blocks start.
const RR_REPORTS_AT: usize = 8;
/// The smallest SDES chunk: SSRC, an END item, padding to 32 bits.
const SDES_MIN_CHUNK_LEN: usize = 8;
/// Header, sender and media SSRC, 'REMB', num SSRC, bitrate: where the
/// REMB's SSRC list starts.
const REMB_SSRCS_AT: usize = 20;
/// Header, SSRCs, base sequence number, status count, reference time and
/// feedback count: where transport-cc status chunks start.
const TWCC_CHUNKS_AT: usize = 20;

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_BYE: u8 = 203;
const PT_RTPFB: u8 = 205;
const PT_PSFB: u8 = 206;
/// Transport-cc feedback's FMT in an RTPFB, REMB's in a PSFB.
const FMT_TWCC: u8 = 15;
const FMT_REMB: u8 = 15;

/// Walks the RTCP headers of `data` and checks every count `rtc-rtcp`
/// would trust against the length of its packet.
pub(super) fn check(data: &[u8]) -> Result<(), Error> {
    if data.is_empty() {
        return Err(Error::Rtcp);
    }
    let mut rest = data;
    while !rest.is_empty() {
        let Some(&[b0, packet_type, len_hi, len_lo]) = rest.get(..HEADER_LEN) else {
            return Err(Error::Rtcp);
        };
        if b0 >> 6 != 2 {
            return Err(Error::Rtcp);
        }
        let len = HEADER_LEN + 4 * usize::from(u16::from_be_bytes([len_hi, len_lo]));
        let Some(packet) = rest.get(..len) else {
            return Err(Error::Rtcp);
        };
        check_packet(packet_type, b0 & 0x1F, packet)?;
        rest = rest.get(len..).unwrap_or_default();
    }
    Ok(())
}

/// `packet` is one whole RTCP packet, header included, as long as its
/// header says (so padding, if any, is inside it).
fn check_packet(packet_type: u8, count: u8, packet: &[u8]) -> Result<(), Error> {
    let count_usize = usize::from(count);
    // (where the counted entries start, how long each is at least)
    let (fixed, entry) = match (packet_type, count) {
        (PT_SR, _) => (SR_REPORTS_AT, REPORT_LEN),
        (PT_RR, _) => (RR_REPORTS_AT, REPORT_LEN),
        // rtc-rtcp parses chunks until the length runs out, then insists on
        // exactly `count` of them: each takes at least 8 bytes.
        (PT_SDES, _) => (HEADER_LEN, SDES_MIN_CHUNK_LEN),
        (PT_BYE, _) => (HEADER_LEN, 4),
        (PT_RTPFB, FMT_TWCC) => return check_twcc(packet, count),
        (PT_PSFB, FMT_REMB) => return check_remb(packet, count),
        // Generic NACK and FIR entries are counted from the length itself,
        // XR and CCFB blocks are checked by rtc-rtcp before it allocates.
        _ => return Ok(()),
    };
    if packet.len() < fixed {
        // rtc-rtcp refuses these as too short as well.
        return Err(Error::Rtcp);
    }
    if fixed + count_usize * entry > packet.len() {
        return Err(refused(packet_type, count));
    }
    Ok(())
}

fn refused(packet_type: u8, format: u8) -> Error {
    Error::RtcpCountExceedsLength {
        packet_type,
        format,
    }
}

/// REMB (draft-alvestrand-rmcat-remb-03): the 8-bit SSRC count must fit.
fn check_remb(packet: &[u8], format: u8) -> Result<(), Error> {
    let Some(&[b'R', b'E', b'M', b'B', num_ssrc]) = packet.get(12..17) else {
        // Not a REMB (or too short to be one): rtc-rtcp refuses it without
        // reading a count.
        return Ok(());
    };
    if REMB_SSRCS_AT + 4 * usize::from(num_ssrc) > packet.len() {
        return Err(refused(PT_PSFB, format));
    }
    Ok(())
}

/// Transport-cc feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01
/// §3.1): the status chunks must cover the packet status count within the
/// length, and the receive deltas those statuses promise must fit after
/// them.
///
/// A count alone says nothing about the length (one 2-byte run-length chunk
/// describes up to 8 191 statuses), so the chunks are read, as rtc-rtcp
/// reads them, until the count is covered; each one read is 2 bytes of the
/// packet, so the loop is bounded by the length.
fn check_twcc(packet: &[u8], format: u8) -> Result<(), Error> {
    let Some(&[hi, lo]) = packet.get(14..16) else {
        return Err(Error::Rtcp);
    };
    if packet.len() < TWCC_CHUNKS_AT {
        return Err(Error::Rtcp);
    }
    let status_count = u32::from(u16::from_be_bytes([hi, lo]));
    let mut covered = 0u32;
    let mut delta_bytes = 0u32;
    let mut last_delta_len = 0u32;
    let mut at = TWCC_CHUNKS_AT;
    while covered < status_count {
        let Some(&[b0, b1]) = packet.get(at..at + 2) else {
            return Err(refused(PT_RTPFB, format));
        };
        at += 2;
        let mut add = |symbol: u8, statuses: u32| {
            let len = delta_len(symbol);
            if len > 0 && statuses > 0 {
                delta_bytes += len * statuses;
                last_delta_len = len;
            }
        };
        if b0 & 0x80 == 0 {
            // Run length: T=0, S (2 bits), run length (13 bits). rtc-rtcp
            // counts it only up to the status count.
            let run = u32::from(u16::from_be_bytes([b0 & 0x1F, b1]));
            let statuses = run.min(status_count - covered);
            add((b0 >> 5) & 0b11, statuses);
            covered += statuses;
        } else if b0 & 0x40 == 0 {
            // Status vector of 14 one-bit symbols: 1 is "received, small
            // delta". rtc-rtcp takes all 14, even past the status count.
            for bit in (0..6).rev().map(|i| (b0 >> i) & 1) {
                add(bit, 1);
            }
            for bit in (0..8).rev().map(|i| (b1 >> i) & 1) {
                add(bit, 1);
            }
            covered += 14;
        } else {
            // Status vector of 7 two-bit symbols.
            for symbol in [b0 >> 4, b0 >> 2, b0, b1 >> 6, b1 >> 4, b1 >> 2, b1] {
                add(symbol & 0b11, 1);
            }
            covered += 7;
        }
    }
    let room = u32::try_from(packet.len() - at).unwrap_or(u32::MAX);
    // rtc-rtcp reads a last large delta with one byte left as a small one,
    // so a packet one byte short of its last large delta still parses; allow
    // it too, so this check stays a necessary condition of the parser's.
    let slack = u32::from(last_delta_len == 2);
    if delta_bytes > room + slack {
        return Err(refused(PT_RTPFB, format));
    }
    Ok(())
}

/// Receive delta bytes a status symbol promises: 1 "received, small
/// delta", 2 "received, large delta", none for "not received" and for the
/// reserved value.
fn delta_len(symbol: u8) -> u32 {
    match symbol {
        1 => 1,
        2 => 2,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sfu_testkit::rng::Rng;

    fn parses(data: &[u8]) -> bool {
        let mut b = bytes::Bytes::copy_from_slice(data);
        rtc_rtcp::packet::unmarshal(&mut b).is_ok()
    }

    #[test]
    fn the_issue_packet_is_refused() {
        let mut p = vec![
            0x8F, 205, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0xFF, 0xFF, 0, 0, 1, 0,
        ];
        while p.len() < 40 {
            p.extend_from_slice(&[0x3F, 0xFF]);
        }
        assert_eq!(
            check(&p),
            Err(Error::RtcpCountExceedsLength {
                packet_type: 205,
                format: 15
            })
        );
    }

    #[test]
    fn a_count_covered_by_one_run_needs_no_more_length() {
        // 8 191 lost packets in one run-length chunk, then padding.
        let p = [
            0x8F, 205, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0x1F, 0xFF, 0, 0, 1, 0, 0x1F, 0xFF, 0, 0,
        ];
        assert!(parses(&p));
        assert_eq!(check(&p), Ok(()));
    }

    #[test]
    fn headers_that_overrun_the_datagram_are_refused() {
        assert_eq!(check(&[]), Err(Error::Rtcp));
        assert_eq!(check(&[0x80, 201, 0]), Err(Error::Rtcp));
        assert_eq!(check(&[0x80, 201, 0, 2, 0, 0, 0, 1]), Err(Error::Rtcp));
        assert_eq!(check(&[0x40, 201, 0, 1, 0, 0, 0, 1]), Err(Error::Rtcp));
        assert_eq!(check(&[0x80, 201, 0, 1, 0, 0, 0, 1]), Ok(()));
    }

    /// Compounds rtc-rtcp parses, to mutate.
    fn seeds() -> Vec<Vec<u8>> {
        let mut recorder = crate::twcc::TwccRecorder::default();
        for seq in 0..60u16 {
            if seq % 7 != 3 {
                let late = if seq % 13 == 0 { 40_000 } else { 0 };
                recorder.on_packet(seq, i64::from(seq) * 2_000 + late, 9);
            }
        }
        let twcc = recorder.report(1).map(|b| b.to_vec()).unwrap_or_default();
        let mut compound = super::super::receiver_report(1, Vec::new()).to_vec();
        compound.extend_from_slice(&super::super::nack(1, 2, &[1, 2, 3, 40]));
        vec![
            twcc,
            compound,
            super::super::sender_report(1, 2, 3, 4, 5).to_vec(),
            super::super::fir(1, 2, 3).to_vec(),
            vec![
                0x8F, 206, 0, 5, 0, 0, 0, 9, 0, 0, 0, 0, b'R', b'E', b'M', b'B', 1, 0x0F, 0xFF,
                0xFF, 0, 0, 2, 0,
            ],
            vec![0x81, 202, 0, 3, 0, 0, 0, 1, 1, 3, b'a', b'b', b'c', 0, 0, 0],
            vec![0x81, 203, 0, 1, 0, 0, 0, 1],
            // Run-length "received, large delta" x3, then 6 delta bytes.
            vec![
                0x8F, 205, 0, 6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 1, 0, 0x40, 3, 0, 1, 0,
                2, 0, 3,
            ],
        ]
    }

    /// The walk is a necessary condition of rtc-rtcp's parse: whatever
    /// rtc-rtcp accepts, the walk accepts.
    #[test]
    fn nothing_rtc_rtcp_parses_is_refused() {
        let mut rng = Rng::new(0xC0C0);
        let seeds = seeds();
        for s in &seeds {
            assert!(parses(s), "seed {s:02x?}");
            assert_eq!(check(s), Ok(()), "seed {s:02x?}");
        }
        let (mut parsed, mut refused_by_both) = (0, 0);
        for _ in 0..200_000 {
            let mut p = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(p.len());
                match rng.below(3) {
                    0 => p[i] = rng.byte(),
                    1 => p[i] ^= 1 << rng.below(8),
                    _ => p.truncate(i.max(4)),
                }
            }
            let ok = parses(&p);
            let checked = check(&p);
            if ok {
                parsed += 1;
                assert_eq!(checked, Ok(()), "rtc-rtcp parses {p:02x?}");
            } else if checked.is_err() {
                refused_by_both += 1;
            }
        }
        // The mutations reach both sides of the line.
        assert!(parsed > 10_000, "{parsed}");
        assert!(refused_by_both > 10_000, "{refused_by_both}");
    }
}
