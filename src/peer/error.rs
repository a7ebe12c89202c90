//! The peer link's errors, and where in a connection's life they happened: shared by the
//! handshake (link.rs) and established sessions (session.rs).

use super::frame::FrameError;
use super::hello::HelloError;
use std::net::IpAddr;

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
    #[error("refused: the HELLO comes from this node itself (\"{name}\"): the connection looped back to its own listener; check that no peer_addresses of the peer are this node's own, and that nothing on the path reflects connections")]
    SelfConnection { name: String },
    #[error(
        "refused: the HELLO comes from node \"{got}\", but this node's peer is \"{expected}\""
    )]
    WrongPeer { expected: String, got: String },
    #[error("refused: the HELLO is meant for node \"{got}\", but this node is \"{expected}\"; does the peer's config name this node so?")]
    WrongReceiver { expected: String, got: String },
    #[error(
        "refused a connection from {address}: not one of the peer's addresses ({})",
        list(allowed)
    )]
    UnknownAddress {
        address: IpAddr,
        allowed: Vec<IpAddr>,
    },
    #[error("refused a connection: {limit} others are already in the handshake")]
    Busy { limit: usize },
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
            "; a node refuses a wrong key, cluster name, node name, source address or protocol \
             version without saying which: see the peer's log"
        }
        Stage::Receive | Stage::Send => "",
    }
}

fn list(addresses: &[IpAddr]) -> String {
    let shown: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
    shown.join(", ")
}

impl LinkError {
    /// The frame-level refusal inside, if that is what this is.
    pub fn frame_error(&self) -> Option<&FrameError> {
        match self {
            LinkError::Frame { error, .. } => Some(error),
            _ => None,
        }
    }

    /// A short, fixed name for the kind of error, e.g. to count or rate-limit refusals by it.
    pub fn reason(&self) -> &'static str {
        match self {
            LinkError::Io { .. } => "io",
            LinkError::Timeout { .. } => "timeout",
            LinkError::Closed { .. } => "closed",
            LinkError::Frame { .. } => "bad-frame",
            LinkError::ClusterMismatch { .. } => "cluster-mismatch",
            LinkError::SelfConnection { .. } => "self-connection",
            LinkError::WrongPeer { .. } => "wrong-peer",
            LinkError::WrongReceiver { .. } => "wrong-receiver",
            LinkError::UnknownAddress { .. } => "unknown-address",
            LinkError::Busy { .. } => "busy",
            LinkError::BadHello(_) => "bad-hello",
            LinkError::Encode(_) => "encode",
            LinkError::Decode(_) => "decode",
            LinkError::Random(_) => "random",
            LinkError::Broken => "broken",
        }
    }

    pub(super) fn frame(stage: Stage) -> impl Fn(FrameError) -> LinkError {
        move |error| LinkError::Frame { stage, error }
    }
}
