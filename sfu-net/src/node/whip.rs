//! WHIP and WHEP (RFC 9725) in node commands: a publisher's offer makes a
//! session whose every sending section is a track; a viewer's offer makes
//! a session that receives a source session's tracks, by kind, in order.
//! These are conveniences over the general commands, not a second path.

use std::time::Instant;

use sfu_core::SessionId;

use crate::Error;
use crate::sdp::MediaKind;

use super::event::{PullTrack, TrackState};
use super::{Node, SdpType};

/// A published session (WHIP).
#[derive(Debug, Clone)]
pub struct Publication {
    /// The session.
    pub session: SessionId,
    /// The SDP answer for the client.
    pub answer: String,
    /// The tracks it publishes, named by their mids.
    pub tracks: Vec<String>,
}

/// A viewing session (WHEP).
#[derive(Debug, Clone)]
pub struct Viewing {
    /// The session.
    pub session: SessionId,
    /// The SDP answer for the client.
    pub answer: String,
}

impl Node {
    /// A client publishes (WHIP): a new session publishing each sending
    /// section of `offer` as a track named by its mid.
    pub fn publish(&mut self, now: Instant, offer: &str) -> Result<Publication, Error> {
        let session = self.create_session(now)?;
        let pushed = match self.push_tracks(now, session, offer, &[]) {
            Ok(p) => p,
            Err(e) => {
                self.discard(now, session);
                return Err(e);
            }
        };
        let mut tracks = Vec::new();
        for t in pushed.tracks {
            match t.result {
                Ok(_) => tracks.push(t.name),
                Err(e) => {
                    self.discard(now, session);
                    return Err(e);
                }
            }
        }
        let answer = pushed.description.map(|d| d.sdp).unwrap_or_default();
        Ok(Publication {
            session,
            answer,
            tracks,
        })
    }

    /// A client views (WHEP): a new session answering its receive-only
    /// `offer` with our SSRCs, `pulls` delivered into the offer's sections
    /// (by kind, in order; see [`Node::source_pulls`] for "every track of a
    /// session"). `layer` is the preferred RID of simulcast video (`None`:
    /// the highest). Sections left idle (a viewer that came before its
    /// publisher) take tracks later with [`Node::attach`].
    pub fn view(
        &mut self,
        now: Instant,
        offer: &str,
        pulls: &[PullTrack],
        layer: Option<String>,
    ) -> Result<Viewing, Error> {
        super::commands::check_rid(layer.as_deref())?;
        let session = self.create_session(now)?;
        let pulls: Vec<PullTrack> = pulls
            .iter()
            .map(|p| p.clone().with_layer(layer.clone()))
            .collect();
        match self.pull_tracks(now, session, &pulls, Some(offer)) {
            Ok(n)
                if n.description
                    .as_ref()
                    .is_some_and(|d| d.kind == SdpType::Answer) =>
            {
                if let Err(e) = self.set_layer(session, None, layer) {
                    self.discard(now, session);
                    return Err(e);
                }
                Ok(Viewing {
                    session,
                    answer: n.description.map(|d| d.sdp).unwrap_or_default(),
                })
            }
            Ok(_) => {
                self.discard(now, session);
                Err(Error::NotNegotiated)
            }
            Err(e) => {
                self.discard(now, session);
                Err(e)
            }
        }
    }

    /// Delivers `pulls` into the viewer's idle sections, by kind in order
    /// (a viewer that arrived first, or whose publisher restarted: sequence
    /// numbers and timestamps continue where they stopped).
    pub fn attach(
        &mut self,
        now: Instant,
        viewer: SessionId,
        pulls: &[PullTrack],
    ) -> Result<(), Error> {
        let r = self.attach_now(now, viewer, pulls);
        self.pump(now);
        r
    }

    fn attach_now(
        &mut self,
        now: Instant,
        viewer: SessionId,
        pulls: &[PullTrack],
    ) -> Result<(), Error> {
        let mut unused = pulls.to_vec();
        let kinds: Vec<(String, MediaKind)> = self
            .sessions
            .get(&viewer)
            .ok_or(Error::UnknownSession)?
            .senders
            .iter()
            .filter(|s| s.pull.is_none())
            .filter_map(|s| Some((s.mid.clone()?, s.kind)))
            .collect();
        for (mid, kind) in kinds {
            let Some(at) = unused.iter().position(|p| {
                self.track(p.publisher, &p.name)
                    .ok()
                    .flatten()
                    .is_some_and(|t| t.kind == kind)
            }) else {
                continue;
            };
            let pull = unused.remove(at);
            match self.bind_pull(now, viewer, &mid, &pull) {
                Ok(TrackState::Active | TrackState::Waiting | TrackState::Closed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Every track `source` publishes, as pulls.
    pub fn source_pulls(&self, source: SessionId) -> Vec<PullTrack> {
        self.published_tracks(source)
            .into_iter()
            .map(|(name, _)| PullTrack::new(source, name))
            .collect()
    }

    /// Forgets a session a failed command created, without an event: the
    /// caller never learnt its id.
    fn discard(&mut self, now: Instant, session: SessionId) {
        let _ = self.endpoint.close_session(session);
        self.forget(now, session);
        // Drain the endpoint's Closed for it so it is not reported later.
        self.pump(now);
    }
}
