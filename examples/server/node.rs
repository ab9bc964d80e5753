//! The HTTP side's way to the node: commands submitted to the driver
//! thread and awaited without blocking the runtime, and the node's events
//! fanned out to whoever keeps state about sessions.

use std::time::Instant;

use sfu::net::driver::{DriverHandle, Events};
use sfu::net::{Error, Node, NodeEvent};

/// The node, as the async handlers see it.
#[derive(Clone, Debug)]
pub struct Sfu {
    handle: DriverHandle,
}

impl Sfu {
    pub fn new(handle: DriverHandle) -> Self {
        Self { handle }
    }

    /// Runs `command` on the node (on the driver thread) and awaits its
    /// result; the media plane runs it between two turns of its loop.
    pub async fn call<T: Send + 'static>(
        &self,
        command: impl FnOnce(&mut Node, Instant) -> T + Send + 'static,
    ) -> Result<T, Error> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.handle.submit(move |node, now| {
            let _ = tx.send(command(node, now));
        })?;
        rx.await.map_err(|_| Error::DriverStopped)
    }

    /// [`Sfu::call`] of a command that itself may fail.
    pub async fn try_call<T: Send + 'static>(
        &self,
        command: impl FnOnce(&mut Node, Instant) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.call(command).await?
    }

    pub fn handle(&self) -> &DriverHandle {
        &self.handle
    }
}

/// Something that keeps state about the node's sessions.
pub trait Listener: Send + Sync {
    fn on_event(&self, event: &NodeEvent);
}

/// Hands every node event to `listeners`, on a thread of its own, until
/// the driver stops.
pub fn pump_events(events: Events, listeners: Vec<std::sync::Arc<dyn Listener>>) {
    std::thread::Builder::new()
        .name("sfu-events".into())
        .spawn(move || {
            for event in events {
                match &event {
                    NodeEvent::Closed { session, reason } => {
                        tracing::info!(%session, ?reason, "session closed")
                    }
                    NodeEvent::Connected { session } => tracing::info!(%session, "connected"),
                    other => tracing::debug!(?other, "node event"),
                }
                for l in &listeners {
                    l.on_event(&event);
                }
            }
        })
        .map(drop)
        .unwrap_or_else(|e| tracing::error!("cannot start the event thread: {e}"));
}

/// A real session id, as the node would hand out (for unit tests of the
/// tables that key by it).
#[cfg(test)]
pub fn test_session() -> sfu::net::SessionId {
    let mut router = sfu::router::Router::new(sfu::router::RouterConfig::default());
    router
        .create_session(Instant::now(), sfu::router::SessionConfig::default())
        .unwrap()
}
