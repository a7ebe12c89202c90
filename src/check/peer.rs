//! `tandem check`: does the peer's tandemd answer on each peer-link path, and authenticate?
//! One connect and the first half of the handshake per path ([`probe_server`]), each bounded
//! by the peer link's own handshake timeout.

use super::{fail, pass, risk, CheckLine};
use crate::config::Config;
use crate::daemon::peer_link::{LinkConfig, HANDSHAKE_TIMEOUT_MS};
use crate::peer::link::probe_server;
use crate::peer::LinkError;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpSocket;

/// Why a path did not authenticate.
#[derive(Debug)]
enum Probe {
    /// Nothing listens, or nothing answers: tandemd is not running there, or a firewall.
    NoAnswer(String),
    /// Something answered but the handshake failed.
    Refused(String),
}

/// One line per peer address; none when this host is not a node (already reported).
pub async fn lines(config: &Config, me: &str) -> Vec<CheckLine> {
    let Ok(link) = LinkConfig::from_config(config, me) else {
        return Vec::new();
    };
    let peer = link.identity.peer_name.clone();
    let mut lines = Vec::new();
    for (index, address) in link.peer_addresses.iter().enumerate() {
        let source = source_for(&link.own_addresses, index, *address);
        lines.push(match probe(&link, *address, source).await {
            Ok(()) => pass(format!(
                "peer link to {peer} at {address} answers and authenticates (same key, \
                 cluster and node names)"
            )),
            Err(Probe::NoAnswer(why)) => risk(format!(
                "peer link to {peer} at {address} does not answer ({why}): expected until \
                 tandemd runs there; otherwise start it there and let TCP port {} through \
                 the firewall from this node",
                address.port()
            )),
            Err(Probe::Refused(why)) => fail(format!(
                "peer link to {peer} at {address} answers but does not authenticate ({why}); \
                 compare `sha256sum /etc/tandem/peer.key` on both nodes and the cluster and \
                 [[node]] names of both configs, and read `journalctl -u tandemd` on {peer}"
            )),
        });
    }
    lines
}

/// This node's address of the same number as the peer's, as the daemon dials from: the peer
/// accepts connections only from this node's configured addresses.
fn source_for(own: &[SocketAddr], index: usize, peer: SocketAddr) -> Option<IpAddr> {
    let same_family = |address: &&SocketAddr| address.is_ipv4() == peer.is_ipv4();
    own.get(index)
        .filter(same_family)
        .or_else(|| own.iter().find(same_family))
        .map(SocketAddr::ip)
        .filter(|ip| !ip.is_unspecified())
}

async fn probe(
    link: &LinkConfig,
    address: SocketAddr,
    source: Option<IpAddr>,
) -> Result<(), Probe> {
    let timeout = Duration::from_millis(HANDSHAKE_TIMEOUT_MS);
    let socket = match address.is_ipv4() {
        true => TcpSocket::new_v4(),
        false => TcpSocket::new_v6(),
    }
    .map_err(|e| Probe::NoAnswer(format!("cannot create a socket: {e}")))?;
    if let Some(ip) = source {
        // The address may not exist here (a test host): then the kernel picks one.
        let _ = socket.bind(SocketAddr::new(ip, 0));
    }
    let stream = match tokio::time::timeout(timeout, socket.connect(address)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(Probe::NoAnswer(e.to_string())),
        Err(_) => {
            return Err(Probe::NoAnswer(format!(
                "no connection within {HANDSHAKE_TIMEOUT_MS} ms"
            )))
        }
    };
    probe_server(stream, &link.key, &link.identity, timeout)
        .await
        .map_err(|e: LinkError| Probe::Refused(e.to_string()))
}
