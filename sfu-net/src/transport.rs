//! One session's transport: ICE-lite state, the DTLS server (or client,
//! toward a third party that answered `a=setup:passive`), and the SRTP
//! contexts it keys. The [`Endpoint`](crate::Endpoint) routes datagrams to
//! it; it never sees a datagram from a path no valid check came from.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dtls::{Certificate, DtlsProgress, DtlsServer};
use crate::error::Error;
use crate::ice::IceLite;
use crate::session::TransportConfig;
use crate::srtp::{DtlsRole, SrtpProfile, SrtpSession};

/// What a DTLS step means for the session, beyond datagrams to send.
#[derive(Debug, Default)]
pub(crate) struct DtlsSignals {
    /// SRTP is keyed: media may flow (with the negotiated profile).
    pub connected: Option<SrtpProfile>,
    /// The peer said close_notify: the session ends now.
    pub close_notify: bool,
    /// DTLS application data records dropped (no data channels here).
    pub application_data: u64,
    /// DTLS junk records from the peer's path dropped, the session kept.
    pub records_dropped: u64,
}

/// Per-session transport state.
#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) ice: IceLite,
    dtls: DtlsServer,
    srtp: Option<SrtpSession>,
    remote_ssrcs: Vec<u32>,
    /// Learn unsignalled SSRCs up to this many in total (0: never).
    learn_limit: usize,
}

impl Transport {
    pub(crate) fn new(
        now: Instant,
        session: TransportConfig,
        dtls_config: Arc<dimpl::Config>,
        certificate: &Certificate,
        max_paths: usize,
        max_remote_ssrcs: usize,
    ) -> Self {
        let TransportConfig {
            credentials,
            remote_ufrag,
            remote_fingerprint,
            remote_ssrcs,
            learn_remote_ssrcs,
        } = session;
        Transport {
            ice: IceLite::new(now, credentials, remote_ufrag, max_paths),
            dtls: DtlsServer::new(now, dtls_config, certificate, remote_fingerprint),
            srtp: None,
            remote_ssrcs,
            learn_limit: if learn_remote_ssrcs {
                max_remote_ssrcs
            } else {
                0
            },
        }
    }

    pub(crate) fn srtp_mut(&mut self) -> Option<&mut SrtpSession> {
        self.srtp.as_mut()
    }

    pub(crate) fn remote_ssrc_count(&self) -> usize {
        match &self.srtp {
            Some(srtp) => srtp.remote_ssrcs().len(),
            None => self.remote_ssrcs.len(),
        }
    }

    pub(crate) fn allow_remote_ssrc(&mut self, ssrc: u32) {
        if !self.remote_ssrcs.contains(&ssrc) {
            self.remote_ssrcs.push(ssrc);
        }
        if let Some(srtp) = &mut self.srtp {
            srtp.allow_remote_ssrc(ssrc);
        }
    }

    /// The earliest instant this session needs `handle_timeout`: a DTLS
    /// retransmission, or the end of consent.
    pub(crate) fn next_timeout(&self, consent_timeout: Duration) -> Instant {
        let consent_end = self.ice.last_consent() + consent_timeout;
        match self.dtls.next_timeout() {
            Some(t) if t < consent_end => t,
            _ => consent_end,
        }
    }

    pub(crate) fn consent_expired(&self, now: Instant, consent_timeout: Duration) -> bool {
        now >= self.ice.last_consent() + consent_timeout
    }

    pub(crate) fn dtls_due(&self, now: Instant) -> bool {
        self.dtls.next_timeout().is_some_and(|t| t <= now)
    }

    pub(crate) fn handle_dtls(
        &mut self,
        now: Instant,
        packet: &[u8],
        transmit: &mut impl FnMut(&[u8]),
    ) -> Result<DtlsSignals, Error> {
        let progress = self.dtls.handle_packet(now, packet, transmit)?;
        self.apply(progress)
    }

    pub(crate) fn handle_dtls_timeout(
        &mut self,
        now: Instant,
        transmit: &mut impl FnMut(&[u8]),
    ) -> Result<DtlsSignals, Error> {
        let progress = self.dtls.handle_timeout(now, transmit)?;
        self.apply(progress)
    }

    /// Makes this side the DTLS client (a third party answered
    /// `a=setup:passive`); the handshake starts with [`Transport::start_dtls`].
    pub(crate) fn become_dtls_client(&mut self) {
        self.dtls.become_client();
    }

    /// As the DTLS client, sends the ClientHello (ICE selected a path).
    pub(crate) fn start_dtls(
        &mut self,
        now: Instant,
        transmit: &mut impl FnMut(&[u8]),
    ) -> Result<DtlsSignals, Error> {
        let progress = self.dtls.start(now, transmit)?;
        self.apply(progress)
    }

    pub(crate) fn close(&mut self, transmit: &mut impl FnMut(&[u8])) {
        self.dtls.close(transmit);
    }

    fn apply(&mut self, progress: DtlsProgress) -> Result<DtlsSignals, Error> {
        let mut signals = DtlsSignals {
            close_notify: progress.close_notify,
            application_data: progress.application_data,
            records_dropped: progress.records_dropped,
            ..DtlsSignals::default()
        };
        if let Some((material, profile)) = progress.keys {
            let role = if self.dtls.is_client() {
                DtlsRole::Client
            } else {
                DtlsRole::Server
            };
            let mut srtp = SrtpSession::from_dtls_keying(&material, profile, role)?;
            for &ssrc in &self.remote_ssrcs {
                srtp.allow_remote_ssrc(ssrc);
            }
            srtp.learn_remote_ssrcs(self.learn_limit);
            self.srtp = Some(srtp);
        }
        if progress.connected {
            signals.connected = self.srtp.as_ref().map(SrtpSession::profile);
        }
        Ok(signals)
    }
}
