//! Following tandemd: every [`CLUSTER_POLL_INTERVAL_MS`] the proxy reads `GET /metrics` of
//! each `tandemd_metrics` endpoint, turns the answers into one verdict (`proxy/cluster.rs`),
//! logs when it changes (a new primary, no active node, unknown) and publishes it to the
//! sessions: while no node is active, a new client gets an error naming the state at once
//! instead of waiting out a connect timeout on a VIP that nobody holds.

use crate::proxy::cluster::{self, Primary, Reading};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How often tandemd is read: a switchover's in-between states last a few hundred ms and a
/// failover's a second or more, so a new session meets a stale verdict for at most this.
pub const CLUSTER_POLL_INTERVAL_MS: u64 = 250;
/// One scrape (connect, request, whole answer) takes at most this; a node that lost power
/// does not answer at all, and the other node's reading must not wait on it for long.
pub const SCRAPE_TIMEOUT_MS: u64 = 500;
/// tandemd's metrics text is a few kB; an answer longer than this is not it.
const MAX_SCRAPE_BYTES: u64 = 1024 * 1024;

/// Publishes the verdict until the process ends; `endpoints` are `host:port` addresses.
pub async fn poll(endpoints: Vec<String>, verdict: watch::Sender<Primary>) {
    let mut ticker = tokio::time::interval(Duration::from_millis(CLUSTER_POLL_INTERVAL_MS));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The last node seen serving, so that a → (nobody) → b is logged as a change of primary.
    let mut last_active: Option<String> = None;
    loop {
        ticker.tick().await;
        let scrapes = endpoints.iter().map(|endpoint| async move {
            Reading {
                endpoint: endpoint.clone(),
                view: scrape(endpoint).await,
            }
        });
        let readings = futures_util::future::join_all(scrapes).await;
        let next = cluster::decide(&readings);
        if next != *verdict.borrow() {
            log_change(last_active.as_deref(), &next);
            if let Primary::Active { node } = &next {
                last_active = Some(node.clone());
            }
            verdict.send_replace(next);
        }
    }
}

fn log_change(last_active: Option<&str>, next: &Primary) {
    match (last_active, next) {
        (Some(from), Primary::Active { node: to }) if from != to => {
            tracing::warn!(%from, %to, "primary changed; sessions on the old one end");
        }
        (_, Primary::Active { node }) => tracing::info!(%node, "primary: active node"),
        (_, Primary::None { sentence }) => {
            tracing::warn!(
                %sentence,
                "new sessions refused until a node is active; open ones end"
            );
        }
        (_, Primary::Unknown) => tracing::info!(
            "tandemd's view is unknown (no endpoint proves a state); new sessions go to the VIP"
        ),
    }
}

/// One endpoint's view, or why there is none.
async fn scrape(endpoint: &str) -> Result<cluster::NodeView, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(endpoint)
            .await
            .map_err(|e| e.to_string())?;
        let request = format!("GET /metrics HTTP/1.0\r\nHost: {endpoint}\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        stream
            .take(MAX_SCRAPE_BYTES)
            .read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        let body = cluster::http_body(&answer).map_err(|e| e.to_string())?;
        cluster::parse_metrics(&String::from_utf8_lossy(body)).map_err(|e| e.to_string())
    };
    let limit = Duration::from_millis(SCRAPE_TIMEOUT_MS);
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {SCRAPE_TIMEOUT_MS} ms")))
}

/// A session's hold on the primary it logged in to, as tandemd sees it.
pub struct PrimaryWatch {
    verdict: watch::Receiver<Primary>,
    /// The node that served at login; `None` when the verdict was unknown then.
    node: Option<String>,
}

impl PrimaryWatch {
    pub fn new(verdict: watch::Receiver<Primary>) -> PrimaryWatch {
        let mut watch = PrimaryWatch {
            verdict,
            node: None,
        };
        watch.rebase();
        watch
    }

    /// The session has a new primary connection: the node serving now is its node.
    pub fn rebase(&mut self) {
        self.node = match &*self.verdict.borrow_and_update() {
            Primary::Active { node } => Some(node.clone()),
            _ => None,
        };
    }

    /// Resolves when tandemd says the session's primary no longer serves, with the reason;
    /// never without `tandemd_metrics` (the poll's sender is gone).
    pub async fn lost(&mut self) -> String {
        loop {
            // Read in place: this runs for every statement, and the verdict rarely changes.
            let lost = cluster::lost(self.node.as_deref(), &self.verdict.borrow_and_update());
            if let Some(reason) = lost {
                return reason;
            }
            if self.verdict.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}
