//! The peer link on loopback only (127.0.0.0/8, port 0): handshake, messages both ways, and
//! refusals of wrong keys, other clusters, other versions, replays, frames from other sessions,
//! altered bytes and oversize lengths. A small frame-aware proxy in the middle captures,
//! duplicates, alters or replaces frames, as an attacker on the path could.
//!
//! - [`proxy`]: the attacker on the path; [`fuzz`]: arbitrary bytes.
//! - [`identity`]: node names in HELLO: self-connections, wrong peers, wrong receivers.
//! - [`daemon`]: the daemon's link (listeners and dialers) on loopback: source addresses, the
//!   handshake cap, a connection looped back to its own listener, a peer restart.

mod daemon;
mod fuzz;
mod identity;
mod proxy;

use proxy::{pass_through, proxy, sent, through_proxy, Rule, Way};

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tandem::peer::auth::{Direction, SessionId};
use tandem::peer::frame::PROTOCOL_VERSION;
use tandem::peer::frame::{self, FrameError, HEADER_BYTES, MAX_FRAME_PAYLOAD_BYTES};
use tandem::peer::hello::Hello;
use tandem::peer::{
    handshake_client, handshake_server, Identity, LinkError, PeerKey, Session, Stage,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Generous: only reached when a test is broken, never waited for on success.
const TIMEOUT: Duration = Duration::from_secs(5);
const CLUSTER: &str = "prod";
/// The client's node in these tests, dialling node B.
const A: &str = "a";
const B: &str = "b";
const TAG_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Message {
    Heartbeat { term: u64 },
    Role { role: String },
}

fn key() -> PeerKey {
    PeerKey::from_bytes(&[0x42; 32]).expect("key")
}

fn other_key() -> PeerKey {
    PeerKey::from_bytes(&[0x43; 32]).expect("key")
}

/// Node `own` of cluster `cluster`, whose peer is `peer`.
fn identity(cluster: &str, own: &str, peer: &str) -> Identity {
    Identity {
        cluster: cluster.to_owned(),
        own_name: own.to_owned(),
        peer_name: peer.to_owned(),
        instance: [own.bytes().next().unwrap_or(0); 16],
    }
}

/// Node A, the client in most tests.
fn as_a() -> Identity {
    identity(CLUSTER, A, B)
}

/// Node B, the server in most tests.
fn as_b() -> Identity {
    identity(CLUSTER, B, A)
}

async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

/// Accepts `count` connections in turn and runs the server handshake of node B on each.
fn serve(
    listener: TcpListener,
    key: PeerKey,
    count: usize,
) -> JoinHandle<Vec<Result<Session, LinkError>>> {
    serve_as(listener, key, as_b(), count)
}

/// Like [`serve`], as `server`.
fn serve_as(
    listener: TcpListener,
    key: PeerKey,
    server: Identity,
    count: usize,
) -> JoinHandle<Vec<Result<Session, LinkError>>> {
    tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..count {
            let (stream, _) = listener.accept().await.expect("accept");
            outcomes.push(handshake_server(stream, &key, &server, TIMEOUT).await);
        }
        outcomes
    })
}

async fn connect(addr: SocketAddr, key: &PeerKey, client: &Identity) -> Result<Session, LinkError> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    handshake_client(stream, key, client, TIMEOUT).await
}

async fn pair() -> (Session, Session) {
    let (listener, addr) = bind().await;
    let server = serve(listener, key(), 1);
    let client = connect(addr, &key(), &as_a()).await.expect("client");
    let server = server.await.expect("join").pop().expect("one outcome");
    (client, server.expect("server"))
}

fn heartbeat(term: u64) -> Message {
    Message::Heartbeat { term }
}

fn frame_error(outcome: Result<impl std::fmt::Debug, LinkError>) -> FrameError {
    let error = outcome.expect_err("refused");
    error
        .frame_error()
        .cloned()
        .unwrap_or_else(|| panic!("not a frame error: {error:?}"))
}

fn assert_closed_during_handshake(outcome: Result<Session, LinkError>) {
    match outcome {
        Err(LinkError::Closed {
            stage: Stage::Handshake,
        }) => {}
        other => panic!("expected the server to close the handshake, got {other:?}"),
    }
}

#[tokio::test]
async fn messages_round_trip_both_ways() {
    let (mut client, mut server) = pair().await;
    assert_eq!(client.id(), server.id());
    for term in 0..3 {
        client.send(&heartbeat(term)).await.expect("send");
        assert_eq!(
            server.recv::<Message>().await.expect("recv"),
            heartbeat(term)
        );
        let role = Message::Role {
            role: format!("Secondary {term}"),
        };
        server.send(&role).await.expect("send");
        assert_eq!(client.recv::<Message>().await.expect("recv"), role);
    }
    // The halves work at the same time.
    let (mut reader, mut writer) = client.into_split();
    let echo = tokio::spawn(async move {
        for _ in 0..5 {
            let message: Message = server.recv().await.expect("recv");
            server.send(&message).await.expect("send");
        }
    });
    for term in 10..15 {
        writer.send(&heartbeat(term)).await.expect("send");
    }
    for term in 10..15 {
        assert_eq!(
            reader.recv::<Message>().await.expect("recv"),
            heartbeat(term)
        );
    }
    echo.await.expect("echo");
}

#[tokio::test]
async fn receive_timeout_leaves_the_session_usable() {
    let (mut client, mut server) = pair().await;
    client.set_timeout(Duration::from_millis(50));
    let waited = client.recv::<Message>().await.expect_err("nothing sent");
    assert!(
        matches!(
            waited,
            LinkError::Timeout {
                stage: Stage::Receive,
                timeout_ms: 50
            }
        ),
        "{waited:?}"
    );
    server.send(&heartbeat(1)).await.expect("send");
    client.set_timeout(TIMEOUT);
    assert_eq!(client.recv::<Message>().await.expect("recv"), heartbeat(1));
}

#[tokio::test]
async fn wrong_key_fails_both_sides_and_the_server_sends_nothing() {
    let (client, server, wire) = through_proxy(pass_through(), &other_key(), &as_a()).await;
    assert_eq!(frame_error(server), FrameError::BadTag);
    assert_closed_during_handshake(client);
    assert_eq!(sent(&wire, Way::ToServer), 1, "the client's HELLO");
    assert_eq!(sent(&wire, Way::ToClient), 0, "not a byte back");
}

#[tokio::test]
async fn wrong_cluster_is_refused_without_a_reply() {
    let (client, server, wire) =
        through_proxy(pass_through(), &key(), &identity("staging", A, B)).await;
    match server {
        Err(LinkError::ClusterMismatch { ours, theirs }) => {
            assert_eq!((ours.as_str(), theirs.as_str()), (CLUSTER, "staging"));
        }
        other => panic!("expected ClusterMismatch, got {other:?}"),
    }
    assert_closed_during_handshake(client);
    assert_eq!(sent(&wire, Way::ToClient), 0);
}

#[tokio::test]
async fn other_protocol_version_is_refused() {
    let rule: Rule = Arc::new(|_, way, index, mut frame| {
        if way == Way::ToServer && index == 0 {
            frame[4] = 1;
        }
        vec![frame]
    });
    let (client, server, wire) = through_proxy(rule, &key(), &as_a()).await;
    assert_eq!(
        frame_error(server),
        FrameError::UnsupportedVersion { got: 1 },
        "version 1 had no node names in HELLO"
    );
    assert_closed_during_handshake(client);
    assert_eq!(sent(&wire, Way::ToClient), 0);
}

/// Runs a handshake through a proxy that applies `rule` only to the client's first MESSAGE
/// (frame 2 towards the server), sends one heartbeat, and returns what the server receives.
async fn first_message_through(rule: Rule) -> (Result<Message, LinkError>, Session) {
    let (client, server, _) = through_proxy(rule, &key(), &as_a()).await;
    let (mut client, mut server) = (client.expect("client"), server.expect("server"));
    client.send(&heartbeat(1)).await.expect("send");
    (server.recv::<Message>().await, server)
}

#[tokio::test]
async fn replayed_frame_on_the_same_connection_is_refused() {
    let rule: Rule = Arc::new(|_, way, index, frame| match (way, index) {
        (Way::ToServer, 2) => vec![frame.clone(), frame],
        _ => vec![frame],
    });
    let (first, mut server) = first_message_through(rule).await;
    assert_eq!(first.expect("the original"), heartbeat(1));
    let replayed = server.recv::<Message>().await;
    assert_eq!(
        frame_error(replayed),
        FrameError::Replay {
            counter: 2,
            last: 2
        }
    );
    assert!(matches!(
        server.recv::<Message>().await,
        Err(LinkError::Broken)
    ));
}

#[tokio::test]
async fn flipped_bit_is_a_bad_tag() {
    let rule: Rule = Arc::new(|_, way, index, mut frame| {
        if (way, index) == (Way::ToServer, 2) {
            frame[HEADER_BYTES + 3] ^= 0x04;
        }
        vec![frame]
    });
    let (received, _) = first_message_through(rule).await;
    assert_eq!(frame_error(received), FrameError::BadTag);
}

#[tokio::test]
async fn oversize_length_is_refused_from_the_header_alone() {
    let rule: Rule = Arc::new(|_, way, index, frame| {
        if (way, index) != (Way::ToServer, 2) {
            return vec![frame];
        }
        let mut header = frame[..HEADER_BYTES].to_vec();
        header[6..10].copy_from_slice(&u32::MAX.to_be_bytes());
        vec![header]
    });
    let (received, _) = first_message_through(rule).await;
    assert_eq!(
        frame_error(received),
        FrameError::TooLong {
            len: u64::from(u32::MAX)
        },
        "refused at once, not after waiting for 4 GiB"
    );
}

#[tokio::test]
async fn frame_from_another_session_is_a_bad_tag() {
    let captured: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let store = captured.clone();
    let rule: Rule = Arc::new(move |connection, way, index, frame| {
        if (way, index) != (Way::ToServer, 2) {
            return vec![frame];
        }
        let mut captured = store.lock().expect("captured");
        match connection {
            0 => {
                *captured = Some(frame.clone());
                vec![frame]
            }
            _ => vec![captured.clone().expect("captured on the first connection")],
        }
    });
    let (listener, upstream) = bind().await;
    let server = serve(listener, key(), 2);
    let (addr, _) = proxy(upstream, rule).await;
    let mut first = connect(addr, &key(), &as_a()).await.expect("first");
    first.send(&heartbeat(1)).await.expect("send");
    let mut second = connect(addr, &key(), &as_a()).await.expect("second");
    second.send(&heartbeat(2)).await.expect("send");

    let mut servers = server.await.expect("join").into_iter();
    let mut server_one = servers.next().expect("one").expect("handshake one");
    let mut server_two = servers.next().expect("two").expect("handshake two");
    assert_ne!(server_one.id(), server_two.id());
    assert_eq!(
        server_one.recv::<Message>().await.expect("recv"),
        heartbeat(1)
    );
    // Same counter, valid for the first session: only the session id in the tag differs.
    assert_eq!(
        frame_error(server_two.recv::<Message>().await),
        FrameError::BadTag
    );
}

#[tokio::test]
async fn frame_reflected_back_to_its_sender_is_a_bad_tag() {
    let captured: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let store = captured.clone();
    let rule: Rule = Arc::new(move |_, way, index, frame| match (way, index) {
        // The client's first MESSAGE carries counter 2, as the server's second one does.
        (Way::ToServer, 2) => {
            *store.lock().expect("captured") = Some(frame.clone());
            vec![frame]
        }
        (Way::ToClient, 2) => vec![store.lock().expect("captured").clone().expect("captured")],
        _ => vec![frame],
    });
    let (client, server, _) = through_proxy(rule, &key(), &as_a()).await;
    let (mut client, mut server) = (client.expect("client"), server.expect("server"));
    client.send(&heartbeat(7)).await.expect("send");
    assert_eq!(server.recv::<Message>().await.expect("recv"), heartbeat(7));
    server.send(&heartbeat(1)).await.expect("send");
    server.send(&heartbeat(2)).await.expect("send");
    assert_eq!(client.recv::<Message>().await.expect("recv"), heartbeat(1));
    assert_eq!(
        frame_error(client.recv::<Message>().await),
        FrameError::BadTag
    );
}

#[tokio::test]
async fn stranger_bytes_get_a_closed_connection_and_nothing_else() {
    let (listener, addr) = bind().await;
    let server = serve(listener, key(), 1);
    let mut stranger = TcpStream::connect(addr).await.expect("connect");
    // Exactly one header's worth, so the server has read everything when it closes.
    stranger
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    let outcome = server.await.expect("join").pop().expect("outcome");
    assert_eq!(frame_error(outcome), FrameError::BadMagic { got: *b"GET " });
    let mut reply = Vec::new();
    let _ = stranger.read_to_end(&mut reply).await;
    assert!(reply.is_empty(), "the server sent {reply:?}");
}

#[tokio::test]
async fn silent_client_times_out_the_server_handshake() {
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        handshake_server(stream, &key(), &as_b(), Duration::from_millis(100)).await
    });
    let _silent = TcpStream::connect(addr).await.expect("connect");
    let outcome = server.await.expect("join");
    assert!(
        matches!(
            outcome,
            Err(LinkError::Timeout {
                stage: Stage::Handshake,
                timeout_ms: 100
            })
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn handshake_oversize_length_is_refused() {
    let (listener, addr) = bind().await;
    let server = serve(listener, key(), 1);
    let mut raw = TcpStream::connect(addr).await.expect("connect");
    let mut header = b"TNDM".to_vec();
    header.extend_from_slice(&[PROTOCOL_VERSION, 1]);
    header.extend_from_slice(&(MAX_FRAME_PAYLOAD_BYTES + 1).to_be_bytes());
    header.extend_from_slice(&0u64.to_be_bytes());
    raw.write_all(&header).await.expect("write");
    let outcome = server.await.expect("join").pop().expect("outcome");
    assert_eq!(
        frame_error(outcome),
        FrameError::TooLong {
            len: u64::from(MAX_FRAME_PAYLOAD_BYTES) + 1
        }
    );
}

/// `tandem check`'s probe: the server's HELLO proves key, cluster and names; no session is
/// opened (the server sees no CONFIRM and drops the connection).
#[tokio::test]
async fn check_probe_authenticates_without_opening_a_session() {
    use tandem::peer::link::probe_server;
    for (client_key, cluster, ok) in [
        (key(), CLUSTER, true),
        (other_key(), CLUSTER, false),
        (key(), "other", false),
    ] {
        let (listener, addr) = bind().await;
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            handshake_server(stream, &key(), &as_b(), TIMEOUT).await
        });
        let stream = TcpStream::connect(addr).await.expect("connect");
        let probed = probe_server(stream, &client_key, &identity(cluster, A, B), TIMEOUT).await;
        assert_eq!(probed.is_ok(), ok, "{cluster}: {probed:?}");
        let served = server.await.expect("join");
        assert!(
            served.is_err(),
            "the server must not get a session from a probe"
        );
    }
}
