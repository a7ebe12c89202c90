//! MySQL packet framing, pure: a 3-byte little-endian payload length, a 1-byte sequence id,
//! then the payload. A payload of exactly [`MAX_FRAME_PAYLOAD_BYTES`] continues in the next
//! frame; the logical packet ends with the first shorter frame (possibly empty).
//!
//! [`take_packet`] splits one logical packet off a byte buffer, or says it needs more bytes;
//! [`frame`] writes one back. Neither panics on any input, and no logical packet larger than
//! [`MAX_PACKET_BYTES`] is ever assembled.

/// The largest payload one frame carries (2^24 - 1); a frame this long is continued.
pub const MAX_FRAME_PAYLOAD_BYTES: usize = 0xFF_FFFF;
/// The largest logical packet the proxy assembles. MariaDB's `max_allowed_packet` defaults to
/// 16 MiB and tops out at 1 GiB; the proxy buffers one packet per direction per session, so
/// it refuses more than 32 MiB rather than let one client hold a gigabyte of memory.
pub const MAX_PACKET_BYTES: usize = 32 * 1024 * 1024;
/// The frame header: 3 bytes of length, 1 of sequence id.
pub const HEADER_BYTES: usize = 4;

/// One logical packet: the sequence id of its first frame, the joined payload, and how many
/// frames it took (the next packet's sequence id is `seq + frames`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub seq: u8,
    pub frames: u8,
    pub payload: Vec<u8>,
}

impl Packet {
    /// The sequence id the packet after this one carries.
    pub fn next_seq(&self) -> u8 {
        self.seq.wrapping_add(self.frames)
    }
}

/// Why bytes are not a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("a packet of more than {limit} bytes (max packet size)")]
    TooLarge { limit: usize },
    #[error("a frame came with sequence id {got}, expected {expected}")]
    OutOfSequence { expected: u8, got: u8 },
}

/// Splits the first logical packet off `buf`: `Ok(Some((packet, consumed)))`, `Ok(None)` when
/// more bytes are needed, an error when the bytes can never be a packet within the limits.
/// Nothing is copied until the whole packet is there, so a large packet arriving in many
/// reads costs one copy, not one per read.
pub fn take_packet(buf: &[u8]) -> Result<Option<(Packet, usize)>, PacketError> {
    // The common case, a packet in one frame, without a list of frames.
    if let Some(len) = frame_length(buf).filter(|&len| len < MAX_FRAME_PAYLOAD_BYTES) {
        let Some(payload) = buf.get(HEADER_BYTES..HEADER_BYTES + len) else {
            return Ok(None);
        };
        let packet = Packet {
            seq: buf[3],
            frames: 1,
            payload: payload.to_vec(),
        };
        return Ok(Some((packet, HEADER_BYTES + len)));
    }
    let Some(frames) = frames(buf)? else {
        return Ok(None);
    };
    let first_seq = buf[3];
    let mut payload = Vec::with_capacity(frames.iter().map(|(_, len)| len).sum());
    let mut consumed = 0;
    for &(start, len) in &frames {
        payload.extend_from_slice(&buf[start..start + len]);
        consumed = start + len;
    }
    let packet = Packet {
        seq: first_seq,
        frames: frames.len() as u8,
        payload,
    };
    Ok(Some((packet, consumed)))
}

/// The payload length in the frame header at the start of `buf`, once the header is there.
pub fn frame_length(buf: &[u8]) -> Option<usize> {
    let header = buf.get(..HEADER_BYTES)?;
    Some(usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16)
}

/// Where each frame's payload of the first packet lies in `buf` (start, length); `None`
/// until all of them are there.
fn frames(buf: &[u8]) -> Result<Option<Vec<(usize, usize)>>, PacketError> {
    let mut frames = Vec::new();
    let mut offset = 0usize;
    let mut total = 0usize;
    loop {
        let Some(header) = buf.get(offset..offset + HEADER_BYTES) else {
            return Ok(None);
        };
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        let seq = header[3];
        let expected = buf[3].wrapping_add(frames.len() as u8);
        if seq != expected {
            return Err(PacketError::OutOfSequence { expected, got: seq });
        }
        total += len;
        if total > MAX_PACKET_BYTES {
            return Err(PacketError::TooLarge {
                limit: MAX_PACKET_BYTES,
            });
        }
        let start = offset + HEADER_BYTES;
        if buf.len() < start + len {
            return Ok(None);
        }
        frames.push((start, len));
        offset = start + len;
        if len < MAX_FRAME_PAYLOAD_BYTES {
            return Ok(Some(frames));
        }
    }
}

/// Frames `payload` starting at sequence id `seq`, appending to `out`; returns the sequence
/// id of the next packet. A payload that is a multiple of the frame size ends with an empty
/// frame, as the protocol requires.
pub fn frame_into(out: &mut Vec<u8>, seq: u8, payload: &[u8]) -> u8 {
    let mut seq = seq;
    let mut rest = payload;
    loop {
        let len = rest.len().min(MAX_FRAME_PAYLOAD_BYTES);
        out.extend_from_slice(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, seq]);
        out.extend_from_slice(&rest[..len]);
        seq = seq.wrapping_add(1);
        rest = &rest[len..];
        if len < MAX_FRAME_PAYLOAD_BYTES {
            return seq;
        }
    }
}

/// One packet framed on its own.
pub fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + HEADER_BYTES);
    frame_into(&mut out, seq, payload);
    out
}

/// A cursor over a payload for the protocol's integer and string encodings; every read
/// returns `None` past the end instead of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }
    pub fn remaining(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let taken = self.bytes.get(..n)?;
        self.bytes = &self.bytes[n..];
        Some(taken)
    }
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A length-encoded integer; `None` also for 0xFB (NULL) and 0xFF (not an integer).
    pub fn lenenc(&mut self) -> Option<u64> {
        let uint = |b: &[u8]| b.iter().rev().fold(0u64, |n, &x| n << 8 | u64::from(x));
        match self.u8()? {
            n @ 0..=0xFA => Some(u64::from(n)),
            0xFC => self.take(2).map(uint),
            0xFD => self.take(3).map(uint),
            0xFE => self.take(8).map(uint),
            _ => None,
        }
    }
    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.lenenc()?).ok()?;
        self.take(len)
    }
    /// Bytes up to a NUL, which is consumed.
    pub fn nul_terminated(&mut self) -> Option<&'a [u8]> {
        let end = self.bytes.iter().position(|&b| b == 0)?;
        let s = &self.bytes[..end];
        self.bytes = &self.bytes[end + 1..];
        Some(s)
    }
}

/// Appends a length-encoded integer.
pub fn put_lenenc(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xFA => out.push(n as u8),
        0xFB..=0xFFFF => {
            out.push(0xFC);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            out.push(0xFD);
            out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xFE);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_lenenc(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}
