//! Packets over a socket: reads whole logical packets (bounded by `MAX_PACKET_BYTES`) and
//! writes framed ones; relays a backend's answer to the client frame by frame as the bytes
//! came, buffering it until it ends or the buffer is full.

use crate::proxy::packet::{frame_into, frame_length, take_packet, Packet, PacketError};
use crate::proxy::packet::{HEADER_BYTES, MAX_FRAME_PAYLOAD_BYTES};
use crate::proxy::response::{Outcome, Progress, Response, ResponseError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A relayed answer is written out whenever this much is buffered: one large write per
/// many small rows, without holding a big resultset in memory.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;
/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("the connection closed")]
    Closed,
    #[error("{0}")]
    Packet(#[from] PacketError),
    #[error("{0}")]
    Socket(#[from] std::io::Error),
}

/// Why a relayed answer stopped short.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("{0}")]
    Backend(IoError),
    #[error("{0}")]
    Protocol(ResponseError),
    #[error("{0}")]
    Client(IoError),
}

/// One side of the proxy's traffic.
pub struct PacketStream {
    stream: TcpStream,
    read: Vec<u8>,
    /// Where the unread bytes of `read` start: packets are taken from the front without
    /// moving the rest, which is compacted only before the next socket read.
    start: usize,
    write: Vec<u8>,
    /// Packets sent so far: tells whether any of an answer went out before it was cut off.
    packets_sent: u64,
}

impl PacketStream {
    pub fn new(stream: TcpStream) -> PacketStream {
        let _ = stream.set_nodelay(true);
        PacketStream {
            stream,
            read: Vec::new(),
            start: 0,
            write: Vec::new(),
            packets_sent: 0,
        }
    }

    /// The next logical packet.
    pub async fn read(&mut self) -> Result<Packet, IoError> {
        loop {
            if let Some((packet, used)) = take_packet(&self.read[self.start..])? {
                self.start += used;
                return Ok(packet);
            }
            self.fill().await?;
        }
    }

    /// Reads more bytes from the socket, after the unread ones.
    async fn fill(&mut self) -> Result<(), IoError> {
        self.read.drain(..self.start);
        self.start = 0;
        self.read.reserve(READ_CHUNK_BYTES);
        if self.stream.read_buf(&mut self.read).await? == 0 {
            return Err(IoError::Closed);
        }
        Ok(())
    }

    /// Relays one answer from this stream to `client` until `response` says it ended, then
    /// flushes the client. A packet in one frame (all but those of 16 MiB or more) is fed to
    /// `response` where it lies in the read buffer and its bytes, header included, are
    /// copied once into the client's write buffer, unchanged: no packet is assembled or
    /// framed again. A longer packet is assembled by [`read`](Self::read) first.
    pub async fn relay_answer(
        &mut self,
        client: &mut PacketStream,
        response: &mut Response,
    ) -> Result<Outcome, RelayError> {
        loop {
            let unread = &self.read[self.start..];
            let progress = match frame_length(unread) {
                Some(len) if len >= MAX_FRAME_PAYLOAD_BYTES => {
                    let packet = self.read().await.map_err(RelayError::Backend)?;
                    let progress = response
                        .feed(&packet.payload)
                        .map_err(RelayError::Protocol)?;
                    frame_into(&mut client.write, packet.seq, &packet.payload);
                    progress
                }
                Some(len) if unread.len() >= HEADER_BYTES + len => {
                    let frame = &unread[..HEADER_BYTES + len];
                    let progress = response
                        .feed(&frame[HEADER_BYTES..])
                        .map_err(RelayError::Protocol)?;
                    client.write.extend_from_slice(frame);
                    self.start += frame.len();
                    progress
                }
                _ => {
                    self.fill().await.map_err(RelayError::Backend)?;
                    continue;
                }
            };
            client.packets_sent += 1;
            if let Progress::Done(outcome) = progress {
                client.flush().await.map_err(RelayError::Client)?;
                return Ok(outcome);
            }
            if client.write.len() >= WRITE_BUFFER_BYTES {
                client.flush().await.map_err(RelayError::Client)?;
            }
        }
    }

    /// Buffers a packet; written at the next [`flush`](Self::flush) or when the buffer is full.
    pub async fn send(&mut self, seq: u8, payload: &[u8]) -> Result<(), IoError> {
        frame_into(&mut self.write, seq, payload);
        self.packets_sent += 1;
        if self.write.len() >= WRITE_BUFFER_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Packets sent (buffered or written) so far.
    pub fn packets_sent(&self) -> u64 {
        self.packets_sent
    }

    pub async fn flush(&mut self) -> Result<(), IoError> {
        if !self.write.is_empty() {
            self.stream.write_all(&self.write).await?;
            self.write.clear();
        }
        Ok(())
    }

    /// Sends one packet now.
    pub async fn write(&mut self, seq: u8, payload: &[u8]) -> Result<(), IoError> {
        self.send(seq, payload).await?;
        self.flush().await
    }
}

#[cfg(test)]
#[path = "io_tests.rs"]
mod tests;
