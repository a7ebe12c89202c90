//! The proxy's counters and its `GET /metrics` endpoint (`[proxy] metrics_listen`), served
//! like tandemd's (`exec/metrics_http.rs`: its request parsing and bounds) with the proxy's
//! own series (`metrics/render_proxy.rs`).

use super::Shared;
use crate::exec::metrics_http::{self, Wanted};
use crate::metrics::{render_proxy, ProxySample, CLASSIC_CONTENT_TYPE, CONTENT_TYPE};
use crate::proxy::cluster::Primary;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Events counted since the proxy started; relaxed atomics, read at a scrape.
#[derive(Debug, Default)]
pub struct Counters {
    pub sessions_open: AtomicU64,
    pub sessions_total: AtomicU64,
    pub logins_refused: AtomicU64,
    pub statements_primary: AtomicU64,
    pub statements_replica: AtomicU64,
    pub primary_lost: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a scrape shows, at one instant.
fn sample(shared: &Shared) -> ProxySample {
    let c = &shared.counters;
    let read = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let verdict = shared.cluster.borrow().clone();
    ProxySample {
        sessions_open: read(&c.sessions_open),
        sessions_total: read(&c.sessions_total),
        logins_refused: read(&c.logins_refused),
        statements_primary: read(&c.statements_primary),
        statements_replica: read(&c.statements_replica),
        primary_lost: read(&c.primary_lost),
        replicas: shared
            .replicas
            .iter()
            .map(|r| (r.name.clone(), r.healthy(), r.drains()))
            .collect(),
        no_active_node: matches!(verdict, Primary::None { .. }),
        primary: match verdict {
            Primary::Active { node } => Some(node),
            _ => None,
        },
    }
}

/// Serves scrapes until the process ends, at most `metrics_http::MAX_CONNECTIONS` at once.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let permits = Arc::new(Semaphore::new(metrics_http::MAX_CONNECTIONS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(super::ACCEPT_BACKOFF_MS)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(error) = answer(stream, &shared).await {
                tracing::debug!(%error, "proxy metrics: request not answered");
            }
            drop(permit);
        });
    }
}

async fn answer(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let head = metrics_http::read_head(&mut stream)
        .await?
        .unwrap_or_default();
    let respond = |status, body: &str| (status, "text/plain", body.to_string());
    let (status, content_type, body) = match metrics_http::parse(&head) {
        Wanted::Metrics { openmetrics } => match render_proxy(&sample(shared)) {
            Ok(text) if openmetrics => ("200 OK", CONTENT_TYPE, text),
            Ok(text) => (
                "200 OK",
                CLASSIC_CONTENT_TYPE,
                crate::metrics::to_classic_text(&text),
            ),
            Err(_) => respond("500 Internal Server Error", "cannot render\n"),
        },
        Wanted::NotFound => respond("404 Not Found", "only /metrics is here\n"),
        Wanted::MethodNotAllowed => respond("405 Method Not Allowed", "only GET\n"),
        Wanted::BadRequest => respond("400 Bad Request", "bad request\n"),
    };
    metrics_http::respond(&mut stream, status, content_type, &body).await
}
