//! The endpoint's ICE: STUN checks from peers (routed by ufrag, which
//! binds and selects paths) and, for sessions where we are the controlling
//! agent, our own checks and the responses to them (routed by transaction
//! id).

use std::time::Instant;

use bytes::Bytes;

use super::{Endpoint, push_transmit};
use crate::error::Error;
use crate::event::{CloseReason, EndpointEvent};
use crate::ice::{CheckRejection, IceAgent, Path, ResponseOutcome, RoleCheck, local_ufrag_of};
use crate::session::SessionKey;
use crate::stun::{self, StunMessage};

impl<K: SessionKey> Endpoint<K> {
    /// Runs `id`'s agent timers and sends what it queued.
    pub(super) fn run_agent(&mut self, now: Instant, id: K) {
        if let Some(agent) = self.agents.get_mut(&id) {
            agent.handle_timeout(now);
        }
        self.flush_agent(id);
    }

    /// Routes the agent's new transactions, forgets its finished ones,
    /// queues its requests; a failed agent fails its session.
    pub(super) fn flush_agent(&mut self, id: K) {
        let Some(agent) = self.agents.get_mut(&id) else {
            return;
        };
        for t in agent.take_finished() {
            if self.by_transaction.get(&t) == Some(&id) {
                self.by_transaction.remove(&t);
            }
        }
        for t in agent.take_started() {
            self.by_transaction.insert(t, id);
        }
        while let Some((path, request)) = agent.poll_request() {
            let contents = self.tx_pool.copy(&request);
            push_transmit(
                &mut self.transmits,
                &mut self.stats,
                self.config.max_queued,
                path,
                contents,
            );
        }
        if agent.failed() {
            self.stats.sessions_failed += 1;
            self.remove_session(id, CloseReason::Failed(Error::IceFailed));
            return;
        }
        self.reschedule(id);
    }

    /// Schedules `id`'s next deadline: its transport's, or its agent's.
    pub(super) fn reschedule(&mut self, id: K) {
        let Some(t) = self.sessions.get(&id) else {
            return;
        };
        let mut next = t.next_timeout(self.config.consent_timeout);
        if let Some(a) = self.agents.get(&id).and_then(IceAgent::next_timeout) {
            next = next.min(a);
        }
        self.timers.schedule(id, next);
    }

    pub(super) fn handle_stun(&mut self, now: Instant, path: Path, datagram: &[u8]) {
        let Ok(msg) = StunMessage::parse(datagram) else {
            self.stats.stun_malformed += 1;
            return;
        };
        match msg.message_type() {
            stun::BINDING_REQUEST => self.handle_check(now, path, &msg),
            stun::BINDING_SUCCESS | stun::BINDING_ERROR => self.handle_response(now, path, &msg),
            _ => self.stats.stun_not_binding_request += 1,
        }
    }

    /// A response to one of our checks, found by its transaction id; one
    /// for no check in flight is counted and dropped (no state).
    pub(super) fn handle_response(&mut self, now: Instant, path: Path, msg: &StunMessage<'_>) {
        let Some(&id) = self.by_transaction.get(msg.transaction_id()) else {
            self.stats.stun_not_binding_request += 1;
            return;
        };
        let (Some(agent), Some(t)) = (self.agents.get_mut(&id), self.sessions.get_mut(&id)) else {
            self.stats.stun_not_binding_request += 1;
            return;
        };
        match agent.handle_response(now, msg, path) {
            Ok(ResponseOutcome::Selected(selected)) => {
                let update = t.ice.select_checked(now, selected);
                self.bind_path(id, selected, update.added, update.evicted);
                if update.selected_changed {
                    self.path_selected(now, id, selected);
                }
            }
            Ok(ResponseOutcome::Consent(p)) => t.ice.refresh_consent(now, p),
            Ok(ResponseOutcome::RoleSwitched) => t.ice.set_controlling(agent.is_controlling()),
            // Counted by the agent; nothing else changes.
            Ok(ResponseOutcome::Succeeded | ResponseOutcome::PairFailed) | Err(_) => {}
        }
        self.flush_agent(id);
    }

    /// Binds a verified `path` to `id` in the 5-tuple map (and unbinds the
    /// path the session's bound evicted).
    pub(super) fn bind_path(&mut self, id: K, path: Path, added: bool, evicted: Option<Path>) {
        if let Some(old) = evicted
            && self.by_path.get(&old) == Some(&id)
        {
            self.by_path.remove(&old);
        }
        if added
            && let Some(previous) = self.by_path.insert(path, id)
            && previous != id
            && let Some(other) = self.sessions.get_mut(&previous)
        {
            // The same 5-tuple now proves a different session's credentials
            // (a NAT binding reused): the newest valid check wins.
            other.ice.forget(path);
        }
    }

    /// The session now sends on `path`: tell the caller, and as the DTLS
    /// client start the handshake there.
    pub(super) fn path_selected(&mut self, now: Instant, id: K, path: Path) {
        self.push_event(EndpointEvent::PathSelected {
            session: id,
            remote: path.0,
            local: path.1,
        });
        if let Some(agent) = self.agents.get_mut(&id) {
            agent.note_selected(now, path);
        }
        let Some(t) = self.sessions.get_mut(&id) else {
            return;
        };
        let (transmits, stats, max) =
            (&mut self.transmits, &mut self.stats, self.config.max_queued);
        let result = t.start_dtls(now, &mut |p: &[u8]| {
            push_transmit(transmits, stats, max, path, Bytes::copy_from_slice(p));
        });
        self.after_dtls(id, result);
        self.reschedule(id);
    }

    /// A binding request: routed by the ufrag in USERNAME, verified,
    /// answered.
    pub(super) fn handle_check(&mut self, now: Instant, path: Path, msg: &StunMessage<'_>) {
        let route = msg
            .username()
            .and_then(local_ufrag_of)
            .and_then(|u| self.by_ufrag.get(u));
        let Some(&id) = route else {
            self.stats.stun_unknown_ufrag += 1;
            return;
        };
        let Some(t) = self.sessions.get_mut(&id) else {
            self.stats.stun_unknown_ufrag += 1;
            return;
        };
        match t.ice.verify(now, msg, path) {
            Ok(()) => {}
            Err(CheckRejection::Fingerprint) => {
                self.stats.stun_bad_fingerprint += 1;
                return;
            }
            Err(CheckRejection::Integrity) => {
                self.stats.stun_bad_integrity += 1;
                return;
            }
            Err(CheckRejection::RemoteUfrag) => {
                self.stats.stun_wrong_remote_ufrag += 1;
                return;
            }
            Err(CheckRejection::Replayed) => {
                self.stats.stun_replayed += 1;
                return;
            }
            Err(CheckRejection::TooManyChecks) => {
                self.stats.stun_check_rate_exceeded += 1;
                return;
            }
        }
        if let Some(agent) = self.agents.get_mut(&id) {
            match agent.check_role(msg) {
                RoleCheck::Agree => {}
                RoleCheck::Switched => t.ice.set_controlling(agent.is_controlling()),
                RoleCheck::Conflict => {
                    // RFC 8445 §7.3.1.1: we keep our role and say so.
                    t.ice
                        .write_role_conflict(msg, agent.role_attribute(), &mut self.stun_scratch);
                    let response = self.tx_pool.copy(&self.stun_scratch);
                    push_transmit(
                        &mut self.transmits,
                        &mut self.stats,
                        self.config.max_queued,
                        path,
                        response,
                    );
                    return;
                }
            }
        }
        let update = t
            .ice
            .accept(now, *msg.transaction_id(), path, msg.use_candidate());
        t.ice.write_response(msg, path.0, &mut self.stun_scratch);
        self.bind_path(id, path, update.added, update.evicted);
        let response = self.tx_pool.copy(&self.stun_scratch);
        let sent = push_transmit(
            &mut self.transmits,
            &mut self.stats,
            self.config.max_queued,
            path,
            response,
        );
        if sent {
            self.stats.binding_responses += 1;
        }
        if update.selected_changed {
            self.path_selected(now, id, path);
        }
    }
}
