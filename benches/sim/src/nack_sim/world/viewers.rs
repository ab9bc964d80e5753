//! The viewers' side: RTX decoding, loss detection, NACKs, receiver reports.

use super::*;

impl<R: Recovery> World<R> {
    pub(crate) fn viewer_to_b(&mut self, i: usize, data: Bytes) {
        if let Some(arrival) = self.sub_to_b[i].send(self.now) {
            let d = Delivery {
                to: Node::B(self.viewers[i].session),
                rtcp: true,
                data,
                from_cache: false,
            };
            self.schedule(arrival, d);
        }
    }

    pub(crate) fn viewer_rtp(&mut self, i: usize, data: Bytes, from_cache: bool) {
        let now = self.now;
        let instant = self.instant();
        let Ok(p) = RtpPacket::parse(data) else {
            return;
        };
        let v = &mut self.viewers[i];
        let Some((stream, rtx)) = v.stream_of(p.ssrc) else {
            return;
        };
        let payload = p.payload_slice();
        let (seq, media) = if rtx {
            let Some((osn, rest)) = payload.split_first_chunk::<2>() else {
                return;
            };
            (u16::from_be_bytes(*osn), rest)
        } else {
            (p.sequence_number, payload)
        };
        match v.detectors[stream].handle_packet(instant, seq) {
            Arrival::Duplicate => return,
            Arrival::Filled { after_nack: true } => {
                // Karn's rule, and RTX only: a plain packet may be a late
                // original.
                if let Some((at, retried)) = v.nacked_at.remove(&(stream, seq))
                    && !retried
                    && rtx
                {
                    let rtt = v.rtt.push(now.saturating_sub(at));
                    v.detectors[stream].set_rtt(rtt);
                }
            }
            _ => {}
        }
        if let Some(id) = id_in_payload(media)
            && let Some(r) = self.receptions[i].get_mut(id as usize)
            && r.arrival.is_none()
        {
            r.arrival = Some(now);
            r.cache_repaired = r.first_copy_lost && from_cache;
        }
        self.viewer_nacks(i);
    }

    pub(crate) fn viewer_nacks(&mut self, i: usize) {
        let now = self.now;
        let instant = self.instant();
        for stream in 0..2 {
            let v = &mut self.viewers[i];
            let mut pairs = Vec::new();
            while let Some(pair) = v.detectors[stream].poll_nack(instant) {
                for seq in pair.seqs() {
                    v.nacks_sent += 1;
                    v.nacked_at
                        .entry((stream, seq))
                        .and_modify(|e| e.1 = true)
                        .or_insert((now, false));
                }
                pairs.push(pair);
            }
            if pairs.is_empty() {
                continue;
            }
            // Forget first-NACK times of packets never repaired.
            v.nacked_at
                .retain(|_, (at, _)| now.saturating_sub(*at) < Duration::from_secs(2));
            let data = nack_rtcp(v.rtcp_ssrc, v.ssrc[stream], &pairs);
            self.viewer_to_b(i, data);
        }
    }

    pub(crate) fn viewer_rtcp(&mut self, i: usize, data: &Bytes) {
        let now = self.now;
        let v = &mut self.viewers[i];
        for (pt, _, body) in rtcp_packets(data) {
            if pt != 200 {
                continue;
            }
            let ssrc = be32(body, 0);
            let ntp = (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8));
            if let Some((s, false)) = v.stream_of(ssrc) {
                v.last_sr[s] = Some(((ntp >> 16) as u32, now));
            }
        }
    }
}
