//! The handshake of the peer link over TCP, and its errors.
//!
//! # Handshake
//! ```text
//! client                                         server
//!   HELLO(counter 0, PRE_SESSION, nonce_c, cluster) ─►   verify tag, cluster
//!   ◄─ HELLO(counter 0, session, nonce_s, cluster)       session = HMAC(key, "tandem-session"
//!   verify tag (proves the server has the key               || nonce_c || nonce_s)
//!   and answered this very HELLO), cluster
//!   CONFIRM(counter 1, session, empty) ─►                verify tag: the client is live
//! ```
//! Afterwards each side sends MESSAGE frames, counters continuing per direction (client from 2,
//! server from 1), each tagged with the session id.
//!
//! # What a stranger learns
//! The server writes nothing until a client HELLO passed its tag check. On any failure (bad
//! magic, another version, an oversize length, a wrong tag, another cluster, a timeout) the
//! handshake returns the error and drops the stream: the connection is closed and no reason
//! is sent, so a peer without the key learns nothing, not even which check failed. A recorded
//! client HELLO replayed later gets a fresh server nonce back and cannot produce the CONFIRM.
//! The operator reads the reason in the refusing node's log.

use std::time::Duration;
use tokio::net::TcpStream;

use super::auth::{fresh_nonce, Direction, Nonce, PeerKey, SessionId};
use super::frame::{self, FrameError, FrameKind, RawFrame, ReplayGuard};
use super::hello::{Hello, HelloError};
use super::session::{FrameReader, FrameWriter, Session};

/// Where in the life of a connection an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Handshake,
    Receive,
    Send,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Handshake => "the handshake",
            Stage::Receive => "receive",
            Stage::Send => "send",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("peer link I/O failed during {stage}: {error}")]
    Io { stage: Stage, error: std::io::Error },
    #[error("the peer sent nothing for {timeout_ms} ms during {stage}")]
    Timeout { stage: Stage, timeout_ms: u64 },
    #[error("the peer closed the connection during {stage}{}", closed_hint(*stage))]
    Closed { stage: Stage },
    #[error("refused a frame during {stage}: {error}")]
    Frame { stage: Stage, error: FrameError },
    #[error("refused: the peer belongs to cluster \"{theirs}\", this node to \"{ours}\"")]
    ClusterMismatch { ours: String, theirs: String },
    #[error("refused: malformed HELLO: {0}")]
    BadHello(HelloError),
    #[error("cannot encode a peer message: {0}")]
    Encode(serde_json::Error),
    #[error("an authenticated peer message does not decode ({0}); do both nodes run the same tandem version?")]
    Decode(serde_json::Error),
    #[error("no randomness for the handshake nonce: {0}")]
    Random(getrandom::Error),
    #[error("the session is unusable after an earlier error; reconnect")]
    Broken,
}

fn closed_hint(stage: Stage) -> &'static str {
    match stage {
        Stage::Handshake => {
            "; a node refuses a wrong key, cluster name or protocol version without saying \
             which: see the peer's log"
        }
        Stage::Receive | Stage::Send => "",
    }
}

impl LinkError {
    /// The frame-level refusal inside, if that is what this is.
    pub fn frame_error(&self) -> Option<&FrameError> {
        match self {
            LinkError::Frame { error, .. } => Some(error),
            _ => None,
        }
    }

    pub(super) fn frame(stage: Stage) -> impl Fn(FrameError) -> LinkError {
        move |error| LinkError::Frame { stage, error }
    }
}

const HANDSHAKE: Stage = Stage::Handshake;

/// Connects as the client: sends HELLO, checks the server's HELLO, sends CONFIRM. Every read
/// and write waits at most `timeout`, which the session keeps for later sends and receives.
pub async fn handshake_client(
    stream: TcpStream,
    key: &PeerKey,
    cluster: &str,
    timeout: Duration,
) -> Result<Session, LinkError> {
    let (mut reader, mut writer) = split(stream);
    let client_nonce = fresh_nonce().map_err(LinkError::Random)?;
    let hello = hello_payload(client_nonce, cluster)?;
    let to_server = Direction::ClientToServer;
    let bytes = frame::seal(
        key,
        &SessionId::PRE_SESSION,
        to_server,
        FrameKind::Hello,
        0,
        &hello,
    )
    .map_err(LinkError::frame(HANDSHAKE))?;
    writer.write(&bytes, timeout, HANDSHAKE).await?;

    let reply = reader.next_frame(timeout, HANDSHAKE).await?;
    let raw = frame::split(&reply).map_err(LinkError::frame(HANDSHAKE))?;
    // The payload is read before the tag is checked because the session id depends on the
    // server's nonce; nothing else is done with it until the tag holds.
    let server_hello = Hello::decode(raw.payload()).map_err(LinkError::BadHello)?;
    let session = SessionId::derive(key, &client_nonce, &server_hello.nonce);
    check_frame(
        &raw,
        key,
        &session,
        Direction::ServerToClient,
        FrameKind::Hello,
        0,
    )?;
    check_cluster(cluster, server_hello.cluster)?;

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
    ))
}

/// Accepts as the server: checks the client's HELLO, answers with its own, waits for CONFIRM.
/// On any error the stream is dropped (closed) without a word; see the module documentation.
pub async fn handshake_server(
    stream: TcpStream,
    key: &PeerKey,
    cluster: &str,
    timeout: Duration,
) -> Result<Session, LinkError> {
    let (mut reader, mut writer) = split(stream);
    let from_client = Direction::ClientToServer;
    let first = reader.next_frame(timeout, HANDSHAKE).await?;
    let raw = frame::split(&first).map_err(LinkError::frame(HANDSHAKE))?;
    let pre = SessionId::PRE_SESSION;
    check_frame(&raw, key, &pre, from_client, FrameKind::Hello, 0)?;
    let client_hello = Hello::decode(raw.payload()).map_err(LinkError::BadHello)?;
    check_cluster(cluster, client_hello.cluster)?;

    let server_nonce = fresh_nonce().map_err(LinkError::Random)?;
    let session = SessionId::derive(key, &client_hello.nonce, &server_nonce);
    let hello = hello_payload(server_nonce, cluster)?;
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

fn hello_payload(nonce: Nonce, cluster: &str) -> Result<Vec<u8>, LinkError> {
    Hello {
        nonce,
        cluster: cluster.to_owned(),
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

fn check_cluster(ours: &str, theirs: String) -> Result<(), LinkError> {
    if theirs == ours {
        return Ok(());
    }
    Err(LinkError::ClusterMismatch {
        ours: ours.to_owned(),
        theirs,
    })
}
