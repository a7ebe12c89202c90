//! The inbound side: accept, refuse strangers early, authenticate, pass messages on.
//!
//! A connection is checked in order of cost: its source address first (nothing is read from
//! a connection that does not come from one of the peer's addresses), then a free handshake
//! slot, then the handshake. Every refusal closes the connection without a word and is
//! counted in [`Refusals`](super::Refusals); no message of a refused connection ever reaches
//! the loop.

use super::{socket, Shared};
use crate::core::PeerMessage;
use crate::peer::hello::Instance;
use crate::peer::{handshake_server, LinkError};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;

/// Connections in the handshake at once, over all listeners. Each holds a task, a socket and
/// a buffer before it has proven anything, for up to the handshake timeout. The peer needs one
/// per path and re-dials a failed path only every few hundred ms, so 8 is plenty; the bound
/// keeps a flood of silent connections from exhausting tasks and file descriptors. A
/// connection over the bound is closed at once.
pub const MAX_HANDSHAKING_CONNECTIONS: usize = 8;

/// The first pause after `accept()` fails. It fails mostly for lack of file descriptors
/// (EMFILE, ENFILE) or memory, and retrying at once would spin a core without freeing either.
const ACCEPT_BACKOFF_FIRST_MS: u64 = 10;
/// The pause doubles per consecutive failure up to this, so a link that recovers is served
/// again within a second.
const ACCEPT_BACKOFF_MAX_MS: u64 = 1_000;

/// A received session that stays quiet for this many peer timeouts is dead.
const IDLE_PEER_TIMEOUTS: u64 = 3;

/// Accepts forever, backing off while `accept()` fails.
pub(super) async fn listen(listener: TcpListener, shared: Arc<Shared>) {
    let mut backoff_ms = 0;
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                backoff_ms = 0;
                admit(stream, from, &shared);
            }
            Err(error) => {
                backoff_ms = next_backoff_ms(backoff_ms);
                shared.refusals.accept_failed(&error, backoff_ms);
                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
            }
        }
    }
}

/// The pause after one more consecutive failed accept.
fn next_backoff_ms(current_ms: u64) -> u64 {
    current_ms
        .saturating_mul(2)
        .clamp(ACCEPT_BACKOFF_FIRST_MS, ACCEPT_BACKOFF_MAX_MS)
}

/// Address check and handshake slot; the stream is dropped (closed) on refusal.
fn admit(stream: TcpStream, from: SocketAddr, shared: &Arc<Shared>) {
    if let Err(error) = check_source(from, &shared.allowed_sources) {
        shared.refusals.refuse(from, &error);
        return;
    }
    let Ok(permit) = shared.handshakes.clone().try_acquire_owned() else {
        let busy = LinkError::Busy {
            limit: MAX_HANDSHAKING_CONNECTIONS,
        };
        shared.refusals.refuse(from, &busy);
        return;
    };
    socket::configure_or_log(&stream, shared.link.peer_timeout_ms);
    tokio::spawn(inbound(stream, from, permit, shared.clone()));
}

/// Only the configured peer's addresses may connect. IPv4-mapped IPv6 sources (a dual-stack
/// listener) count as the IPv4 address they carry.
pub(super) fn check_source(from: SocketAddr, allowed: &[IpAddr]) -> Result<(), LinkError> {
    let address = from.ip().to_canonical();
    if allowed.contains(&address) {
        return Ok(());
    }
    Err(LinkError::UnknownAddress {
        address,
        allowed: allowed.to_vec(),
    })
}

/// Authenticates one connection, then passes its messages to the loop until it fails.
async fn inbound(
    stream: TcpStream,
    from: SocketAddr,
    permit: OwnedSemaphorePermit,
    shared: Arc<Shared>,
) {
    let link = &shared.link;
    let timeout = Duration::from_millis(link.handshake_timeout_ms);
    let handshake = handshake_server(stream, &link.key, &link.identity, timeout).await;
    drop(permit);
    let mut session = match handshake {
        Ok(session) => session,
        Err(error) => {
            shared.refusals.refuse(from, &error);
            return;
        }
    };
    let idle_ms = link.peer_timeout_ms.saturating_mul(IDLE_PEER_TIMEOUTS);
    session.set_timeout(Duration::from_millis(idle_ms));
    tracing::info!(%from, "peer link: inbound path up");
    note_peer_instance(&shared, session.peer_instance());
    let mut last_heard = std::time::Instant::now();
    loop {
        match session.recv::<PeerMessage>().await {
            Ok(message) => {
                let gap_ms = u64::try_from(last_heard.elapsed().as_millis()).unwrap_or(u64::MAX);
                last_heard = std::time::Instant::now();
                shared.paths.record_gap(gap_ms, link.peer_timeout_ms);
                if shared.incoming.send(message).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(%from, %error, "peer link: inbound path down");
                return;
            }
        }
    }
}

/// Publishes the peer's instance to the dialers when it is new.
fn note_peer_instance(shared: &Shared, instance: Instance) {
    shared.peer_instance.send_if_modified(|seen| {
        if *seen == Some(instance) {
            return false;
        }
        if seen.is_some() {
            tracing::info!("peer link: the peer daemon restarted");
        }
        *seen = Some(instance);
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_up_to_its_bound() {
        let mut backoff_ms = 0;
        let mut seen = Vec::new();
        for _ in 0..10 {
            backoff_ms = next_backoff_ms(backoff_ms);
            seen.push(backoff_ms);
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 320, 640, 1_000, 1_000, 1_000]);
    }

    #[test]
    fn only_the_peers_addresses_may_connect() {
        let allowed: Vec<IpAddr> = vec!["10.0.0.2".parse().expect("ip")];
        let peer: SocketAddr = "10.0.0.2:40000".parse().expect("addr");
        assert!(check_source(peer, &allowed).is_ok());
        let mapped: SocketAddr = "[::ffff:10.0.0.2]:40000".parse().expect("addr");
        assert!(check_source(mapped, &allowed).is_ok());
        let stranger: SocketAddr = "10.0.0.9:40000".parse().expect("addr");
        let refused = check_source(stranger, &allowed).expect_err("stranger");
        assert_eq!(
            refused.to_string(),
            "refused a connection from 10.0.0.9: not one of the peer's addresses (10.0.0.2)"
        );
        assert_eq!(refused.reason(), "unknown-address");
    }
}
