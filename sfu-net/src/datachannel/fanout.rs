//! One published data channel to many subscriber channels, sans-IO.
//!
//! A publisher's message becomes one [`SubscriberAction::Send`] per
//! subscriber, all sharing the message's `Bytes` (no copy per
//! subscriber). Each subscriber is held to its own bound on buffered
//! bytes, read from its association at publish time: past it, an
//! unreliable subscriber misses the message and a reliable one is closed
//! (it cannot be skipped without breaking its promise), so one slow reader
//! never makes memory grow for everyone.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{ChannelId, MessageKind, Reliability};

/// The bounds of one fan-out.
#[derive(Debug, Clone)]
pub struct FanoutConfig {
    max_buffered: usize,
    max_subscribers: usize,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig {
            max_buffered: 256 * 1024,
            max_subscribers: 10_000,
        }
    }
}

impl FanoutConfig {
    /// Bytes a subscriber's channel may hold unsent or unacknowledged
    /// before it misses messages or is closed (default 256 KiB). Keep it at
    /// or under the association's per-channel bound.
    pub fn with_max_buffered(mut self, bytes: usize) -> Self {
        self.max_buffered = bytes;
        self
    }

    /// Subscribers at once (default 10 000).
    pub fn with_max_subscribers(mut self, subscribers: usize) -> Self {
        self.max_subscribers = subscribers;
        self
    }
}

/// A subscriber's channel: where its copies go and how it delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    /// The channel on the subscriber's association.
    pub channel: ChannelId,
    /// How that channel delivers; decides drop or close when it is full.
    pub reliability: Reliability,
    /// Messages this subscriber missed because its buffer was full.
    pub dropped: u64,
}

/// What the caller does for one subscriber after [`Fanout::publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriberAction<K> {
    /// Send the message on the subscriber's channel
    /// ([`Association::send`](super::Association::send)).
    Send {
        /// Whose association.
        subscriber: K,
        /// Its channel.
        channel: ChannelId,
        /// String or binary.
        kind: MessageKind,
        /// The publisher's bytes, shared.
        payload: Bytes,
    },
    /// Close the subscriber's channel: it is reliable and could not keep
    /// up. It is no longer a subscriber.
    Close {
        /// Whose association.
        subscriber: K,
        /// Its channel.
        channel: ChannelId,
    },
}

/// What a fan-out did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FanoutStats {
    /// Messages published.
    pub messages: u64,
    /// Copies handed out to send.
    pub sends: u64,
    /// Copies not sent to unreliable subscribers over their bound.
    pub dropped: u64,
    /// Reliable subscribers closed for being over their bound.
    pub closed: u64,
    /// Subscribers removed because their channel was gone.
    pub gone: u64,
    /// Subscribers refused by the bound on their number.
    pub refused: u64,
}

/// One published channel's subscribers, generic over the key that names a
/// subscriber's association (a session id in the node).
#[derive(Debug, Clone)]
pub struct Fanout<K> {
    config: FanoutConfig,
    subscribers: BTreeMap<K, Subscriber>,
    stats: FanoutStats,
}

impl<K: Ord + Clone> Fanout<K> {
    /// An empty fan-out.
    pub fn new(config: FanoutConfig) -> Self {
        Fanout {
            config,
            subscribers: BTreeMap::new(),
            stats: FanoutStats::default(),
        }
    }

    /// Adds (or replaces) `key`'s subscription on `channel`. Returns false,
    /// counted, when the fan-out is full.
    pub fn subscribe(&mut self, key: K, channel: ChannelId, reliability: Reliability) -> bool {
        if !self.subscribers.contains_key(&key)
            && self.subscribers.len() >= self.config.max_subscribers
        {
            self.stats.refused += 1;
            return false;
        }
        self.subscribers.insert(
            key,
            Subscriber {
                channel,
                reliability,
                dropped: 0,
            },
        );
        true
    }

    /// Removes `key`'s subscription (its channel closed, it left).
    pub fn unsubscribe(&mut self, key: &K) -> Option<Subscriber> {
        self.subscribers.remove(key)
    }

    /// `key`'s subscription.
    pub fn subscriber(&self, key: &K) -> Option<&Subscriber> {
        self.subscribers.get(key)
    }

    /// Subscribers now.
    pub fn len(&self) -> usize {
        self.subscribers.len()
    }

    /// Whether nobody subscribes.
    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }

    /// What this fan-out did.
    pub fn stats(&self) -> FanoutStats {
        self.stats
    }

    /// One message from the publisher. `buffered_amount` gives a
    /// subscriber's buffered bytes on its channel (`None`: the channel is
    /// gone, and so is the subscriber); `out` receives what to do, in key
    /// order.
    pub fn publish<F>(
        &mut self,
        kind: MessageKind,
        payload: &Bytes,
        mut buffered_amount: F,
        out: &mut Vec<SubscriberAction<K>>,
    ) where
        F: FnMut(&K, ChannelId) -> Option<usize>,
    {
        self.stats.messages += 1;
        let bound = self.config.max_buffered;
        let stats = &mut self.stats;
        self.subscribers.retain(|key, sub| {
            let Some(buffered) = buffered_amount(key, sub.channel) else {
                stats.gone += 1;
                return false;
            };
            if buffered.saturating_add(payload.len()) <= bound {
                stats.sends += 1;
                out.push(SubscriberAction::Send {
                    subscriber: key.clone(),
                    channel: sub.channel,
                    kind,
                    payload: payload.clone(),
                });
                true
            } else if sub.reliability.is_reliable() {
                stats.closed += 1;
                out.push(SubscriberAction::Close {
                    subscriber: key.clone(),
                    channel: sub.channel,
                });
                false
            } else {
                stats.dropped += 1;
                sub.dropped += 1;
                true
            }
        });
    }

    /// The caller's send of a [`SubscriberAction::Send`] was refused by
    /// the association (its own bound, a closed association): the same
    /// rule as over the bound. Returns whether to close the channel.
    pub fn send_refused(&mut self, key: &K) -> bool {
        let Some(sub) = self.subscribers.get_mut(key) else {
            return false;
        };
        if sub.reliability.is_reliable() {
            self.subscribers.remove(key);
            self.stats.closed += 1;
            true
        } else {
            sub.dropped += 1;
            self.stats.dropped += 1;
            self.stats.sends = self.stats.sends.saturating_sub(1);
            false
        }
    }
}
