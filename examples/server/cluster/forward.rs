//! Any node takes any Calls request: one for a session held by another
//! node is forwarded there (once: a forwarded request is never forwarded
//! again), and its answer returned as it came.

use hyper::{Method, StatusCode};

use super::{Cluster, peer};
use crate::http::Reply;

impl Cluster {
    /// Forwards a Calls request of `app` for session `id` (path and query
    /// `target`) to the node that holds the session; `None` if no live
    /// node does (the caller answers `404`).
    pub async fn forward(
        &self,
        app: &str,
        id: &str,
        method: &Method,
        target: String,
        body: &[u8],
        forwarded: bool,
    ) -> Option<Reply> {
        if forwarded {
            return None;
        }
        let secret = self.apps.iter().find(|(a, _)| a == app)?.1.clone();
        let (app_id, session) = (app.to_owned(), id.to_owned());
        let me = self.id().clone();
        let owner = self
            .dir
            .run(move |d, now| {
                let Some(node) = d.session(&app_id, &session)? else {
                    return Ok(None);
                };
                if node == me {
                    return Ok(None);
                }
                Ok(d.nodes(now, std::slice::from_ref(&node))?.pop().flatten())
            })
            .await;
        let owner = match owner {
            Ok(Some(owner)) => owner,
            Ok(None) => return None,
            Err(e) => {
                return Some(Reply::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "directory_unavailable",
                    e.to_string(),
                ));
            }
        };
        Some(
            match peer::forward(&owner.http, method.clone(), &target, &secret, body.to_vec()).await
            {
                Ok((status, answer)) => Reply::bytes(status, "application/json", answer),
                Err(e) => Reply::error(
                    StatusCode::BAD_GATEWAY,
                    "node_unreachable",
                    format!("the session's node {}: {e}", owner.id),
                ),
            },
        )
    }
}
