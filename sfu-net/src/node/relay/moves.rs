//! Moving every pull of one track onto another track of the same format:
//! what a node of a cascading tree does when the parent it received a
//! track from dies and the track arrives again over a link to a new
//! parent. Each subscriber keeps its SSRCs, sequence numbers and
//! timestamps (as `tracks/update` into the same mid does), so neither a
//! browser nor a node further down sees a new stream: only a gap.

use std::time::Instant;

use sfu_core::{Hint, LayerIndex, Pinned, PullConfig, SessionId, SubscriptionId};

use super::super::Node;
use super::super::event::PullTrack;
use super::super::session::{Link, Pull};
use crate::Error;

impl Node {
    /// Every pull of `(from, from_name)` on this node — clients' m-sections
    /// and relay links onward — now pulls `(to, to_name)` instead; returns
    /// how many moved. `to` must be published with the same format and
    /// layers (the same track, relayed over another link).
    pub fn move_pulls(
        &mut self,
        now: Instant,
        from: SessionId,
        from_name: &str,
        to: SessionId,
        to_name: &str,
    ) -> Result<usize, Error> {
        let r = self.move_pulls_now(now, from, from_name, to, to_name);
        self.pump(now);
        r
    }

    fn move_pulls_now(
        &mut self,
        now: Instant,
        from: SessionId,
        from_name: &str,
        to: SessionId,
        to_name: &str,
    ) -> Result<usize, Error> {
        let layers = self
            .track(to, to_name)?
            .ok_or_else(|| Error::TrackNotPublished(to_name.to_owned()))?
            .layers;
        let pulls_from = |p: &Option<Pull>| {
            p.as_ref()
                .is_some_and(|p| p.publisher == from && p.name == from_name)
        };
        // Client sections pulling the track: (session, mid, layer,
        // subscription), and relay links relaying it on: (link, relay name).
        let mut clients = Vec::new();
        let mut relays = Vec::new();
        for (id, s) in &self.sessions {
            for sender in s.senders.iter().filter(|x| pulls_from(&x.pull)) {
                match (&s.link, &sender.mid, &sender.relay_name, &sender.pull) {
                    (Link::Client(_), Some(mid), None, Some(pull)) => {
                        clients.push((*id, mid.clone(), sender.layer.clone(), pull.subscription))
                    }
                    (Link::Relay(_), _, Some(relay_name), _) => {
                        relays.push((*id, relay_name.clone()))
                    }
                    _ => {}
                }
            }
        }
        let moved = clients.len() + relays.len();
        for (session, mid, layer, old) in clients {
            // The section's new pull continues where the old one stands.
            // The router reports that point too, as the old subscription
            // ends, but only at the next pump, when the section already
            // pulls anew: taken now, or the new pull numbers afresh.
            let point = self.router.resume_point(old);
            self.close_tracks_now(now, session, std::slice::from_ref(&mid), None, true)?;
            if let Some(sender) = self
                .sessions
                .get_mut(&session)
                .and_then(|s| s.sender_by_mid(&mid))
            {
                sender.resume = point.or(sender.resume);
            }
            let pull = PullTrack::new(to, to_name).into_mid(mid).with_layer(layer);
            self.pull_tracks_now(now, session, &[pull], None)?;
        }
        for (link, relay_name) in relays {
            self.move_relayed(now, link, &relay_name, to, to_name, layers)?;
        }
        Ok(moved)
    }

    /// Re-points the pinned subscriptions of the track `relay_name` on
    /// `link` at `(to, to_name)`, each layer on its link SSRCs, continuing
    /// its numbering and keeping it paused or flowing as the node below
    /// last asked.
    fn move_relayed(
        &mut self,
        now: Instant,
        link: SessionId,
        relay_name: &str,
        to: SessionId,
        to_name: &str,
        layers: usize,
    ) -> Result<(), Error> {
        let Some(Link::Relay(relay)) = self.sessions.get(&link).map(|s| &s.link) else {
            return Err(Error::NotARelay);
        };
        let Some((key, old)) = relay
            .outbound
            .iter()
            .find(|(_, o)| o.relay_name == relay_name)
            .map(|(k, o)| (*k, (o.layers.clone(), o.ssrcs.clone())))
        else {
            return Err(Error::TrackNotPublished(relay_name.to_owned()));
        };
        if old.0.len() != layers {
            return Err(Error::FormatMismatch(relay_name.to_owned()));
        }
        let codecs = self
            .sessions
            .get(&link)
            .and_then(|s| {
                s.senders
                    .iter()
                    .find(|x| x.relay_name.as_deref() == Some(relay_name))
            })
            .map(|x| x.codecs.clone())
            .unwrap_or_default();
        let mut fresh: Vec<(SubscriptionId, bool)> = Vec::with_capacity(layers);
        for (i, ((sub, flowing), (ssrc, rtx))) in old.0.iter().zip(&old.1).enumerate() {
            let point = self.router.resume_point(*sub);
            let _ = self.router.close_subscription(*sub);
            let mut pull = PullConfig::new(*ssrc, codecs.clone())
                .with_policy(Pinned::new(LayerIndex(i as u8)));
            if let Some(rtx) = rtx {
                pull = pull.with_rtx(*rtx);
            }
            if let Some(point) = point {
                pull = pull.resume(point);
            }
            let new = self.router.pull_track(now, link, to, to_name, pull)?;
            if *flowing {
                let _ = self.router.request_keyframe(now, new);
            } else {
                let _ = self.router.hint(new, Hint::Pause(true));
            }
            fresh.push((new, *flowing));
        }
        let first = fresh.first().map(|(s, _)| *s);
        let Some(session) = self.sessions.get_mut(&link) else {
            return Err(Error::UnknownSession);
        };
        if let Link::Relay(relay) = &mut session.link
            && let Some(o) = relay.outbound.get_mut(&key)
        {
            o.layers = fresh;
            o.publisher = to;
            o.name = to_name.to_owned();
        }
        if let (Some(sender), Some(first)) = (
            session
                .senders
                .iter_mut()
                .find(|x| x.relay_name.as_deref() == Some(relay_name)),
            first,
        ) {
            sender.pull = Some(Pull {
                publisher: to,
                name: to_name.to_owned(),
                subscription: first,
            });
            sender.pulled = Some((to, to_name.to_owned()));
        }
        self.relay_demand.changed();
        Ok(())
    }
}
