//! The handshake of the peer link over TCP, and its errors.
//!
//! # Handshake
//! ```text
//! client c                                       server s
//!   HELLO(counter 0, PRE_SESSION,                  verify tag, then cluster, names:
//!         nonce_c, cluster, c, s) ─►                 sender ≠ s (else SelfConnection),
//!                                                    receiver = s, sender = s's peer
//!   ◄─ HELLO(counter 0, session,                   session = HMAC(key, "tandem-session"
//!         nonce_s, cluster, s, c)                      || nonce_c || nonce_s || c || s)
//!   verify tag (proves the server has the key
//!   and answered this very HELLO), cluster, names
//!   CONFIRM(counter 1, session, empty) ─►          verify tag: the client is live
//! ```
//! Afterwards each side sends MESSAGE frames, counters continuing per direction (client from 2,
//! server from 1), each tagged with the session id.
//!
//! # What a stranger learns
//! The server writes nothing until a client HELLO passed its tag check and names this cluster,
//! this node as receiver and its configured peer as sender. On any failure (bad magic, another
//! version, an oversize length, a wrong tag, another cluster, a wrong name, a timeout) the
//! handshake returns the error and drops the stream: the connection is closed and no reason
//! is sent, so a peer without the key learns nothing, not even which check failed. A recorded
//! client HELLO replayed later gets a fresh server nonce back and cannot produce the CONFIRM.
//! The operator reads the reason in the refusing node's log.

use std::time::Duration;
use tokio::net::TcpStream;

use super::auth::{fresh_nonce, Direction, Nonce, PeerKey, SessionId};
use super::error::{LinkError, Stage};
use super::frame::{self, FrameError, FrameKind, RawFrame, ReplayGuard};
use super::hello::{Hello, Instance};
use super::session::{FrameReader, FrameWriter, Session};

/// Who this node is and whom it talks to. Every HELLO carries these names, and each side
/// checks the other's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Both nodes must name the same cluster: two clusters sharing a key still refuse each other.
    pub cluster: String,
    /// This node's `[[node]] name`: the sender of its HELLOs, and the only receiver it accepts.
    pub own_name: String,
    /// The configured peer's `[[node]] name`: the only sender this node accepts.
    pub peer_name: String,
    /// Drawn once per daemon start and sent in every HELLO, so that the peer can tell a
    /// restart from a re-dial.
    pub instance: Instance,
}

const HANDSHAKE: Stage = Stage::Handshake;

/// Connects as the client: sends HELLO, checks the server's HELLO, sends CONFIRM. Every read
/// and write waits at most `timeout`, which the session keeps for later sends and receives.
pub async fn handshake_client(
    stream: TcpStream,
    key: &PeerKey,
    identity: &Identity,
    timeout: Duration,
) -> Result<Session, LinkError> {
    let (mut reader, mut writer) = split(stream);
    let (session, peer_instance) =
        client_hello(&mut reader, &mut writer, key, identity, timeout).await?;
    let to_server = Direction::ClientToServer;
    let confirm = frame::seal(key, &session, to_server, FrameKind::Confirm, 1, &[])
        .map_err(LinkError::frame(HANDSHAKE))?;
    writer.write(&confirm, timeout, HANDSHAKE).await?;
    Ok(Session::new(
        reader,
        writer,
        key.clone(),
        session,
        to_server,
        timeout,
        peer_instance,
    ))
}

/// The client's half of the handshake up to the server's HELLO, and no CONFIRM: proves that
/// the server holds the key and accepts this node's cluster and names, without opening a
/// session (which would announce a new instance and make the peer re-dial). The server counts
/// the missing CONFIRM as one refused handshake. For `tandem check`.
pub async fn probe_server(
    stream: TcpStream,
    key: &PeerKey,
    identity: &Identity,
    timeout: Duration,
) -> Result<(), LinkError> {
    let (mut reader, mut writer) = split(stream);
    client_hello(&mut reader, &mut writer, key, identity, timeout).await?;
    Ok(())
}

/// The client's HELLO and the server's checked answer: the session id and the server's
/// instance. Shared by the handshake and the probe.
async fn client_hello(
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    key: &PeerKey,
    identity: &Identity,
    timeout: Duration,
) -> Result<(SessionId, Instance), LinkError> {
    let client_nonce = fresh_nonce().map_err(LinkError::Random)?;
    let hello = hello_payload(client_nonce, identity)?;
    let to_server = Direction::ClientToServer;
    let pre = SessionId::PRE_SESSION;
    let bytes = frame::seal(key, &pre, to_server, FrameKind::Hello, 0, &hello)
        .map_err(LinkError::frame(HANDSHAKE))?;
    writer.write(&bytes, timeout, HANDSHAKE).await?;

    let reply = reader.next_frame(timeout, HANDSHAKE).await?;
    let raw = frame::split(&reply).map_err(LinkError::frame(HANDSHAKE))?;
    // The payload is read before the tag is checked because the session id depends on the
    // server's nonce and name; nothing else is done with it until the tag holds.
    let server_hello = Hello::decode(raw.payload()).map_err(LinkError::BadHello)?;
    let session = SessionId::derive(
        key,
        (&client_nonce, &identity.own_name),
        (&server_hello.nonce, &server_hello.sender),
    );
    let from_server = Direction::ServerToClient;
    check_frame(&raw, key, &session, from_server, FrameKind::Hello, 0)?;
    let peer_instance = server_hello.instance;
    check_identity(identity, server_hello)?;
    Ok((session, peer_instance))
}

/// Accepts as the server: checks the client's HELLO, answers with its own, waits for CONFIRM.
/// On any error the stream is dropped (closed) without a word; see the module documentation.
pub async fn handshake_server(
    stream: TcpStream,
    key: &PeerKey,
    identity: &Identity,
    timeout: Duration,
) -> Result<Session, LinkError> {
    let (mut reader, mut writer) = split(stream);
    let from_client = Direction::ClientToServer;
    let first = reader.next_frame(timeout, HANDSHAKE).await?;
    let raw = frame::split(&first).map_err(LinkError::frame(HANDSHAKE))?;
    let pre = SessionId::PRE_SESSION;
    check_frame(&raw, key, &pre, from_client, FrameKind::Hello, 0)?;
    let client_hello = Hello::decode(raw.payload()).map_err(LinkError::BadHello)?;
    let (client_nonce, peer_instance) = (client_hello.nonce, client_hello.instance);
    check_identity(identity, client_hello)?;

    let server_nonce = fresh_nonce().map_err(LinkError::Random)?;
    // The client's name passed check_identity: it is the configured peer's.
    let session = SessionId::derive(
        key,
        (&client_nonce, &identity.peer_name),
        (&server_nonce, &identity.own_name),
    );
    let hello = hello_payload(server_nonce, identity)?;
    let to_client = Direction::ServerToClient;
    let bytes = frame::seal(key, &session, to_client, FrameKind::Hello, 0, &hello)
        .map_err(LinkError::frame(HANDSHAKE))?;
    writer.write(&bytes, timeout, HANDSHAKE).await?;

    let confirm = reader.next_frame(timeout, HANDSHAKE).await?;
    let raw = frame::split(&confirm).map_err(LinkError::frame(HANDSHAKE))?;
    check_frame(&raw, key, &session, from_client, FrameKind::Confirm, 1)?;
    Ok(Session::new(
        reader,
        writer,
        key.clone(),
        session,
        to_client,
        timeout,
        peer_instance,
    ))
}

fn split(stream: TcpStream) -> (FrameReader, FrameWriter) {
    // Heartbeats are small and latency matters more than packet count. Failing to set the
    // option only costs latency, so the error is not fatal.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!("peer link: cannot set TCP_NODELAY: {error}");
    }
    let (read, write) = stream.into_split();
    (FrameReader::new(read), FrameWriter::new(write))
}

/// This node's HELLO: it sends as itself, to its configured peer.
fn hello_payload(nonce: Nonce, identity: &Identity) -> Result<Vec<u8>, LinkError> {
    Hello {
        nonce,
        instance: identity.instance,
        cluster: identity.cluster.clone(),
        sender: identity.own_name.clone(),
        receiver: identity.peer_name.clone(),
    }
    .encode()
    .map_err(LinkError::BadHello)
}

/// Tag first, then kind and counter: nothing about an unauthenticated frame is trusted.
fn check_frame(
    raw: &RawFrame<'_>,
    key: &PeerKey,
    session: &SessionId,
    direction: Direction,
    kind: FrameKind,
    counter: u64,
) -> Result<(), LinkError> {
    let refuse = LinkError::frame(HANDSHAKE);
    raw.verify(key, session, direction).map_err(&refuse)?;
    if raw.header.kind != kind {
        return Err(refuse(FrameError::UnexpectedKind {
            got: raw.header.kind,
            expected: kind,
        }));
    }
    ReplayGuard::expecting(counter)
        .accept(raw.header.counter)
        .map_err(refuse)
}

/// The other side's (authenticated) HELLO must name this cluster, come from the configured
/// peer and be meant for this node. A HELLO from this node's own name is named as such: it
/// means the connection looped back, which the other checks would only call a wrong peer.
fn check_identity(ours: &Identity, theirs: Hello) -> Result<(), LinkError> {
    if theirs.cluster != ours.cluster {
        return Err(LinkError::ClusterMismatch {
            ours: ours.cluster.clone(),
            theirs: theirs.cluster,
        });
    }
    if theirs.sender == ours.own_name {
        return Err(LinkError::SelfConnection {
            name: theirs.sender,
        });
    }
    if theirs.receiver != ours.own_name {
        return Err(LinkError::WrongReceiver {
            expected: ours.own_name.clone(),
            got: theirs.receiver,
        });
    }
    if theirs.sender != ours.peer_name {
        return Err(LinkError::WrongPeer {
            expected: ours.peer_name.clone(),
            got: theirs.sender,
        });
    }
    Ok(())
}
