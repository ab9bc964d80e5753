//! One SCTP association over one DTLS association, and its data channels.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use sctp_proto as sctp;

use super::dcep::{Open, PRIORITY_NORMAL};
use super::error::DataChannelError;
use super::screen::{Refusal, screen};
use super::{
    AssociationConfig, AssociationStats, ChannelId, CloseReason, Event, MessageKind, Reliability,
    SCTP_PORT, SctpRole,
};
use crate::srtp::DtlsRole;

mod receive;

/// SCTP common header plus DATA chunk header: what a packet spends on
/// framing before user data.
const SCTP_DATA_OVERHEAD: u32 = 12 + 16;
/// The stack routes by address; there is one peer, behind DTLS, so any
/// fixed address names it.
const PEER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, SCTP_PORT));

/// A data channel as this end knows it.
#[derive(Debug)]
struct Channel {
    reliability: Reliability,
    /// Our OPEN is not acknowledged yet: RFC 8832 section 6 has us send
    /// ordered until the ACK, even on an unordered channel.
    awaiting_ack: bool,
    label: String,
    protocol: String,
}

/// The SCTP association of one session, sans-IO: SCTP packets in and out
/// (each one DTLS application-data record), DCEP, and its data channels.
///
/// The run-loop contract is the node's: after [`handle_input`],
/// [`handle_timeout`], [`open_channel`], [`send`] or [`close_channel`],
/// drain [`poll_transmit`] (hand each packet to DTLS as application data)
/// and [`poll_event`] until both return `None`, then call
/// [`handle_timeout`] at [`poll_timeout`].
///
/// Every queue is bounded: outgoing bytes per channel
/// ([`AssociationConfig::with_max_buffered_per_channel`]), channels,
/// events (messages wait in the SCTP receive window while the event queue
/// is full, which flow-controls the peer), and incoming message size.
/// Malformed input is dropped and counted in [`stats`](Self::stats).
///
/// [`handle_input`]: Self::handle_input
/// [`handle_timeout`]: Self::handle_timeout
/// [`open_channel`]: Self::open_channel
/// [`send`]: Self::send
/// [`close_channel`]: Self::close_channel
/// [`poll_transmit`]: Self::poll_transmit
/// [`poll_event`]: Self::poll_event
/// [`poll_timeout`]: Self::poll_timeout
pub struct Association {
    config: AssociationConfig,
    dtls_role: DtlsRole,
    endpoint: sctp::Endpoint,
    inner: Option<(sctp::AssociationHandle, sctp::Association)>,
    channels: BTreeMap<u16, Channel>,
    /// Streams the stack says have messages; read while events have room.
    readable: BTreeSet<u16>,
    /// Where the next read starts, so one busy stream cannot starve the
    /// others.
    read_cursor: u16,
    transmits: VecDeque<Bytes>,
    events: VecDeque<Event>,
    stats: AssociationStats,
    now: Instant,
    connected: bool,
    closed: bool,
}

impl Association {
    /// A new association. `dtls_role` is this end's DTLS role: it picks our
    /// stream ids (even as DTLS client, odd as DTLS server, RFC 8832
    /// section 6). `sctp_role` says whether we send the INIT.
    pub fn new(
        config: AssociationConfig,
        dtls_role: DtlsRole,
        sctp_role: SctpRole,
        now: Instant,
    ) -> Self {
        let send_limit = config.max_message_size.min(config.remote_max_message_size);
        let transport = sctp::TransportConfig::default()
            .with_max_receive_buffer_size(config.receive_buffer)
            .with_max_send_message_size(u32::try_from(send_limit).unwrap_or(u32::MAX))
            .with_max_receive_message_size(
                u32::try_from(config.max_message_size).unwrap_or(u32::MAX),
            )
            .with_max_num_inbound_streams(config.max_streams)
            .with_max_num_outbound_streams(config.max_streams);
        let transport = Arc::new(transport);
        let mut endpoint_config = sctp::EndpointConfig::new();
        endpoint_config.max_payload_size(config.mtu - SCTP_DATA_OVERHEAD);
        let endpoint_config = Arc::new(endpoint_config);
        let mut association = Association {
            config,
            dtls_role,
            endpoint: sctp::Endpoint::new(endpoint_config.clone(), None),
            inner: None,
            channels: BTreeMap::new(),
            readable: BTreeSet::new(),
            read_cursor: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: AssociationStats::default(),
            now,
            connected: false,
            closed: false,
        };
        match sctp_role {
            SctpRole::Accept => {
                let mut server = sctp::ServerConfig::default();
                server.transport = transport;
                association.endpoint = sctp::Endpoint::new(endpoint_config, Some(Arc::new(server)));
            }
            SctpRole::Initiate => {
                let mut client = sctp::ClientConfig::new();
                client.transport = transport;
                match association.endpoint.connect(client, PEER) {
                    Ok(inner) => association.inner = Some(inner),
                    // Cannot happen with one association on a fresh
                    // endpoint and fixed ports; closed rather than panic.
                    Err(_) => association.close_with(CloseReason::LocallyClosed),
                }
            }
        }
        association
    }

    /// Whether the SCTP handshake completed and the association is up.
    pub fn is_connected(&self) -> bool {
        self.connected && !self.closed
    }

    /// Whether the association is closed (by either side or by an error).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// What this association refused, dropped and carried.
    pub fn stats(&self) -> AssociationStats {
        self.stats
    }

    /// Bytes `channel` holds unsent or unacknowledged (the W3C
    /// `bufferedAmount`), or `None` for no such channel.
    pub fn buffered_amount(&mut self, channel: ChannelId) -> Option<usize> {
        if !self.channels.contains_key(&channel.0) {
            return None;
        }
        let (_, inner) = self.inner.as_mut()?;
        inner.stream(channel.0).ok()?.buffered_amount().ok()
    }

    /// The channels open now.
    pub fn channels(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.channels.keys().map(|&id| ChannelId(id))
    }

    /// The reliability `channel` was opened with.
    pub fn reliability(&self, channel: ChannelId) -> Option<Reliability> {
        self.channels.get(&channel.0).map(|c| c.reliability)
    }

    /// The label and protocol `channel` was opened with.
    pub fn label(&self, channel: ChannelId) -> Option<(&str, &str)> {
        let c = self.channels.get(&channel.0)?;
        Some((&c.label, &c.protocol))
    }

    /// One SCTP packet: the payload of one DTLS application-data record.
    pub fn handle_input(&mut self, now: Instant, packet: &[u8]) {
        self.now = now;
        if self.closed {
            self.stats.packets_after_close += 1;
            return;
        }
        match screen(packet, self.config.max_streams) {
            Ok(()) => {}
            Err(Refusal::BadChecksum) => {
                self.stats.bad_checksums += 1;
                return;
            }
            Err(Refusal::StreamOutOfRange) => {
                self.stats.stream_out_of_range += 1;
                return;
            }
            Err(_) => {
                self.stats.malformed_packets += 1;
                return;
            }
        }
        self.stats.packets_in += 1;
        let routed = self
            .endpoint
            .handle(now, PEER, None, None, Bytes::copy_from_slice(packet));
        match (routed, self.inner.as_mut()) {
            (Some((_, sctp::DatagramEvent::AssociationEvent(event))), Some((_, inner))) => {
                inner.handle_event(event);
            }
            (Some((handle, sctp::DatagramEvent::NewAssociation(inner))), None) => {
                self.inner = Some((handle, inner));
            }
            // A second INIT while one association is up, or a packet for
            // none: one DTLS association carries one SCTP association.
            _ => self.stats.unroutable_packets += 1,
        }
        self.drive(true);
    }

    /// The deadline from [`poll_timeout`](Self::poll_timeout) passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if let Some((_, inner)) = self.inner.as_mut() {
            inner.handle_timeout(now);
        }
        self.drive(false);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        self.inner
            .as_ref()
            .and_then(|(_, inner)| inner.poll_timeout())
    }

    /// The next SCTP packet for DTLS to send as application data.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.transmits.is_empty() {
            // Pulled from the stack only when ours is empty, so this queue
            // never holds more than one batch (the stack's congestion
            // window bounds the batch).
            let (_, inner) = self.inner.as_mut()?;
            if let Some(transmit) = inner.poll_transmit(self.now)
                && let sctp::Payload::RawEncode(packets) = transmit.payload
            {
                self.transmits.extend(packets);
            }
        }
        let packet = self.transmits.pop_front()?;
        self.stats.packets_out += 1;
        Some(packet)
    }

    /// The next event. Messages are read from the SCTP stack here, as room
    /// in the event queue allows.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events.is_empty() {
            self.read_messages();
        }
        self.events.pop_front()
    }

    /// Opens a channel from our side: picks a free stream id of our parity,
    /// sends DATA_CHANNEL_OPEN, and returns the channel, usable for
    /// [`send`](Self::send) at once. [`Event::ChannelOpen`] follows when
    /// the peer's ACK arrives.
    pub fn open_channel(
        &mut self,
        label: &str,
        protocol: &str,
        reliability: Reliability,
    ) -> Result<ChannelId, DataChannelError> {
        let limit = self.config.max_label_len;
        for len in [label.len(), protocol.len()] {
            if len > limit {
                return Err(DataChannelError::LabelTooLong { len, limit });
            }
        }
        if !self.is_connected() {
            return Err(DataChannelError::NotConnected);
        }
        let too_many = DataChannelError::TooManyChannels {
            open: self.channels.len(),
            limit: self.config.max_channels,
        };
        if self.channels.len() >= self.config.max_channels {
            return Err(too_many);
        }
        let first = match self.dtls_role {
            DtlsRole::Client => 0,
            DtlsRole::Server => 1,
        };
        let (_, inner) = self.inner.as_mut().ok_or(DataChannelError::NotConnected)?;
        let taken: BTreeSet<u16> = inner.stream_ids().into_iter().collect();
        let id = (first..self.config.max_streams)
            .step_by(2)
            .find(|id| !taken.contains(id) && !self.channels.contains_key(id))
            .ok_or(too_many)?;
        let open = Open {
            reliability,
            priority: PRIORITY_NORMAL,
            label: label.to_owned(),
            protocol: protocol.to_owned(),
        };
        let mut stream = inner
            .open_stream(id, sctp::PayloadProtocolIdentifier::Binary)
            .map_err(sctp_error)?;
        // DCEP goes reliable and ordered (RFC 8832 section 6); so do our
        // messages until the ACK.
        apply_reliability(&mut stream, reliability, true)?;
        stream
            .write_sctp(
                &Bytes::from(open.encode()),
                sctp::PayloadProtocolIdentifier::Dcep,
            )
            .map_err(sctp_error)?;
        self.channels.insert(
            id,
            Channel {
                reliability,
                awaiting_ack: true,
                label: open.label,
                protocol: open.protocol,
            },
        );
        self.drive(false);
        Ok(ChannelId(id))
    }

    /// Sends one message on `channel`. Refused, and nothing queued, when it
    /// is over the max-message-size or would take the channel's buffered
    /// bytes over their bound: the caller drops the message (unreliable
    /// channel) or closes the channel (reliable).
    pub fn send(
        &mut self,
        channel: ChannelId,
        kind: MessageKind,
        payload: Bytes,
    ) -> Result<(), DataChannelError> {
        if !self.channels.contains_key(&channel.0) {
            return Err(DataChannelError::UnknownChannel(channel));
        }
        let limit = self
            .config
            .max_message_size
            .min(self.config.remote_max_message_size);
        if payload.len() > limit {
            return Err(DataChannelError::MessageTooLarge {
                len: payload.len(),
                limit,
            });
        }
        if !self.is_connected() {
            return Err(DataChannelError::NotConnected);
        }
        let (_, inner) = self.inner.as_mut().ok_or(DataChannelError::NotConnected)?;
        let mut stream = inner.stream(channel.0).map_err(sctp_error)?;
        let buffered = stream.buffered_amount().map_err(sctp_error)?;
        let bound = self.config.max_buffered_per_channel;
        if buffered.saturating_add(payload.len()) > bound {
            self.stats.refused_sends += 1;
            return Err(DataChannelError::BufferFull {
                channel,
                buffered,
                len: payload.len(),
                limit: bound,
            });
        }
        // WebRTC cannot send an empty SCTP message: RFC 8831 section 6.6
        // sends one zero byte under the "empty" PPIDs instead.
        let (ppi, payload) = match (kind, payload.is_empty()) {
            (MessageKind::Text, false) => (sctp::PayloadProtocolIdentifier::String, payload),
            (MessageKind::Binary, false) => (sctp::PayloadProtocolIdentifier::Binary, payload),
            (MessageKind::Text, true) => (
                sctp::PayloadProtocolIdentifier::StringEmpty,
                Bytes::from_static(&[0]),
            ),
            (MessageKind::Binary, true) => (
                sctp::PayloadProtocolIdentifier::BinaryEmpty,
                Bytes::from_static(&[0]),
            ),
        };
        stream.write_sctp(&payload, ppi).map_err(sctp_error)?;
        self.stats.messages_out += 1;
        self.drive(false);
        Ok(())
    }

    /// Closes `channel`: resets its outgoing stream (RFC 8831 section 6.7);
    /// the peer resets its side in turn. [`Event::ChannelClosed`] follows
    /// at once; the stream id is reused only after the reset completes.
    pub fn close_channel(&mut self, channel: ChannelId) -> Result<(), DataChannelError> {
        if self.channels.remove(&channel.0).is_none() {
            return Err(DataChannelError::UnknownChannel(channel));
        }
        self.readable.remove(&channel.0);
        if let Some((_, inner)) = self.inner.as_mut()
            && let Ok(mut stream) = inner.stream(channel.0)
        {
            // A reset refused by a closing association changes nothing the
            // caller can act on: the channel is gone either way.
            let _ = stream.close();
        }
        self.push_event(Event::ChannelClosed { channel });
        self.drive(false);
        Ok(())
    }

    /// Closes the whole association at once (SCTP ABORT is not sent: DTLS
    /// close_notify is the node's way to end the session).
    pub fn close(&mut self) {
        if let Some((_, inner)) = self.inner.as_mut() {
            let _ = inner.close();
        }
        self.close_with(CloseReason::LocallyClosed);
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.closed {
            return;
        }
        self.closed = true;
        for (id, _) in std::mem::take(&mut self.channels) {
            self.push_event(Event::ChannelClosed {
                channel: ChannelId(id),
            });
        }
        self.readable.clear();
        self.push_event(Event::Closed { reason });
    }

    /// Control events go in even past the bound only up to twice it, so a
    /// peer opening and closing streams cannot grow the queue; messages
    /// never come through here (they wait in the stack).
    fn push_event(&mut self, event: Event) {
        if self.events.len() >= self.config.max_events.saturating_mul(2) {
            self.stats.dropped_events += 1;
            return;
        }
        self.events.push_back(event);
    }

    /// Runs the stack's endpoint events and association events after any
    /// input: the handshake, streams opened, readable and reset.
    fn drive(&mut self, after_input: bool) {
        let Some((handle, inner)) = self.inner.as_mut() else {
            return;
        };
        let handle = *handle;
        while let Some(event) = inner.poll_endpoint_event() {
            if let Some(event) = self.endpoint.handle_event(handle, event) {
                inner.handle_event(event);
            }
        }
        let mut lost = None;
        let mut finished = Vec::new();
        while let Some(event) = inner.poll() {
            match event {
                sctp::Event::Connected if !self.connected => {
                    self.connected = true;
                    self.events.push_back(Event::Connected);
                }
                sctp::Event::HandshakeFailed { .. } => lost = Some(CloseReason::HandshakeFailed),
                sctp::Event::AssociationLost { reason } => {
                    lost = Some(match reason {
                        sctp::AssociationError::TimedOut => CloseReason::TimedOut,
                        sctp::AssociationError::ApplicationClosed => CloseReason::PeerClosed,
                        sctp::AssociationError::LocallyClosed => CloseReason::LocallyClosed,
                        _ if after_input => {
                            self.stats.protocol_closes += 1;
                            CloseReason::ProtocolViolation
                        }
                        _ => CloseReason::ProtocolViolation,
                    });
                }
                sctp::Event::Stream(sctp::StreamEvent::Readable { id }) => {
                    self.readable.insert(id);
                }
                sctp::Event::Stream(
                    sctp::StreamEvent::Finished { id } | sctp::StreamEvent::Stopped { id, .. },
                ) => finished.push(id),
                sctp::Event::Stream(sctp::StreamEvent::BufferedAmountLow { id })
                    if self.channels.contains_key(&id) =>
                {
                    self.events.push_back(Event::BufferedAmountLow {
                        channel: ChannelId(id),
                    });
                }
                _ => {}
            }
        }
        // Streams the peer opened are accepted here; whether they become
        // channels is decided by their first message (the OPEN).
        while inner.accept_stream().is_some() {}
        finished.retain(|id| {
            self.readable.remove(id);
            let open = self.channels.remove(id).is_some();
            if open && let Ok(mut stream) = inner.stream(*id) {
                // Our half of the reset (RFC 8831 section 6.7).
                let _ = stream.close();
            }
            open
        });
        for id in finished {
            self.push_event(Event::ChannelClosed {
                channel: ChannelId(id),
            });
        }
        if let Some(reason) = lost {
            self.close_with(reason);
        }
    }
}

/// Sets a stream's delivery for `reliability`; `force_ordered` while our
/// OPEN waits for its ACK.
fn apply_reliability(
    stream: &mut sctp::Stream<'_>,
    reliability: Reliability,
    force_ordered: bool,
) -> Result<(), DataChannelError> {
    let (kind, value, ordered) = match reliability {
        Reliability::Reliable { ordered } => (sctp::ReliabilityType::Reliable, 0, ordered),
        Reliability::MaxRetransmits {
            retransmits,
            ordered,
        } => (sctp::ReliabilityType::Rexmit, retransmits, ordered),
        Reliability::MaxPacketLifeTime { millis, ordered } => {
            (sctp::ReliabilityType::Timed, millis, ordered)
        }
    };
    stream
        .set_reliability_params(!(ordered || force_ordered), kind, value)
        .map_err(sctp_error)
}

fn sctp_error(error: sctp::Error) -> DataChannelError {
    DataChannelError::Sctp(error.to_string())
}
