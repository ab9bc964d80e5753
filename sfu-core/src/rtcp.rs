//! RTCP on each hop: what we parse from peers and what we generate. The
//! router terminates RTCP: nothing a subscriber sends reaches a publisher
//! unchanged, and the other way round.
//!
//! Parsing and serialization use `rtc-rtcp`. Its packets are never
//! `Display`-formatted here: formatting a REMB with a huge bitrate panics.
//! Nor is a compound handed to it before [`counts`] has held every count
//! field it trusts to its packet's length: it allocates from some counts
//! before checking them.

mod counts;

use bytes::{Bytes, BytesMut};
use rtc_rtcp::packet::Packet;
use rtc_rtcp::payload_feedbacks::full_intra_request::{FirEntry, FullIntraRequest};
use rtc_rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc_rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc_rtcp::receiver_report::ReceiverReport;
use rtc_rtcp::reception_report::ReceptionReport;
use rtc_rtcp::sender_report::SenderReport;
use rtc_rtcp::transport_feedbacks::transport_layer_nack::{
    NackPair, TransportLayerNack, nack_pairs_from_sequence_numbers,
};

use crate::error::Error;

/// Upper bound on one incoming compound packet, so a hostile peer cannot
/// make us allocate large parse results.
pub const MAX_RTCP_LEN: usize = 1500;

/// The parts of an incoming RTCP compound packet the router acts on.
#[derive(Debug)]
pub(crate) enum Feedback {
    SenderReport {
        ssrc: u32,
        ntp: u64,
        rtp: u32,
        reports: Vec<ReceptionReport>,
    },
    ReceiverReport {
        reports: Vec<ReceptionReport>,
    },
    KeyframeRequest {
        media_ssrc: u32,
    },
    Nack {
        media_ssrc: u32,
        seqs: Vec<u16>,
    },
    Remb {
        bitrate_bps: u64,
        ssrcs: Vec<u32>,
    },
    Other,
}

/// Parses a compound packet into the feedback the router understands.
pub(crate) fn parse(data: &Bytes) -> Result<Vec<Feedback>, Error> {
    if data.len() > MAX_RTCP_LEN {
        return Err(Error::Rtcp);
    }
    counts::check(data)?;
    let mut buf = data.clone();
    let packets = rtc_rtcp::packet::unmarshal(&mut buf).map_err(|_| Error::Rtcp)?;
    let mut out = Vec::with_capacity(packets.len());
    for p in packets {
        flatten(p.as_ref(), &mut out);
    }
    Ok(out)
}

fn flatten(p: &dyn Packet, out: &mut Vec<Feedback>) {
    let any = p.as_any();
    if let Some(c) = any.downcast_ref::<rtc_rtcp::compound_packet::CompoundPacket>() {
        for inner in &c.0 {
            flatten(inner.as_ref(), out);
        }
    } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
        out.push(Feedback::SenderReport {
            ssrc: sr.ssrc,
            ntp: sr.ntp_time,
            rtp: sr.rtp_time,
            reports: sr.reports.clone(),
        });
    } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
        out.push(Feedback::ReceiverReport {
            reports: rr.reports.clone(),
        });
    } else if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
        out.push(Feedback::KeyframeRequest {
            media_ssrc: pli.media_ssrc,
        });
    } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
        for e in fir.fir.iter().take(16) {
            out.push(Feedback::KeyframeRequest { media_ssrc: e.ssrc });
        }
    } else if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
        let mut seqs = Vec::new();
        for pair in nack.nacks.iter().take(64) {
            seqs.extend(pair.packet_list());
        }
        out.push(Feedback::Nack {
            media_ssrc: nack.media_ssrc,
            seqs,
        });
    } else if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>() {
        let bps = if remb.bitrate.is_finite() && remb.bitrate > 0.0 {
            remb.bitrate.min(1e12) as u64
        } else {
            0
        };
        out.push(Feedback::Remb {
            bitrate_bps: bps,
            ssrcs: remb.ssrcs.iter().take(16).copied().collect(),
        });
    } else {
        out.push(Feedback::Other);
    }
}

pub(crate) fn marshal(p: &dyn rtc_rtcp::packet::Packet) -> Bytes {
    let mut buf = BytesMut::zeroed(p.marshal_size());
    match p.marshal_to(&mut buf) {
        Ok(n) => {
            buf.truncate(n);
            buf.freeze()
        }
        // Our own packets are well-formed; an empty output is dropped by callers.
        Err(_) => Bytes::new(),
    }
}

/// PLI (RFC 4585 §6.3.1).
pub(crate) fn pli(sender_ssrc: u32, media_ssrc: u32) -> Bytes {
    marshal(&PictureLossIndication {
        sender_ssrc,
        media_ssrc,
    })
}

/// FIR (RFC 5104 §4.3.1).
pub(crate) fn fir(sender_ssrc: u32, media_ssrc: u32, seq: u8) -> Bytes {
    marshal(&FullIntraRequest {
        sender_ssrc,
        media_ssrc,
        fir: vec![FirEntry {
            ssrc: media_ssrc,
            sequence_number: seq,
        }],
    })
}

/// Generic NACK (RFC 4585 §6.2.1) for `seqs`.
pub(crate) fn nack(sender_ssrc: u32, media_ssrc: u32, seqs: &[u16]) -> Bytes {
    let nacks: Vec<NackPair> = nack_pairs_from_sequence_numbers(seqs);
    marshal(&TransportLayerNack {
        sender_ssrc,
        media_ssrc,
        nacks,
    })
}

/// Sender report toward a subscriber.
pub(crate) fn sender_report(ssrc: u32, ntp: u64, rtp: u32, packets: u32, octets: u32) -> Bytes {
    marshal(&SenderReport {
        ssrc,
        ntp_time: ntp,
        rtp_time: rtp,
        packet_count: packets,
        octet_count: octets,
        reports: Vec::new(),
        profile_extensions: Bytes::new(),
    })
}

/// Receiver report toward a publisher.
pub(crate) fn receiver_report(sender_ssrc: u32, reports: Vec<ReceptionReport>) -> Bytes {
    marshal(&ReceiverReport {
        ssrc: sender_ssrc,
        reports,
        profile_extensions: Bytes::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_feedback_parses_back() {
        let p = parse(&pli(1, 2)).unwrap();
        assert!(matches!(p[0], Feedback::KeyframeRequest { media_ssrc: 2 }));
        let p = parse(&fir(1, 3, 7)).unwrap();
        assert!(matches!(p[0], Feedback::KeyframeRequest { media_ssrc: 3 }));
        let p = parse(&nack(1, 4, &[10, 11, 30])).unwrap();
        match &p[0] {
            Feedback::Nack { media_ssrc, seqs } => {
                assert_eq!(*media_ssrc, 4);
                assert_eq!(seqs, &[10, 11, 30]);
            }
            other => panic!("{other:?}"),
        }
        let p = parse(&sender_report(5, 1 << 32, 9, 1, 2)).unwrap();
        assert!(matches!(
            p[0],
            Feedback::SenderReport {
                ssrc: 5,
                rtp: 9,
                ..
            }
        ));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(&Bytes::from_static(&[0x80, 200, 0, 50])).is_err());
        assert!(parse(&Bytes::from(vec![0u8; 4000])).is_err());
    }
}
