//! The peer link as the daemon runs it. Each node listens on its own peer addresses and
//! receives the peer's messages there; it connects to every one of the peer's addresses and
//! sends each of its messages on every path. A path that fails is re-dialled; the core, not
//! the link, decides when the peer counts as silent.

use super::setup::DaemonError;
use crate::config::Config;
use crate::core::PeerMessage;
use crate::peer::{handshake_client, handshake_server, PeerKey};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};

/// Incoming peer messages waiting for the loop: a few heartbeats' worth.
const PEER_IN_CAPACITY: usize = 64;
/// A dial or a handshake step that takes longer than this has failed.
const CONNECT_TIMEOUT_MS: u64 = 1_000;
/// Pause between re-dials of a failed path.
const REDIAL_DELAY_MS: u64 = 200;

/// Starts the listeners and dialers; returns the receiving end of incoming messages.
pub async fn start(
    config: &Config,
    me: &str,
    out: &broadcast::Sender<PeerMessage>,
) -> Result<mpsc::Receiver<PeerMessage>, DaemonError> {
    let key = PeerKey::load(&config.peer_key_file).map_err(|e| DaemonError::Peer(e.to_string()))?;
    let cluster = config.cluster.get_ref().clone();
    // Received frames must keep arriving: a session quiet for three peer timeouts is dead.
    let idle = Duration::from_millis(3 * *config.timings.peer_timeout_ms.get_ref());
    let (tx, rx) = mpsc::channel(PEER_IN_CAPACITY);
    let own = config
        .node_named(me)
        .map(|n| n.peer_addresses.clone())
        .unwrap_or_default();
    for address in own {
        let address = address.get_ref().0;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| DaemonError::Io {
                what: "listen on the peer address",
                error: format!("{address}: {e}"),
            })?;
        tokio::spawn(listen(
            listener,
            key.clone(),
            cluster.clone(),
            idle,
            tx.clone(),
        ));
    }
    let theirs = config
        .peer_of(me)
        .map(|n| n.peer_addresses.clone())
        .unwrap_or_default();
    for address in theirs {
        let address = address.get_ref().0;
        tokio::spawn(dial(address, key.clone(), cluster.clone(), out.clone()));
    }
    Ok(rx)
}

async fn listen(
    listener: TcpListener,
    key: PeerKey,
    cluster: String,
    idle: Duration,
    tx: mpsc::Sender<PeerMessage>,
) {
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        let (key, cluster, tx) = (key.clone(), cluster.clone(), tx.clone());
        tokio::spawn(async move {
            let timeout = Duration::from_millis(CONNECT_TIMEOUT_MS);
            let mut session = match handshake_server(stream, &key, &cluster, timeout).await {
                Ok(session) => session,
                Err(error) => {
                    tracing::warn!(%from, %error, "peer link: refused a connection");
                    return;
                }
            };
            session.set_timeout(idle);
            tracing::info!(%from, "peer link: inbound path up");
            loop {
                match session.recv::<PeerMessage>().await {
                    Ok(message) => {
                        if tx.send(message).await.is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%from, %error, "peer link: inbound path down");
                        return;
                    }
                }
            }
        });
    }
}

async fn dial(
    address: SocketAddr,
    key: PeerKey,
    cluster: String,
    out: broadcast::Sender<PeerMessage>,
) {
    let timeout = Duration::from_millis(CONNECT_TIMEOUT_MS);
    let mut logged_down = false;
    loop {
        let connect = tokio::time::timeout(timeout, TcpStream::connect(address)).await;
        let session = match connect {
            Ok(Ok(stream)) => handshake_client(stream, &key, &cluster, timeout)
                .await
                .map_err(|e| e.to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("connect timed out".to_string()),
        };
        match session {
            Ok(mut session) => {
                tracing::info!(%address, "peer link: outbound path up");
                logged_down = false;
                let mut messages = out.subscribe();
                loop {
                    let message = match messages.recv().await {
                        Ok(message) => message,
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    if let Err(error) = session.send(&message).await {
                        tracing::warn!(%address, %error, "peer link: outbound path down");
                        break;
                    }
                }
            }
            Err(error) if !logged_down => {
                tracing::warn!(%address, %error, "peer link: cannot reach the peer");
                logged_down = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(REDIAL_DELAY_MS)).await;
    }
}
