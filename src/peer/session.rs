//! An established peer-link session: authenticated MESSAGE frames carrying serde_json, with
//! per-direction counters, a timeout on every read and write, and a split into halves so a
//! link task can read and write concurrently.
//!
//! # Cancel safety
//! [`Session::recv`] and [`SessionReader::recv`] are cancel-safe: bytes already read stay in
//! the reader's buffer, so a timeout or a losing `select!` branch loses nothing, and a timeout
//! leaves the session usable. A send that is cancelled or fails halfway leaves the stream in an
//! unknown state, so the writer refuses further sends ([`LinkError::Broken`]). Any refused
//! frame also breaks the reader: after it, the stream cannot be trusted; reconnect.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::auth::{Direction, PeerKey, SessionId};
use super::error::{LinkError, Stage};
use super::frame::{self, FrameError, FrameKind, ReplayGuard, HEADER_BYTES};
use super::hello::Instance;

/// Reads whole frames into a buffer that never holds more than one frame (at most
/// [`frame::MAX_FRAME_BYTES`]): the header first, then exactly the rest of that frame.
#[derive(Debug)]
pub(super) struct FrameReader {
    stream: OwnedReadHalf,
    buffer: Vec<u8>,
    /// Bytes of `buffer` that hold data; only advanced after a read completes.
    filled: usize,
}

impl FrameReader {
    pub(super) fn new(stream: OwnedReadHalf) -> Self {
        FrameReader {
            stream,
            buffer: vec![0; HEADER_BYTES],
            filled: 0,
        }
    }

    /// One complete frame with a valid header (tag not yet checked), within `timeout`.
    pub(super) async fn next_frame(
        &mut self,
        timeout: Duration,
        stage: Stage,
    ) -> Result<Vec<u8>, LinkError> {
        tokio::time::timeout(timeout, self.fill(stage))
            .await
            .unwrap_or(Err(LinkError::Timeout {
                stage,
                timeout_ms: millis(timeout),
            }))
    }

    async fn fill(&mut self, stage: Stage) -> Result<Vec<u8>, LinkError> {
        loop {
            let want = if self.filled < HEADER_BYTES {
                HEADER_BYTES
            } else {
                // Checks magic, version and length before the payload is read or allocated.
                frame::parse_header(&self.buffer[..HEADER_BYTES])
                    .map_err(LinkError::frame(stage))?
                    .frame_length()
            };
            if self.filled == want && want > HEADER_BYTES {
                self.filled = 0;
                return Ok(self.buffer[..want].to_vec());
            }
            if self.buffer.len() < want {
                self.buffer.resize(want, 0);
            }
            let read = self
                .stream
                .read(&mut self.buffer[self.filled..want])
                .await
                .map_err(|error| LinkError::Io { stage, error })?;
            if read == 0 {
                return Err(self.closed(stage, want));
            }
            self.filled += read;
        }
    }

    fn closed(&self, stage: Stage, want: usize) -> LinkError {
        if self.filled == 0 {
            return LinkError::Closed { stage };
        }
        LinkError::Frame {
            stage,
            error: FrameError::Truncated {
                have: self.filled,
                need: want,
            },
        }
    }
}

/// Writes whole frames, each within a timeout.
#[derive(Debug)]
pub(super) struct FrameWriter {
    stream: OwnedWriteHalf,
}

impl FrameWriter {
    pub(super) fn new(stream: OwnedWriteHalf) -> Self {
        FrameWriter { stream }
    }

    pub(super) async fn write(
        &mut self,
        bytes: &[u8],
        timeout: Duration,
        stage: Stage,
    ) -> Result<(), LinkError> {
        match tokio::time::timeout(timeout, self.stream.write_all(bytes)).await {
            Ok(result) => result.map_err(|error| LinkError::Io { stage, error }),
            Err(_) => Err(LinkError::Timeout {
                stage,
                timeout_ms: millis(timeout),
            }),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The receiving half of a session.
#[derive(Debug)]
pub struct SessionReader {
    frames: FrameReader,
    key: PeerKey,
    session: SessionId,
    /// The direction of incoming frames.
    direction: Direction,
    guard: ReplayGuard,
    timeout: Duration,
    broken: bool,
}

impl SessionReader {
    /// The next message, waiting at most the session's timeout. A timeout leaves the session
    /// usable; any other error breaks it.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<T, LinkError> {
        if self.broken {
            return Err(LinkError::Broken);
        }
        let bytes = match self.frames.next_frame(self.timeout, Stage::Receive).await {
            Ok(bytes) => bytes,
            Err(timeout @ LinkError::Timeout { .. }) => return Err(timeout),
            Err(error) => {
                self.broken = true;
                return Err(error);
            }
        };
        let payload = self
            .authenticate(&bytes)
            .inspect_err(|_| self.broken = true)?;
        // The frame was authentic and in order, so the stream stays in step even when this
        // build cannot decode the message.
        serde_json::from_slice(payload).map_err(LinkError::Decode)
    }

    fn authenticate<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], LinkError> {
        let refuse = LinkError::frame(Stage::Receive);
        let raw = frame::split(bytes).map_err(&refuse)?;
        raw.verify(&self.key, &self.session, self.direction)
            .map_err(&refuse)?;
        if raw.header.kind != FrameKind::Message {
            return Err(refuse(FrameError::UnexpectedKind {
                got: raw.header.kind,
                expected: FrameKind::Message,
            }));
        }
        self.guard.accept(raw.header.counter).map_err(&refuse)?;
        Ok(raw.payload())
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }
}

/// The sending half of a session.
#[derive(Debug)]
pub struct SessionWriter {
    frames: FrameWriter,
    key: PeerKey,
    session: SessionId,
    /// The direction of outgoing frames.
    direction: Direction,
    next_counter: u64,
    timeout: Duration,
    broken: bool,
}

impl SessionWriter {
    /// Sends one message, waiting at most the session's timeout for the socket to take it.
    pub async fn send<T: Serialize>(&mut self, message: &T) -> Result<(), LinkError> {
        if self.broken {
            return Err(LinkError::Broken);
        }
        let payload = serde_json::to_vec(message).map_err(LinkError::Encode)?;
        let bytes = frame::seal(
            &self.key,
            &self.session,
            self.direction,
            FrameKind::Message,
            self.next_counter,
            &payload,
        )
        .map_err(LinkError::frame(Stage::Send))?;
        // Broken until the whole frame is written: a cancelled or failed write leaves part of
        // a frame on the wire.
        self.broken = true;
        self.frames.write(&bytes, self.timeout, Stage::Send).await?;
        self.broken = false;
        self.next_counter = self.next_counter.saturating_add(1);
        Ok(())
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }
}

/// An authenticated connection to the peer daemon.
#[derive(Debug)]
pub struct Session {
    reader: SessionReader,
    writer: SessionWriter,
    /// The instance the peer's authenticated HELLO carried.
    peer_instance: Instance,
}

impl Session {
    /// After a handshake: `outgoing` is this side's direction. Counters continue from the
    /// handshake (the client sent HELLO 0 and CONFIRM 1, the server HELLO 0).
    pub(super) fn new(
        frames_in: FrameReader,
        frames_out: FrameWriter,
        key: PeerKey,
        session: SessionId,
        outgoing: Direction,
        timeout: Duration,
        peer_instance: Instance,
    ) -> Session {
        let (incoming, next_in, next_out) = match outgoing {
            Direction::ClientToServer => (Direction::ServerToClient, 1, 2),
            Direction::ServerToClient => (Direction::ClientToServer, 2, 1),
        };
        let reader = SessionReader {
            frames: frames_in,
            key: key.clone(),
            session,
            direction: incoming,
            guard: ReplayGuard::expecting(next_in),
            timeout,
            broken: false,
        };
        let writer = SessionWriter {
            frames: frames_out,
            key,
            session,
            direction: outgoing,
            next_counter: next_out,
            timeout,
            broken: false,
        };
        Session {
            reader,
            writer,
            peer_instance,
        }
    }

    pub async fn send<T: Serialize>(&mut self, message: &T) -> Result<(), LinkError> {
        self.writer.send(message).await
    }

    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<T, LinkError> {
        self.reader.recv().await
    }

    /// Both halves, for a task that reads and writes concurrently.
    pub fn into_split(self) -> (SessionReader, SessionWriter) {
        (self.reader, self.writer)
    }

    pub fn id(&self) -> SessionId {
        self.reader.session
    }

    /// Which start of the peer daemon this session is with; a new value means it restarted.
    pub fn peer_instance(&self) -> Instance {
        self.peer_instance
    }

    /// Changes the bound on every later read and write.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.reader.set_timeout(timeout);
        self.writer.set_timeout(timeout);
    }
}
