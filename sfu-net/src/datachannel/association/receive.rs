//! The receive path: messages out of the SCTP stack, DCEP, events.

use bytes::{Bytes, BytesMut};
use sctp_proto as sctp;

use super::{Association, Channel, apply_reliability};
use crate::datachannel::dcep::{Dcep, Open};
use crate::datachannel::error::DcepError;
use crate::datachannel::{ChannelId, Event, MessageKind};
use crate::srtp::DtlsRole;

impl Association {
    /// Reads messages from readable streams while the event queue has
    /// room; what is left waits in the stack's receive window.
    pub(super) fn read_messages(&mut self) {
        while self.events.len() < self.config.max_events {
            let next = self
                .readable
                .range(self.read_cursor..)
                .next()
                .or_else(|| self.readable.iter().next())
                .copied();
            let Some(id) = next else { break };
            let Some((_, inner)) = self.inner.as_mut() else {
                return;
            };
            let read = inner.stream(id).and_then(|mut s| s.read_sctp());
            let Ok(Some(chunks)) = read else {
                self.readable.remove(&id);
                continue;
            };
            self.read_cursor = id.wrapping_add(1);
            // One copy into one buffer, which fan-out then shares.
            let mut payload = BytesMut::zeroed(chunks.len());
            if chunks.read(&mut payload).is_err() {
                continue;
            }
            self.on_message(id, chunks.ppi, payload.freeze());
        }
        // Reading frees receive window and may have queued ACKs or resets.
        self.drive(false);
    }

    fn on_message(&mut self, id: u16, ppi: sctp::PayloadProtocolIdentifier, payload: Bytes) {
        use sctp::PayloadProtocolIdentifier as Ppi;
        let (kind, payload) = match ppi {
            Ppi::Dcep => return self.on_dcep(id, &payload),
            Ppi::String => (MessageKind::Text, payload),
            Ppi::Binary => (MessageKind::Binary, payload),
            Ppi::StringEmpty => (MessageKind::Text, Bytes::new()),
            Ppi::BinaryEmpty => (MessageKind::Binary, Bytes::new()),
            _ => {
                self.stats.orphan_messages += 1;
                return;
            }
        };
        if !self.channels.contains_key(&id) || payload.len() > self.config.max_message_size {
            self.stats.orphan_messages += 1;
            return;
        }
        self.stats.messages_in += 1;
        self.events.push_back(Event::Message {
            channel: ChannelId(id),
            kind,
            payload,
        });
    }

    fn on_dcep(&mut self, id: u16, message: &[u8]) {
        match Dcep::decode(message, self.config.max_label_len) {
            Ok(Dcep::Open(open)) => self.on_open(id, open),
            Ok(Dcep::Ack) => self.on_ack(id),
            Err(DcepError::LabelTooLong(_)) => {
                self.stats.refused_opens += 1;
                self.refuse_stream(id);
            }
            Err(_) => {
                self.stats.malformed_dcep += 1;
                if !self.channels.contains_key(&id) {
                    self.refuse_stream(id);
                }
            }
        }
    }

    fn on_open(&mut self, id: u16, open: Open) {
        // The peer's ids have the other parity (RFC 8832 section 6): even
        // ids are the DTLS client's.
        let ours = match self.dtls_role {
            DtlsRole::Client => id.is_multiple_of(2),
            DtlsRole::Server => !id.is_multiple_of(2),
        };
        if ours || self.channels.contains_key(&id) {
            self.stats.malformed_dcep += 1;
            return;
        }
        if self.channels.len() >= self.config.max_channels {
            self.stats.refused_opens += 1;
            self.refuse_stream(id);
            return;
        }
        let Some((_, inner)) = self.inner.as_mut() else {
            return;
        };
        let Ok(mut stream) = inner.stream(id) else {
            return;
        };
        let ready = apply_reliability(&mut stream, open.reliability, false).is_ok()
            && stream
                .write_sctp(
                    &Bytes::from_static(Dcep::ACK),
                    sctp::PayloadProtocolIdentifier::Dcep,
                )
                .is_ok();
        if !ready {
            return;
        }
        self.channels.insert(
            id,
            Channel {
                reliability: open.reliability,
                awaiting_ack: false,
                label: open.label.clone(),
                protocol: open.protocol.clone(),
            },
        );
        self.events.push_back(Event::ChannelOpen {
            channel: ChannelId(id),
            label: open.label,
            protocol: open.protocol,
            reliability: open.reliability,
            by_peer: true,
        });
    }

    fn on_ack(&mut self, id: u16) {
        let Some(channel) = self.channels.get_mut(&id).filter(|c| c.awaiting_ack) else {
            self.stats.malformed_dcep += 1;
            return;
        };
        channel.awaiting_ack = false;
        let event = Event::ChannelOpen {
            channel: ChannelId(id),
            label: channel.label.clone(),
            protocol: channel.protocol.clone(),
            reliability: channel.reliability,
            by_peer: false,
        };
        let reliability = channel.reliability;
        if let Some((_, inner)) = self.inner.as_mut()
            && let Ok(mut stream) = inner.stream(id)
        {
            // Acknowledged: from now on the channel's own ordering.
            let _ = apply_reliability(&mut stream, reliability, false);
        }
        self.events.push_back(event);
    }

    /// Resets a stream that will not become a channel, so the peer's
    /// `RTCDataChannel` closes rather than waits.
    fn refuse_stream(&mut self, id: u16) {
        self.readable.remove(&id);
        if let Some((_, inner)) = self.inner.as_mut()
            && let Ok(mut stream) = inner.stream(id)
        {
            let _ = stream.close();
        }
    }
}
