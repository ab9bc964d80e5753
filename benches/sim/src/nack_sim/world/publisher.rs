//! The publisher's side: media, its send history, NACKs and PLIs it answers,
//! sender reports.

use super::*;

impl<R: Recovery> World<R> {
    pub(crate) fn publish(
        &mut self,
        stream: usize,
        payload: Bytes,
        ts: u32,
        marker: bool,
        at: Duration,
    ) {
        let p = &mut self.publisher;
        let seq = p.seq[stream];
        p.seq[stream] = seq.wrapping_add(1);
        if p.order.len() == HISTORY
            && let Some(old) = p.order.pop_front()
        {
            p.history.remove(&old);
        }
        p.order.push_back((stream, seq));
        p.history
            .insert((stream, seq), (payload.clone(), ts, marker));
        let pt = [VIDEO_PT, AUDIO_PT][stream];
        let data = rtp_bytes(PUB_SSRC[stream], pt, seq, ts, marker, payload);
        let lost = match self.pub_to_a.send(at) {
            Some(arrival) => {
                let d = Delivery {
                    to: Node::A(self.a_pub),
                    rtcp: false,
                    data,
                    from_cache: false,
                };
                self.schedule(arrival, d);
                false
            }
            None => true,
        };
        if lost {
            self.publisher_losses += 1;
        }
        if let Some(log) = self.packets.last_mut() {
            log.pub_lost = lost;
        }
    }

    /// A new packet number for a media packet sent at `at`.
    pub(crate) fn new_packet(&mut self, at: Duration) -> u32 {
        let id = self.packets.len() as u32;
        self.packets.push(PacketLog {
            sent_at: at,
            measured: at >= WARMUP,
            ..PacketLog::default()
        });
        for r in &mut self.receptions {
            r.push(Reception::default());
        }
        id
    }

    pub(crate) fn send_frame(&mut self) {
        let p = &mut self.publisher;
        let key = p.keyframe_due || p.frame.is_multiple_of(60);
        p.keyframe_due = false;
        let count = if key {
            30
        } else {
            2 + (p.rng.next_u64() % 5) as usize
        };
        let ts = p.frame.wrapping_mul(3000);
        p.frame += 1;
        let start = self.now;
        for k in 0..count {
            let at = start + PACING * k as u32;
            let id = self.new_packet(at);
            let mut body = Vec::with_capacity(1200);
            body.push(if k == 0 { 0x10 } else { 0x00 });
            body.push(if key { 0x00 } else { 0x01 });
            body.extend_from_slice(&id.to_be_bytes());
            body.resize(if key { 1200 } else { 1000 }, 0xAB);
            self.publish(0, Bytes::from(body), ts, k + 1 == count, at);
        }
    }

    pub(crate) fn send_audio(&mut self) {
        let at = self.now;
        let id = self.new_packet(at);
        let mut body = vec![0xfc, 0x00];
        body.extend_from_slice(&id.to_be_bytes());
        body.resize(100, 0x5A);
        let ts = (at.as_micros() * 48 / 1000) as u32;
        self.publish(1, Bytes::from(body), ts, false, at);
    }

    pub(crate) fn send_to_a_rtcp(&mut self, data: Bytes) {
        if let Some(arrival) = self.pub_to_a.send(self.now) {
            let d = Delivery {
                to: Node::A(self.a_pub),
                rtcp: true,
                data,
                from_cache: false,
            };
            self.schedule(arrival, d);
        }
    }

    pub(crate) fn publisher_rtcp(&mut self, data: &Bytes) {
        let mut answers = Vec::new();
        for (pt, fmt, body) in rtcp_packets(data) {
            match (pt, fmt) {
                (205, 1) => {
                    let media = be32(body, 4);
                    let Some(stream) = PUB_SSRC.iter().position(|s| *s == media) else {
                        continue;
                    };
                    for fci in body.get(8..).unwrap_or_default().chunks_exact(4) {
                        let pair = NackPair {
                            pid: u16::from_be_bytes([fci[0], fci[1]]),
                            blp: u16::from_be_bytes([fci[2], fci[3]]),
                        };
                        for seq in pair.seqs() {
                            self.publisher.nack_requests += 1;
                            self.publisher.nacked.insert((stream, seq));
                            answers.push((stream, seq));
                        }
                    }
                }
                (206, 1) => self.publisher.keyframe_due = true,
                (201, count) => {
                    for (_, lsr, dlsr) in report_blocks(body, count, 4) {
                        let sent = self.publisher.sent_srs.iter().find(|(l, _)| *l == lsr);
                        if let Some(&(_, at)) = sent.filter(|_| lsr != 0) {
                            let rtt = self.now.saturating_sub(at).saturating_sub(from_q16(dlsr));
                            self.publisher.rtt_samples.push(rtt);
                        }
                    }
                }
                _ => {}
            }
        }
        for (stream, seq) in answers {
            let Some((payload, ts, marker)) = self.publisher.history.get(&(stream, seq)).cloned()
            else {
                continue;
            };
            let p = &mut self.publisher;
            let rtx_seq = p.rtx_seq[stream];
            p.rtx_seq[stream] = rtx_seq.wrapping_add(1);
            let mut body = seq.to_be_bytes().to_vec();
            body.extend_from_slice(&payload);
            let pt = [VIDEO_RTX_PT, AUDIO_RTX_PT][stream];
            let data = rtp_bytes(PUB_RTX_SSRC[stream], pt, rtx_seq, ts, marker, body.into());
            if let Some(arrival) = self.pub_to_a.send(self.now) {
                let d = Delivery {
                    to: Node::A(self.a_pub),
                    rtcp: false,
                    data,
                    from_cache: false,
                };
                self.schedule(arrival, d);
            }
        }
    }

    pub(crate) fn send_reports(&mut self) {
        let ntp = ntp_at(self.now);
        let lsr = (ntp >> 16) as u32;
        if self.publisher.sent_srs.len() == 8 {
            self.publisher.sent_srs.pop_front();
        }
        self.publisher.sent_srs.push_back((lsr, self.now));
        for (ssrc, khz) in [(PUB_SSRC[0], 90), (PUB_SSRC[1], 48)] {
            let rtp = (self.now.as_micros() * khz / 1000) as u32;
            self.send_to_a_rtcp(Rtcp::new().sr(ssrc, ntp, rtp).bytes());
        }
        for i in 0..self.viewers.len() {
            let v = &self.viewers[i];
            let blocks: Vec<(u32, u32, u32, u32)> = (0..2)
                .map(|s| {
                    let (lsr, dlsr) = v.last_sr[s]
                        .map_or((0, 0), |(lsr, at)| (lsr, q16(self.now.saturating_sub(at))));
                    let highest = v.detectors[s].highest().unwrap_or(0) as u32;
                    (v.ssrc[s], highest, lsr, dlsr)
                })
                .collect();
            let rr = receiver_report(v.rtcp_ssrc, &blocks);
            self.viewer_to_b(i, rr);
        }
    }
}
