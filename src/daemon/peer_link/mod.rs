//! The peer link as the daemon runs it. Each node listens on its own peer addresses and
//! receives the peer's messages there; it connects to every one of the peer's addresses and
//! sends each of its messages on every path. A path that fails is re-dialled; the core, not
//! the link, decides when the peer counts as silent.
//!
//! - [`listen`]: accepts only connections from the peer's addresses, at most
//!   [`MAX_HANDSHAKING_CONNECTIONS`] unauthenticated ones at once, backs off when `accept()`
//!   fails, and hands the messages of authenticated sessions to the loop.
//! - [`dial`]: one task per peer address: dials from this node's matching address, sends
//!   every outgoing message, re-dials when the path fails or the peer restarted.
//! - [`socket`]: TCP options that make a dead peer's socket fail within the peer timeout.
//! - [`refusals`]: refusals counted by reason and logged at most once per interval.

mod dial;
mod listen;
mod paths;
mod refusals;
mod socket;

pub use listen::MAX_HANDSHAKING_CONNECTIONS;
pub use paths::PathStats;
pub use refusals::{Refusals, REFUSAL_LOG_INTERVAL_MS};

use super::error::DaemonError;
use crate::config::Config;
use crate::core::PeerMessage;
use crate::peer::auth::fresh_nonce;
use crate::peer::hello::Instance;
use crate::peer::{Identity, PeerKey};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch, Semaphore};

/// Incoming peer messages waiting for the loop: a few heartbeats' worth.
const PEER_IN_CAPACITY: usize = 64;
/// A dial or a handshake step that takes longer than this has failed.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 1_000;

/// What the peer link needs, taken from the config once at start.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub key: PeerKey,
    /// The names this node sends in HELLO and checks in the peer's.
    pub identity: Identity,
    /// Where this node listens. Address i is also the source of the dial to the peer's
    /// address i, so that the peer sees this node's connections come from its addresses.
    pub own_addresses: Vec<SocketAddr>,
    /// Where the peer listens; their IPs are the only sources this node accepts.
    pub peer_addresses: Vec<SocketAddr>,
    /// Bounds how long sent data may stay unacknowledged (TCP_USER_TIMEOUT): after that the
    /// peer counts as silent anyway, so the socket is given up and re-dialled. Received
    /// frames must arrive within three of it, or the inbound session is dropped.
    pub peer_timeout_ms: u64,
    /// A connect or one handshake step that takes longer has failed. A connection that sends
    /// no valid HELLO holds its handshake slot for at most this long.
    pub handshake_timeout_ms: u64,
}

impl LinkConfig {
    /// The link of node `me`: its own and its peer's names and addresses, the key, and a fresh
    /// instance id for this start.
    pub fn from_config(config: &Config, me: &str) -> Result<LinkConfig, DaemonError> {
        let settings = &config.settings;
        let not_a_node = || DaemonError::NotANode {
            me: me.to_string(),
            nodes: settings.node_names().join(", "),
        };
        let own = settings.node(me).ok_or_else(not_a_node)?;
        let peer = settings.peer_of(me).ok_or_else(not_a_node)?;
        let key =
            PeerKey::load(&config.peer_key_file).map_err(|e| DaemonError::Peer(e.to_string()))?;
        let instance = fresh_nonce().map_err(|e| {
            DaemonError::Peer(format!("no randomness for the peer-link instance id: {e}"))
        })?;
        Ok(LinkConfig {
            key,
            identity: Identity {
                cluster: settings.cluster.clone(),
                own_name: own.name.clone(),
                peer_name: peer.name.clone(),
                instance,
            },
            own_addresses: own.peer_addresses.clone(),
            peer_addresses: peer.peer_addresses.clone(),
            peer_timeout_ms: settings.peer_timeout_ms,
            handshake_timeout_ms: HANDSHAKE_TIMEOUT_MS,
        })
    }
}

/// A running peer link, as the loop sees it.
#[derive(Debug)]
pub struct Link {
    /// Messages of authenticated sessions with the configured peer, and nothing else.
    pub incoming: mpsc::Receiver<PeerMessage>,
    /// Refused inbound connections, by reason.
    pub refusals: Refusals,
    /// Each outbound path's session and round-trip time (metrics).
    pub paths: PathStats,
}

/// State the listeners and dialers share.
struct Shared {
    link: LinkConfig,
    /// The IPs of the peer's addresses: the only sources a connection is accepted from.
    allowed_sources: Vec<IpAddr>,
    /// One permit per connection in the handshake; see [`MAX_HANDSHAKING_CONNECTIONS`].
    handshakes: Arc<Semaphore>,
    refusals: Refusals,
    /// The peer's instance as the newest inbound session showed it. Dialers watch it: a new
    /// value they are not connected to means the peer restarted, and their session is stale.
    peer_instance: watch::Sender<Option<Instance>>,
    incoming: mpsc::Sender<PeerMessage>,
    paths: PathStats,
}

/// Binds this node's peer addresses and starts the link.
pub async fn start(
    link: LinkConfig,
    out: &broadcast::Sender<PeerMessage>,
) -> Result<Link, DaemonError> {
    let mut listeners = Vec::with_capacity(link.own_addresses.len());
    for &address in &link.own_addresses {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| DaemonError::Io {
                what: "listen on the peer address",
                error: format!("{address}: {e}"),
            })?;
        listeners.push(listener);
    }
    Ok(serve(link, listeners, out))
}

/// Starts the link on listeners already bound (tests bind port 0): one task per listener and
/// one dialer per peer address. Messages sent on `out` go to the peer on every path.
pub fn serve(
    link: LinkConfig,
    listeners: Vec<TcpListener>,
    out: &broadcast::Sender<PeerMessage>,
) -> Link {
    let (incoming_tx, incoming) = mpsc::channel(PEER_IN_CAPACITY);
    let mut allowed_sources: Vec<IpAddr> = link
        .peer_addresses
        .iter()
        .map(|address| address.ip().to_canonical())
        .collect();
    allowed_sources.sort();
    allowed_sources.dedup();
    let refusals = Refusals::default();
    let paths = PathStats::new(&link.peer_addresses);
    let shared = Arc::new(Shared {
        link,
        allowed_sources,
        handshakes: Arc::new(Semaphore::new(MAX_HANDSHAKING_CONNECTIONS)),
        refusals: refusals.clone(),
        peer_instance: watch::Sender::new(None),
        incoming: incoming_tx,
        paths: paths.clone(),
    });
    for listener in listeners {
        tokio::spawn(listen::listen(listener, shared.clone()));
    }
    for (index, &address) in shared.link.peer_addresses.iter().enumerate() {
        let source = dial::source_for(&shared.link.own_addresses, index, address);
        let path = dial::Path {
            index,
            address,
            source,
        };
        tokio::spawn(dial::dial(path, shared.clone(), out.clone()));
    }
    Link {
        incoming,
        refusals,
        paths,
    }
}
