//! The outbound side: one task per peer address dials it, authenticates, and sends every
//! outgoing message on it until the path fails or the peer restarts, then dials again.

use super::{socket, Shared};
use crate::core::PeerMessage;
use crate::peer::hello::Instance;
use crate::peer::{handshake_client, Session};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{broadcast, watch};

/// Pause between re-dials of a failed path.
const REDIAL_DELAY_MS: u64 = 200;

/// The source address for the dial to the peer's address number `index`: this node's address
/// of the same number, else its first of the same family, else whatever the kernel picks. The
/// peer accepts connections only from this node's addresses, and on a host with several
/// addresses the kernel's pick need not be one of them. An unspecified own address (listening
/// on all) says nothing about the source.
pub(super) fn source_for(own: &[SocketAddr], index: usize, peer: SocketAddr) -> Option<IpAddr> {
    let same_family = |address: &&SocketAddr| address.is_ipv4() == peer.is_ipv4();
    own.get(index)
        .filter(same_family)
        .or_else(|| own.iter().find(same_family))
        .map(SocketAddr::ip)
        .filter(|ip| !ip.is_unspecified())
}

/// One path to the peer: its number in the config, the peer's address, the source to dial
/// from.
pub(super) struct Path {
    pub index: usize,
    pub address: SocketAddr,
    pub source: Option<IpAddr>,
}

/// Dials the path forever; returns when the loop stops sending (`out` is closed).
pub(super) async fn dial(path: Path, shared: Arc<Shared>, out: broadcast::Sender<PeerMessage>) {
    let Path {
        index,
        address,
        source,
    } = path;
    let mut logged_down = false;
    let mut restarts = shared.peer_instance.subscribe();
    loop {
        match connect(address, source, &shared).await {
            Ok((session, socket)) => {
                tracing::info!(%address, "peer link: outbound path up");
                logged_down = false;
                let measure = Measure {
                    paths: &shared.paths,
                    index,
                    socket,
                };
                let ended = send_all(session, &out, &mut restarts, &measure).await;
                shared.paths.set(index, false, None);
                match ended {
                    Ended::Closed => return,
                    Ended::Failed(error) => {
                        tracing::warn!(%address, %error, "peer link: outbound path down");
                    }
                    Ended::PeerRestarted => {
                        tracing::info!(%address, "peer link: the peer restarted; re-dialling");
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

/// Connects from `source` with the dead-peer socket options set, and authenticates. Also
/// returns a duplicate of the socket, to read its round-trip time while the session runs.
async fn connect(
    address: SocketAddr,
    source: Option<IpAddr>,
    shared: &Shared,
) -> Result<(Session, Option<OwnedFd>), String> {
    let link = &shared.link;
    let timeout = Duration::from_millis(link.handshake_timeout_ms);
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| format!("cannot create a socket: {e}"))?;
    if let Some(ip) = source {
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("cannot bind the source address {ip}: {e}"))?;
    }
    socket::configure_or_log(&socket, link.peer_timeout_ms);
    let stream: TcpStream = match tokio::time::timeout(timeout, socket.connect(address)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("connect timed out".to_string()),
    };
    let socket = stream.as_fd().try_clone_to_owned().ok();
    let session = handshake_client(stream, &link.key, &link.identity, timeout)
        .await
        .map_err(|e| e.to_string())?;
    Ok((session, socket))
}

/// Where a session reports its path's health.
struct Measure<'a> {
    paths: &'a super::PathStats,
    index: usize,
    socket: Option<OwnedFd>,
}

impl Measure<'_> {
    fn up(&self) {
        let rtt = self
            .socket
            .as_ref()
            .and_then(super::paths::round_trip_seconds);
        self.paths.set(self.index, true, rtt);
    }
}

/// Why a session stopped sending.
enum Ended {
    /// The loop is gone: nothing more to send, ever.
    Closed,
    Failed(crate::peer::LinkError),
    /// An inbound session showed a peer instance this session is not with.
    PeerRestarted,
}

/// Sends every outgoing message until the session fails, the peer restarts, or `out` closes.
async fn send_all(
    mut session: Session,
    out: &broadcast::Sender<PeerMessage>,
    restarts: &mut watch::Receiver<Option<Instance>>,
    measure: &Measure<'_>,
) -> Ended {
    let mut messages = out.subscribe();
    let connected_to = session.peer_instance();
    loop {
        measure.up();
        let message = tokio::select! {
            message = messages.recv() => message,
            () = peer_restarted(restarts, connected_to) => return Ended::PeerRestarted,
        };
        let message = match message {
            Ok(message) => message,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return Ended::Closed,
        };
        if let Err(error) = session.send(&message).await {
            return Ended::Failed(error);
        }
    }
}

/// Resolves once the listener saw a peer instance other than `connected_to`. Cancel-safe: a
/// change is marked seen only when it is acted on here.
async fn peer_restarted(restarts: &mut watch::Receiver<Option<Instance>>, connected_to: Instance) {
    loop {
        let restarted = matches!(*restarts.borrow_and_update(), Some(seen) if seen != connected_to);
        if restarted {
            return;
        }
        if restarts.changed().await.is_err() {
            // The sender lives as long as the link's shared state, which this task holds;
            // should it go anyway, there is nothing more to learn.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().expect("address")).collect()
    }

    #[test]
    fn each_path_dials_from_this_nodes_matching_address() {
        let own = addresses(&["10.0.0.1:7800", "10.1.0.1:7800"]);
        let peer = addresses(&["10.0.0.2:7800", "10.1.0.2:7800", "10.2.0.2:7800"]);
        let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
        assert_eq!(source_for(&own, 0, peer[0]), ip("10.0.0.1"));
        assert_eq!(source_for(&own, 1, peer[1]), ip("10.1.0.1"));
        assert_eq!(
            source_for(&own, 2, peer[2]),
            ip("10.0.0.1"),
            "no third: the first"
        );
        let v6: SocketAddr = "[fd00::2]:7800".parse().expect("v6");
        assert_eq!(source_for(&own, 0, v6), None, "no IPv6 address of its own");
        let any = addresses(&["0.0.0.0:7800"]);
        assert_eq!(source_for(&any, 0, peer[0]), None, "listening on all");
    }
}
