//! The pre-shared peer key, session ids, and the HMAC-SHA256 tags that authenticate frames.
//!
//! # Key file
//! The key is the file's bytes, exactly as they are (no trimming): copy the same file to both
//! nodes. The file must be a regular file of mode 0600 or stricter, owned by the daemon's user
//! or root, and hold at least [`MIN_KEY_BYTES`]. Every refusal is a sentence that says how to
//! fix it.
//!
//! # Tags
//! `tag = HMAC-SHA256(key, session_id || direction || header || payload)`.
//! - The session id is [`SessionId::PRE_SESSION`] (all zeros) for the client's HELLO, and
//!   `HMAC(key, "tandem-session" || client_nonce || server_nonce || client_name ||
//!   server_name)` (names length-prefixed) for every later frame, so a frame from another
//!   connection, or from the same nonces between other nodes, fails its tag.
//! - The direction byte keeps a man in the middle from reflecting a node's own frames back to
//!   it: both directions share a session id and count from zero.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

type HmacSha256 = Hmac<Sha256>;

/// Below this a key is guessable; 32 bytes match HMAC-SHA256's strength.
pub const MIN_KEY_BYTES: usize = 32;

/// A key is 32 to 64 bytes; a file far larger than that is the wrong file, and the bound keeps
/// a mistaken path (a log, a device) from being read whole.
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Fresh per connection and side; 128 random bits never repeat in practice.
pub const NONCE_BYTES: usize = 16;

/// HMAC-SHA256 output.
pub const TAG_BYTES: usize = 32;

/// Mode bits that must be clear: nobody but the owner may read or write the key.
const GROUP_OTHER_BITS: u32 = 0o077;

/// Domain separation for the session id derivation.
const SESSION_LABEL: &[u8] = b"tandem-session";

/// A random per-connection value sent in HELLO.
pub type Nonce = [u8; NONCE_BYTES];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("refused: cannot read peer key {path}: {error}; create it with `(umask 077; head -c 32 /dev/urandom > {path})` and copy the same file to the peer")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("refused: peer key {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("refused: peer key {path} has mode {mode:04o}; run `chmod 600 {path}`")]
    Mode { path: PathBuf, mode: u32 },
    #[error("refused: peer key {path} is owned by uid {owner_uid}, who could replace it; run `chown {our_uid} {path}`")]
    Owner {
        path: PathBuf,
        owner_uid: u32,
        our_uid: u32,
    },
    #[error("refused: peer key {path} holds {length_bytes} bytes, fewer than {MIN_KEY_BYTES}; write a longer random key with `(umask 077; head -c 32 /dev/urandom > {path})` and copy it to the peer")]
    TooShort { path: PathBuf, length_bytes: u64 },
    #[error("refused: peer key {path} holds more than {MAX_KEY_FILE_BYTES} bytes; is it the right file?")]
    TooLong { path: PathBuf },
}

/// The pre-shared key, kept as a ready HMAC state (the key schedule is computed once).
#[derive(Clone)]
pub struct PeerKey {
    mac: HmacSha256,
}

impl std::fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerKey(<redacted>)")
    }
}

/// A received tag is not the one the key, session and direction give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagMismatch;

impl PeerKey {
    /// Loads and checks the key file. The checks run on the opened file, not the path, so the
    /// file cannot be swapped between check and read.
    pub fn load(path: &Path) -> Result<PeerKey, KeyError> {
        let read_error = |error| KeyError::Read {
            path: path.to_path_buf(),
            error,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let metadata = file.metadata().map_err(read_error)?;
        check_metadata(path, &metadata)?;
        let mut bytes = Vec::new();
        file.take(MAX_KEY_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
            return Err(KeyError::TooLong {
                path: path.to_path_buf(),
            });
        }
        Self::from_bytes_at(path, &bytes)
    }

    /// A key from bytes already in memory (tests, or a key handed over by another component).
    pub fn from_bytes(bytes: &[u8]) -> Result<PeerKey, KeyError> {
        Self::from_bytes_at(Path::new("(in memory)"), bytes)
    }

    fn from_bytes_at(path: &Path, bytes: &[u8]) -> Result<PeerKey, KeyError> {
        let too_short = || KeyError::TooShort {
            path: path.to_path_buf(),
            length_bytes: bytes.len() as u64,
        };
        if bytes.len() < MIN_KEY_BYTES {
            return Err(too_short());
        }
        // HMAC accepts keys of any length; the error arm is unreachable but kept typed.
        let mac = <HmacSha256 as Mac>::new_from_slice(bytes).map_err(|_| too_short())?;
        Ok(PeerKey { mac })
    }

    /// The tag of one frame (see the module documentation for what it covers).
    pub fn tag(
        &self,
        session: &SessionId,
        direction: Direction,
        header: &[u8],
        payload: &[u8],
    ) -> [u8; TAG_BYTES] {
        self.tag_state(session, direction, header, payload)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Checks a received tag in constant time.
    pub fn verify(
        &self,
        session: &SessionId,
        direction: Direction,
        header: &[u8],
        payload: &[u8],
        tag: &[u8],
    ) -> Result<(), TagMismatch> {
        self.tag_state(session, direction, header, payload)
            .verify_slice(tag)
            .map_err(|_| TagMismatch)
    }

    fn tag_state(
        &self,
        session: &SessionId,
        direction: Direction,
        header: &[u8],
        payload: &[u8],
    ) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(&session.0);
        mac.update(&[direction as u8]);
        mac.update(header);
        mac.update(payload);
        mac
    }
}

fn check_metadata(path: &Path, metadata: &std::fs::Metadata) -> Result<(), KeyError> {
    let path = path.to_path_buf();
    if !metadata.is_file() {
        return Err(KeyError::NotAFile { path });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(KeyError::Mode { path, mode });
    }
    let our_uid = nix::unistd::geteuid().as_raw();
    let owner_uid = metadata.uid();
    if owner_uid != our_uid && owner_uid != 0 {
        return Err(KeyError::Owner {
            path,
            owner_uid,
            our_uid,
        });
    }
    if metadata.len() < MIN_KEY_BYTES as u64 {
        return Err(KeyError::TooShort {
            path,
            length_bytes: metadata.len(),
        });
    }
    Ok(())
}

/// Which way a frame travels; part of every tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Direction {
    ClientToServer = 1,
    ServerToClient = 2,
}

/// Identifies one connection; every frame's tag covers it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionId([u8; TAG_BYTES]);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionId(")?;
        for byte in &self.0[..4] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…)")
    }
}

impl SessionId {
    /// The client's HELLO comes before any session exists.
    pub const PRE_SESSION: SessionId = SessionId([0; TAG_BYTES]);

    /// `HMAC(key, "tandem-session" || client_nonce || server_nonce || len(client_name) ||
    /// client_name || len(server_name) || server_name)`, each length a u64 BE; `client` and
    /// `server` are (nonce, node name). The names make a session a→b distinct from b→a and
    /// from a→a even with the same nonces; the lengths keep ("ab", "c") apart from ("a", "bc").
    pub fn derive(key: &PeerKey, client: (&Nonce, &str), server: (&Nonce, &str)) -> SessionId {
        let mut mac = key.mac.clone();
        mac.update(SESSION_LABEL);
        mac.update(client.0);
        mac.update(server.0);
        for name in [client.1, server.1] {
            mac.update(&(name.len() as u64).to_be_bytes());
            mac.update(name.as_bytes());
        }
        SessionId(mac.finalize().into_bytes().into())
    }

    pub fn as_bytes(&self) -> &[u8; TAG_BYTES] {
        &self.0
    }
}

/// A fresh random nonce from the operating system.
pub fn fresh_nonce() -> Result<Nonce, getrandom::Error> {
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce)?;
    Ok(nonce)
}

#[cfg(test)]
mod tests;
