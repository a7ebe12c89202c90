//! Versioned, length-limited, authenticated frames. Pure: bytes in, bytes out.
//!
//! # Layout
//! ```text
//! offset  size  field
//! 0       4     magic b"TNDM"
//! 4       1     version (PROTOCOL_VERSION)
//! 5       1     kind (1 HELLO, 2 CONFIRM, 3 MESSAGE)
//! 6       4     payload length, u32 BE, at most MAX_FRAME_PAYLOAD_BYTES
//! 10      8     counter, u64 BE, per direction: 0, 1, 2, … with no gaps
//! 18      n     payload
//! 18+n    32    tag: HMAC-SHA256 (see `auth`)
//! ```
//! Magic, version and length are checked before anything is allocated or authenticated: a
//! stranger's bytes cost at most one header read. The payload is parsed only after its tag has
//! been verified.

use super::auth::{Direction, PeerKey, SessionId, TAG_BYTES};

pub const MAGIC: [u8; 4] = *b"TNDM";

/// The frame layout and handshake this build speaks; a peer with another version is refused
/// before its tag is checked, since the layout of the rest may differ. Version 2 added the
/// sender and receiver node names to HELLO and to the session id.
pub const PROTOCOL_VERSION: u8 = 2;

/// Peer messages are heartbeats and state reports of a few hundred bytes. 64 KiB leaves room
/// for growth while a hostile or broken peer can make a node buffer at most this much per
/// connection.
pub const MAX_FRAME_PAYLOAD_BYTES: u32 = 64 * 1024;

/// Magic, version, kind, length, counter.
pub const HEADER_BYTES: usize = 18;

/// The largest frame on the wire.
pub const MAX_FRAME_BYTES: usize = HEADER_BYTES + MAX_FRAME_PAYLOAD_BYTES as usize + TAG_BYTES;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Handshake: a nonce and the cluster name.
    Hello = 1,
    /// The client's proof that it derived the session id: empty payload.
    Confirm = 2,
    /// A serde_json message of the daemons' protocol.
    Message = 3,
}

impl TryFrom<u8> for FrameKind {
    type Error = FrameError;

    fn try_from(byte: u8) -> Result<Self, FrameError> {
        match byte {
            1 => Ok(FrameKind::Hello),
            2 => Ok(FrameKind::Confirm),
            3 => Ok(FrameKind::Message),
            got => Err(FrameError::UnknownKind { got }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("not a tandem frame: magic {got:02x?}, expected \"TNDM\"")]
    BadMagic { got: [u8; 4] },
    #[error("refused: the peer speaks protocol version {got}, this tandem speaks {PROTOCOL_VERSION}; run the same tandem version on both nodes")]
    UnsupportedVersion { got: u8 },
    #[error("unknown frame kind {got}")]
    UnknownKind { got: u8 },
    #[error("frame payload of {len} bytes exceeds the {MAX_FRAME_PAYLOAD_BYTES}-byte limit")]
    TooLong { len: u64 },
    #[error("frame truncated: {have} of {need} bytes")]
    Truncated { have: usize, need: usize },
    #[error("frame authentication failed: wrong peer key, a frame from another connection, or altered bytes")]
    BadTag,
    #[error("replayed frame: counter {counter}, but {last} was already accepted")]
    Replay { counter: u64, last: u64 },
    #[error("frames missing: counter {counter}, expected {expected}")]
    Gap { counter: u64, expected: u64 },
    #[error("unexpected {got:?} frame where {expected:?} belongs")]
    UnexpectedKind { got: FrameKind, expected: FrameKind },
}

/// The fixed-size start of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub kind: FrameKind,
    pub payload_length: u32,
    pub counter: u64,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut bytes = [0u8; HEADER_BYTES];
        bytes[0..4].copy_from_slice(&MAGIC);
        bytes[4] = self.version;
        bytes[5] = self.kind as u8;
        bytes[6..10].copy_from_slice(&self.payload_length.to_be_bytes());
        bytes[10..18].copy_from_slice(&self.counter.to_be_bytes());
        bytes
    }

    /// Header, payload and tag.
    pub fn frame_length(&self) -> usize {
        HEADER_BYTES + self.payload_length as usize + TAG_BYTES
    }
}

/// Checks magic, version, length and kind, in that order, from the first bytes of a frame.
pub fn parse_header(bytes: &[u8]) -> Result<Header, FrameError> {
    let Some(head) = bytes.get(..HEADER_BYTES) else {
        return Err(FrameError::Truncated {
            have: bytes.len(),
            need: HEADER_BYTES,
        });
    };
    let magic = [head[0], head[1], head[2], head[3]];
    if magic != MAGIC {
        return Err(FrameError::BadMagic { got: magic });
    }
    if head[4] != PROTOCOL_VERSION {
        return Err(FrameError::UnsupportedVersion { got: head[4] });
    }
    let payload_length = u32::from_be_bytes([head[6], head[7], head[8], head[9]]);
    if payload_length > MAX_FRAME_PAYLOAD_BYTES {
        return Err(FrameError::TooLong {
            len: u64::from(payload_length),
        });
    }
    let kind = FrameKind::try_from(head[5])?;
    let mut counter = [0u8; 8];
    counter.copy_from_slice(&head[10..18]);
    Ok(Header {
        version: head[4],
        kind,
        payload_length,
        counter: u64::from_be_bytes(counter),
    })
}

/// A complete frame whose header is valid but whose tag is not yet checked.
#[derive(Debug, Clone, Copy)]
pub struct RawFrame<'a> {
    pub header: Header,
    bytes: &'a [u8],
}

impl<'a> RawFrame<'a> {
    /// Unauthenticated until [`RawFrame::verify`] succeeds.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HEADER_BYTES..self.bytes.len() - TAG_BYTES]
    }

    pub fn verify(
        &self,
        key: &PeerKey,
        session: &SessionId,
        direction: Direction,
    ) -> Result<(), FrameError> {
        let tag_start = self.bytes.len() - TAG_BYTES;
        key.verify(
            session,
            direction,
            &self.bytes[..HEADER_BYTES],
            self.payload(),
            &self.bytes[tag_start..],
        )
        .map_err(|_| FrameError::BadTag)
    }

    /// Bytes the frame occupies.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Finds one complete frame at the start of `bytes`.
pub fn split(bytes: &[u8]) -> Result<RawFrame<'_>, FrameError> {
    let header = parse_header(bytes)?;
    let need = header.frame_length();
    match bytes.get(..need) {
        Some(frame) => Ok(RawFrame {
            header,
            bytes: frame,
        }),
        None => Err(FrameError::Truncated {
            have: bytes.len(),
            need,
        }),
    }
}

/// An authenticated frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    pub counter: u64,
    pub payload: Vec<u8>,
}

/// Splits and authenticates one frame; returns it and the bytes it occupied. The counter is
/// not checked here: see [`ReplayGuard`].
pub fn open(
    key: &PeerKey,
    session: &SessionId,
    direction: Direction,
    bytes: &[u8],
) -> Result<(Frame, usize), FrameError> {
    let raw = split(bytes)?;
    raw.verify(key, session, direction)?;
    let frame = Frame {
        kind: raw.header.kind,
        counter: raw.header.counter,
        payload: raw.payload().to_vec(),
    };
    Ok((frame, raw.len()))
}

/// Builds one authenticated frame.
pub fn seal(
    key: &PeerKey,
    session: &SessionId,
    direction: Direction,
    kind: FrameKind,
    counter: u64,
    payload: &[u8],
) -> Result<Vec<u8>, FrameError> {
    let payload_length = u32::try_from(payload.len())
        .ok()
        .filter(|&length| length <= MAX_FRAME_PAYLOAD_BYTES)
        .ok_or(FrameError::TooLong {
            len: payload.len() as u64,
        })?;
    let header = Header {
        version: PROTOCOL_VERSION,
        kind,
        payload_length,
        counter,
    }
    .encode();
    let tag = key.tag(session, direction, &header, payload);
    let mut frame = Vec::with_capacity(HEADER_BYTES + payload.len() + TAG_BYTES);
    frame.extend_from_slice(&header);
    frame.extend_from_slice(payload);
    frame.extend_from_slice(&tag);
    Ok(frame)
}

/// Accepts counters of one direction in order: each must be exactly one more than the last.
/// An old counter is a replay; a skipped one means frames were removed from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayGuard {
    expected: u64,
}

impl ReplayGuard {
    /// Expects `first` next.
    pub fn expecting(first: u64) -> Self {
        ReplayGuard { expected: first }
    }

    pub fn accept(&mut self, counter: u64) -> Result<(), FrameError> {
        if counter < self.expected {
            return Err(FrameError::Replay {
                counter,
                last: self.expected - 1,
            });
        }
        if counter > self.expected {
            return Err(FrameError::Gap {
                counter,
                expected: self.expected,
            });
        }
        self.expected = self.expected.saturating_add(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
