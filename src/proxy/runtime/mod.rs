//! The proxy's host effects: the listener with its connection limit, one task per client,
//! and the replica health poll. The decisions are in the pure modules beside this one.

mod backend;
mod cluster;
mod io;
mod login;
mod metrics;
mod reconnect;
mod replicas;
mod session;
mod users;

pub use backend::BACKEND_CONNECT_TIMEOUT_MS;
pub use cluster::{CLUSTER_POLL_INTERVAL_MS, SCRAPE_TIMEOUT_MS};
pub use login::CLIENT_LOGIN_TIMEOUT_MS;
pub use replicas::HEALTH_INTERVAL_MS;
pub use session::{CLIENT_IDLE_TIMEOUT_S, GTID_WAIT_TIMEOUT_MS};
pub use users::USER_LOOKUP_TIMEOUT_MS;

use crate::config::{credentials, proxy::compile_rule, Config};
use crate::proxy::cluster::Primary;
use crate::proxy::message::Err;
use crate::proxy::route::{Rule, Target};
use backend::BackendError;
use io::PacketStream;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

/// After a failed accept (out of file descriptors) the listener waits this long, so that a
/// full descriptor table does not spin a core.
const ACCEPT_BACKOFF_MS: u64 = 100;

/// Why the proxy cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("the config has no [proxy] section; add one (docs/proxy.md)")]
    NotConfigured,
    #[error("{0}")]
    Credentials(String),
    #[error("[[proxy.rule]] pattern {pattern:?}: {error}")]
    Rule { pattern: String, error: String },
    #[error("cannot listen on {address}: {error}")]
    Listen { address: String, error: String },
}

/// What every session reads.
pub struct Shared {
    /// The primary: the VIP and `primary_port`.
    pub primary: String,
    pub rules: Vec<Rule>,
    pub replicas: replicas::Replicas,
    pub users: users::Users,
    /// Where tandemd says the service is (`runtime/cluster.rs`); `Unknown` without
    /// `tandemd_metrics`.
    pub cluster: watch::Receiver<Primary>,
    pub counters: metrics::Counters,
    next_id: AtomicU32,
}

/// Runs the proxy until the process ends.
pub async fn run(config: Arc<Config>) -> Result<(), ProxyError> {
    let proxy = config.proxy.clone().ok_or(ProxyError::NotConfigured)?;
    let credentials = credentials::load(proxy.credentials_file.get_ref())
        .map_err(|e| ProxyError::Credentials(e.to_string()))?;
    let vip = SocketAddr::new(
        config.vip.address.get_ref().ip,
        *proxy.primary_port.get_ref(),
    );
    let mut rules = Vec::new();
    for rule in &proxy.rule {
        let pattern = rule.pattern.get_ref();
        let compiled = compile_rule(pattern).map_err(|e| ProxyError::Rule {
            pattern: pattern.clone(),
            error: e.to_string(),
        })?;
        let target = match rule.route.get_ref().as_str() {
            "replica" => Target::Replica,
            _ => Target::Primary,
        };
        rules.push(Rule {
            pattern: compiled,
            target,
        });
    }
    let listen = proxy.listen.get_ref().clone();
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| ProxyError::Listen {
            address: listen.clone(),
            error: e.to_string(),
        })?;
    let slots = replicas::slots(&config);
    let (verdict, cluster_view) = watch::channel(Primary::Unknown);
    if let Some(endpoints) = &proxy.tandemd_metrics {
        tokio::spawn(cluster::poll(endpoints.get_ref().clone(), verdict));
    }
    let shared = Arc::new(Shared {
        primary: vip.to_string(),
        rules,
        replicas: slots.clone(),
        users: users::Users::new(&vip.ip().to_string(), vip.port(), &credentials),
        cluster: cluster_view,
        counters: metrics::Counters::default(),
        next_id: AtomicU32::new(1),
    });
    if let Some(address) = &proxy.metrics_listen {
        let address = address.get_ref().clone();
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|e| ProxyError::Listen {
                address: address.clone(),
                error: e.to_string(),
            })?;
        tokio::spawn(metrics::serve(listener, shared.clone()));
    }
    tokio::spawn(replicas::poll(
        config.clone(),
        slots,
        *proxy.max_lag_s.get_ref(),
    ));
    tracing::info!(%listen, primary = %vip, replicas = config.replica.len(), "proxy listening");
    let limit = Arc::new(Semaphore::new(*proxy.max_connections.get_ref() as usize));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(ACCEPT_BACKOFF_MS)).await;
                continue;
            }
        };
        let shared = shared.clone();
        match limit.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    serve(stream, peer, &shared).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(too_many(stream));
            }
        }
    }
}

/// One client, from greeting to goodbye.
async fn serve(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let mut client = PacketStream::new(stream);
    // Taken before the login: the node the session's primary connection reaches.
    let watch = cluster::PrimaryWatch::new(shared.cluster.clone());
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let admitted = match login::admit(&mut client, shared, id).await {
        Ok(admitted) => admitted,
        Err(e) => {
            if matches!(e, login::LoginError::Refused(_)) {
                metrics::Counters::add(&shared.counters.logins_refused);
            }
            tracing::info!(%peer, error = %e, "login failed");
            return;
        }
    };
    tracing::debug!(%peer, user = %admitted.login.user, "session starts");
    let counters = &shared.counters;
    metrics::Counters::add(&counters.sessions_total);
    metrics::Counters::add(&counters.sessions_open);
    let session = session::Session::new(client, shared, admitted.login, admitted.primary);
    let result = session.run(watch).await;
    counters.sessions_open.fetch_sub(1, Ordering::Relaxed);
    match result {
        Ok(()) => {}
        // A client that closes without COM_QUIT is common (a killed script): not news.
        Err(e @ BackendError::Client(_)) => tracing::debug!(%peer, error = %e, "session ends"),
        // Every session on the old primary ends so at a failover: one line says it (cluster.rs).
        Err(e @ BackendError::PrimaryLost(_)) => tracing::debug!(%peer, error = %e, "session ends"),
        Err(e) => tracing::info!(%peer, error = %e, "session ends"),
    }
}

/// MariaDB's own answer when it is full: ER_CON_COUNT_ERROR as the first packet (sequence
/// id 0, in place of the greeting), then the socket closed. Unlike the server it carries the
/// SQL state marker, which pymysql needs to read the message whole (docs/proxy.md).
async fn too_many(stream: TcpStream) {
    let mut client = PacketStream::new(stream);
    let error = Err::new(
        1040,
        "08004",
        "Too many connections (tandem proxy max_connections)",
    );
    let _ = client.write(0, &error.encode()).await;
}
