//! Packets over a socket: reads whole logical packets (bounded by `MAX_PACKET_BYTES`) and
//! writes framed ones, buffering a relayed answer until it ends or the buffer is full.

use crate::proxy::packet::{frame_into, take_packet, Packet, PacketError};
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
            self.read.drain(..self.start);
            self.start = 0;
            self.read.reserve(READ_CHUNK_BYTES);
            if self.stream.read_buf(&mut self.read).await? == 0 {
                return Err(IoError::Closed);
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
