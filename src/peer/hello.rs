//! The HELLO payload: a fresh nonce and the cluster name. Pure.
//!
//! Layout: 16-byte nonce, u8 name length, then the name in UTF-8, and nothing after it. The
//! cluster name rides in HELLO so that two clusters that happen to share a key and a network
//! still refuse each other.

use super::auth::{Nonce, NONCE_BYTES};

/// The configuration allows 1-64 letters, digits, '-' or '_'.
pub const MAX_CLUSTER_NAME_BYTES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub nonce: Nonce,
    pub cluster: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("cluster name is {length_bytes} bytes; it must be 1 to {MAX_CLUSTER_NAME_BYTES}")]
    BadNameLength { length_bytes: usize },
    #[error("HELLO payload is {have} bytes where its fields need {need}")]
    WrongLength { have: usize, need: usize },
    #[error("cluster name in HELLO is not UTF-8")]
    NotUtf8,
}

impl Hello {
    pub fn encode(&self) -> Result<Vec<u8>, HelloError> {
        let name = self.cluster.as_bytes();
        let name_length = check_name_length(name.len())?;
        let mut bytes = Vec::with_capacity(NONCE_BYTES + 1 + name.len());
        bytes.extend_from_slice(&self.nonce);
        bytes.push(name_length);
        bytes.extend_from_slice(name);
        Ok(bytes)
    }

    pub fn decode(bytes: &[u8]) -> Result<Hello, HelloError> {
        let Some((&name_length, rest)) = bytes
            .get(NONCE_BYTES..)
            .and_then(|after_nonce| after_nonce.split_first())
        else {
            return Err(HelloError::WrongLength {
                have: bytes.len(),
                need: NONCE_BYTES + 1,
            });
        };
        check_name_length(usize::from(name_length))?;
        if rest.len() != usize::from(name_length) {
            return Err(HelloError::WrongLength {
                have: bytes.len(),
                need: NONCE_BYTES + 1 + usize::from(name_length),
            });
        }
        let mut nonce = [0u8; NONCE_BYTES];
        nonce.copy_from_slice(&bytes[..NONCE_BYTES]);
        let cluster = std::str::from_utf8(rest)
            .map_err(|_| HelloError::NotUtf8)?
            .to_owned();
        Ok(Hello { nonce, cluster })
    }
}

fn check_name_length(length_bytes: usize) -> Result<u8, HelloError> {
    u8::try_from(length_bytes)
        .ok()
        .filter(|&length| length > 0 && usize::from(length) <= MAX_CLUSTER_NAME_BYTES)
        .ok_or(HelloError::BadNameLength { length_bytes })
}
