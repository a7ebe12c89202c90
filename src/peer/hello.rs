//! The HELLO payload: a fresh nonce, the sender's instance, the cluster name, and who sends it
//! to whom. Pure.
//!
//! # Layout
//! ```text
//! 16 bytes  nonce (fresh per connection)
//! 16 bytes  instance (drawn once per daemon start)
//! u8        cluster name length (1-64), then the cluster name in UTF-8
//! u8        sender node name length (1-253), then the sender's node name in UTF-8
//! u8        receiver node name length (1-253), then the receiver's node name in UTF-8
//! ```
//! and nothing after it. The cluster name rides in HELLO so that two clusters that happen to
//! share a key and a network still refuse each other. The node names let each side check that
//! it talks to its configured peer and not to itself (a connection looped back to its own
//! listener, by a misconfiguration or by someone reflecting it), and both names are bound into
//! the session id, so a session a→b can never pass for b→a or a→a. The instance tells a
//! listener that the peer daemon restarted (a new instance) rather than re-dialled one path
//! (the same instance), so the node can drop its own outbound sessions to the old one.

use super::auth::{Nonce, NONCE_BYTES};

/// A random id a daemon draws once at start and sends in every HELLO.
pub type Instance = [u8; INSTANCE_BYTES];

/// 128 random bits: two starts never draw the same.
pub const INSTANCE_BYTES: usize = 16;

/// The configuration allows 1-64 letters, digits, '-' or '_'.
pub const MAX_CLUSTER_NAME_BYTES: usize = 64;

/// Node names are host names (`uname -n`), which the configuration bounds at 253 bytes, the
/// longest DNS name; it still fits the one-byte length.
pub const MAX_NODE_NAME_BYTES: usize = 253;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub nonce: Nonce,
    pub instance: Instance,
    pub cluster: String,
    /// The node that sends this HELLO.
    pub sender: String,
    /// The node the sender means to talk to.
    pub receiver: String,
}

/// Which name of a HELLO an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloField {
    Cluster,
    Sender,
    Receiver,
}

impl HelloField {
    fn max_bytes(self) -> usize {
        match self {
            HelloField::Cluster => MAX_CLUSTER_NAME_BYTES,
            HelloField::Sender | HelloField::Receiver => MAX_NODE_NAME_BYTES,
        }
    }
}

impl std::fmt::Display for HelloField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HelloField::Cluster => "cluster name",
            HelloField::Sender => "sender node name",
            HelloField::Receiver => "receiver node name",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("{field} is {length_bytes} bytes; it must be 1 to {}", field.max_bytes())]
    BadNameLength {
        field: HelloField,
        length_bytes: usize,
    },
    #[error("HELLO payload is {have} bytes where its fields need {need}")]
    WrongLength { have: usize, need: usize },
    #[error("{field} in HELLO is not UTF-8")]
    NotUtf8 { field: HelloField },
}

impl Hello {
    pub fn encode(&self) -> Result<Vec<u8>, HelloError> {
        let fields = [
            (HelloField::Cluster, &self.cluster),
            (HelloField::Sender, &self.sender),
            (HelloField::Receiver, &self.receiver),
        ];
        let names_bytes: usize = fields.iter().map(|(_, name)| 1 + name.len()).sum();
        let mut bytes = Vec::with_capacity(NONCE_BYTES + INSTANCE_BYTES + names_bytes);
        bytes.extend_from_slice(&self.nonce);
        bytes.extend_from_slice(&self.instance);
        for (field, name) in fields {
            bytes.push(check_name_length(field, name.len())?);
            bytes.extend_from_slice(name.as_bytes());
        }
        Ok(bytes)
    }

    pub fn decode(bytes: &[u8]) -> Result<Hello, HelloError> {
        let mut cursor = Cursor { bytes, at: 0 };
        let mut nonce = [0u8; NONCE_BYTES];
        nonce.copy_from_slice(cursor.take(NONCE_BYTES)?);
        let mut instance = [0u8; INSTANCE_BYTES];
        instance.copy_from_slice(cursor.take(INSTANCE_BYTES)?);
        let cluster = cursor.name(HelloField::Cluster)?;
        let sender = cursor.name(HelloField::Sender)?;
        let receiver = cursor.name(HelloField::Receiver)?;
        if cursor.at != bytes.len() {
            return Err(HelloError::WrongLength {
                have: bytes.len(),
                need: cursor.at,
            });
        }
        Ok(Hello {
            nonce,
            instance,
            cluster,
            sender,
            receiver,
        })
    }
}

/// Reads the fields in order; every read is bounds-checked against the payload.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, length: usize) -> Result<&'a [u8], HelloError> {
        let end = self.at.saturating_add(length);
        let taken = self
            .bytes
            .get(self.at..end)
            .ok_or(HelloError::WrongLength {
                have: self.bytes.len(),
                need: end,
            })?;
        self.at = end;
        Ok(taken)
    }

    fn name(&mut self, field: HelloField) -> Result<String, HelloError> {
        let length = usize::from(self.take(1)?[0]);
        check_name_length(field, length)?;
        let name = self.take(length)?;
        std::str::from_utf8(name)
            .map(str::to_owned)
            .map_err(|_| HelloError::NotUtf8 { field })
    }
}

fn check_name_length(field: HelloField, length_bytes: usize) -> Result<u8, HelloError> {
    u8::try_from(length_bytes)
        .ok()
        .filter(|&length| length > 0 && usize::from(length) <= field.max_bytes())
        .ok_or(HelloError::BadNameLength {
            field,
            length_bytes,
        })
}

#[cfg(test)]
mod tests;
