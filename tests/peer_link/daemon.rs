//! The daemon's peer link (listeners and dialers) on loopback: node a on 127.0.0.1, node b on
//! 127.0.0.2, strangers on 127.0.0.3. Every wait is for progress (a message, a count, a
//! closed socket), bounded by [`PATIENCE`].

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use tandem::core::PeerMessage;
use tandem::daemon::peer_link::{
    serve as serve_link, Link, LinkConfig, HANDSHAKE_TIMEOUT_MS, MAX_HANDSHAKING_CONNECTIONS,
};
use tokio::net::TcpSocket;
use tokio::sync::broadcast;
use tokio::sync::mpsc::error::TryRecvError;

/// Generous: only reached when a test fails.
const PATIENCE: Duration = Duration::from_secs(20);
const A_IP: &str = "127.0.0.1";
const B_IP: &str = "127.0.0.2";
const STRANGER_IP: &str = "127.0.0.3";

async fn listener_on(ip: &str) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

fn link_config(me: Identity, own: SocketAddr, peer: SocketAddr) -> LinkConfig {
    LinkConfig {
        key: key(),
        identity: me,
        own_addresses: vec![own],
        peer_addresses: vec![peer],
        peer_timeout_ms: 1_000,
        handshake_timeout_ms: HANDSHAKE_TIMEOUT_MS,
    }
}

/// A running link; it sends a message every 20 ms for as long as the test runs, so that
/// each path has something to carry.
struct Node {
    link: Link,
}

fn start(config: LinkConfig, listener: TcpListener) -> Node {
    let (out, _) = broadcast::channel(64);
    let link = serve_link(config, vec![listener], &out);
    tokio::spawn(async move {
        for call in 0.. {
            let _ = out.send(PeerMessage::OutdateRequest { call });
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    Node { link }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn next_message(node: &mut Node, what: &str) -> PeerMessage {
    tokio::time::timeout(PATIENCE, node.link.incoming.recv())
        .await
        .unwrap_or_else(|_| panic!("no message for {what}"))
        .expect("link running")
}

async fn connect_from(ip: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(ip.parse().expect("ip"), 0))
        .expect("bind source");
    socket.connect(to).await.expect("connect")
}

#[tokio::test]
async fn a_connection_looped_back_to_its_own_listener_is_refused_and_reaches_nothing() {
    // Node a's peer address points back at a's own listener: a dials itself with its own key
    // and name, from an address its listener accepts.
    let (listener, addr_a) = listener_on(A_IP).await;
    let mut a = start(link_config(as_a(), addr_a, addr_a), listener);
    wait_until("three refused self-connections", || {
        if let Ok(message) = a.link.incoming.try_recv() {
            panic!("a message from the node itself reached its core: {message:?}");
        }
        a.link.refusals.count("self-connection") >= 3
    })
    .await;
    assert_eq!(a.link.incoming.try_recv(), Err(TryRecvError::Empty));
}

#[tokio::test]
async fn a_connection_from_an_address_not_the_peers_is_refused_unread() {
    let (listener, addr_b) = listener_on(B_IP).await;
    let (_a_listener, addr_a) = listener_on(A_IP).await;
    let mut b = start(link_config(as_b(), addr_b, addr_a), listener);
    // The right key and the peer's name, from a third address: refused before the handshake.
    let stranger = connect_from(STRANGER_IP, addr_b).await;
    match handshake_client(stranger, &key(), &as_a(), TIMEOUT).await {
        // Closed with the HELLO unread: a reset, or an end of file if it had not arrived yet.
        Err(LinkError::Closed { .. }) => {}
        Err(LinkError::Io { error, .. }) if error.kind() == std::io::ErrorKind::ConnectionReset => {
        }
        other => panic!("expected the connection closed, got {other:?}"),
    }
    assert_eq!(b.link.refusals.count("unknown-address"), 1);
    assert_eq!(b.link.refusals.count("busy"), 0);
    // The same from a's address is let in, and its messages arrive.
    let peer = connect_from(A_IP, addr_b).await;
    let mut session = handshake_client(peer, &key(), &as_a(), TIMEOUT)
        .await
        .expect("from the peer's address");
    assert_eq!(b.link.incoming.try_recv(), Err(TryRecvError::Empty));
    session.send(&PeerMessage::Handover).await.expect("send");
    assert_eq!(
        next_message(&mut b, "a's Handover").await,
        PeerMessage::Handover
    );
}

/// True once the peer closed `stream` (end of file or reset); false while it stays open.
fn closed(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.try_read(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("the listener wrote to an unauthenticated connection"),
        Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[tokio::test]
async fn silent_connections_beyond_the_cap_are_closed_at_once_and_the_peer_still_gets_in() {
    let (listener, addr_b) = listener_on(B_IP).await;
    let (a_listener, addr_a) = listener_on(A_IP).await;
    // Long enough that the silent connections are surely still waiting when the extra one
    // is closed, however loaded the machine.
    let mut config = link_config(as_b(), addr_b, addr_a);
    config.handshake_timeout_ms = 5_000;
    let mut b = start(config, listener);
    let mut silent = Vec::new();
    for _ in 0..MAX_HANDSHAKING_CONNECTIONS {
        silent.push(connect_from(A_IP, addr_b).await);
    }
    let extra = connect_from(A_IP, addr_b).await;
    tokio::time::timeout(PATIENCE, async {
        while !closed(&extra) {
            extra.readable().await.expect("readable");
        }
    })
    .await
    .expect("the connection over the cap is closed");
    assert!(
        silent.iter().all(|stream| !closed(stream)),
        "closed for the cap, not by the handshake timeout"
    );
    assert_eq!(b.link.refusals.count("busy"), 1);

    // The honest peer is refused while the slots are taken, and gets in once the silent
    // connections time out.
    let _a = start(link_config(as_a(), addr_a, addr_b), a_listener);
    next_message(&mut b, "a's messages").await;
    assert!(silent.iter().all(closed), "timed out by now");
    assert!(b.link.refusals.count("timeout") >= MAX_HANDSHAKING_CONNECTIONS as u64);
}

/// Relays connections to `old` until `frozen` is set; from then on it swallows what arrives
/// on them and keeps them open, and relays new connections to `new`. A frozen connection is a
/// stale session that no socket option can end: sends keep succeeding.
async fn switching_proxy(old: SocketAddr, new: SocketAddr, frozen: Arc<AtomicBool>) -> SocketAddr {
    let (listener, addr) = listener_on(B_IP).await;
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let to_old = !frozen.load(Ordering::SeqCst);
            let server = connect_from(A_IP, if to_old { old } else { new }).await;
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let swallow = to_old.then(|| frozen.clone());
            tokio::spawn(relay(client_read, server_write, swallow));
            tokio::spawn(relay(server_read, client_write, None));
        }
    });
    addr
}

async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    swallow: Option<Arc<AtomicBool>>,
) {
    let mut buffer = [0u8; 4096];
    loop {
        let length = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(length) => length,
        };
        if swallow
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::SeqCst))
        {
            continue;
        }
        if to.write_all(&buffer[..length]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_restarted_peer_makes_the_dialer_leave_its_stale_session() {
    let (a_listener, addr_a) = listener_on(A_IP).await;
    let (b1_listener, addr_b1) = listener_on(B_IP).await;
    let (b2_listener, addr_b2) = listener_on(B_IP).await;
    let frozen = Arc::new(AtomicBool::new(false));
    let addr_b = switching_proxy(addr_b1, addr_b2, frozen.clone()).await;
    let mut b1 = start(link_config(as_b(), addr_b1, addr_a), b1_listener);
    let _a = start(link_config(as_a(), addr_a, addr_b), a_listener);
    next_message(&mut b1, "a's messages to the first b").await;

    // The first b goes silent without closing anything; a second start of b (another
    // instance, same name and key) comes up and dials a.
    frozen.store(true, Ordering::SeqCst);
    let restarted = Identity {
        instance: [0xb2; 16],
        ..as_b()
    };
    let mut b2 = start(link_config(restarted, addr_b2, addr_a), b2_listener);
    next_message(&mut b2, "a's messages to the restarted b").await;
}
