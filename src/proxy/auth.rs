//! mysql_native_password without the plaintext, pure. The server stores
//! `*HEX(SHA1(SHA1(password)))`; a client answers a 20-byte scramble with
//! `SHA1(password) XOR SHA1(scramble || SHA1(SHA1(password)))`. Knowing the stored hash, the
//! proxy checks that answer and recovers `SHA1(password)` from it ([`verify`]); with that it
//! answers each backend's own scramble ([`reply`]), as a client knowing the password would.
//! The proxy never sees, stores or logs the password itself.

use sha1::{Digest, Sha1};

pub const SHA1_BYTES: usize = 20;

/// SHA1(SHA1(password)), as stored by the server.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredHash(pub [u8; SHA1_BYTES]);

/// SHA1(password): what logs in to a backend. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordSha1(pub [u8; SHA1_BYTES]);

impl std::fmt::Debug for PasswordSha1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordSha1(<hidden>)")
    }
}

impl std::fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredHash(<hidden>)")
    }
}

/// How a client's login is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The account has no password: the client must send an empty answer.
    Empty,
    Password(PasswordSha1),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the stored hash is not `*` and 40 hex digits")]
    MalformedHash,
    #[error("the answer to the scramble is wrong (wrong password)")]
    WrongPassword,
}

/// Parses `mysql.user`'s `authentication_string`: `*` and 40 hex digits; empty for no
/// password (`Ok(None)`).
pub fn parse_stored(text: &str) -> Result<Option<StoredHash>, AuthError> {
    if text.is_empty() {
        return Ok(None);
    }
    let hex = text.strip_prefix('*').ok_or(AuthError::MalformedHash)?;
    if hex.len() != 2 * SHA1_BYTES || !hex.is_ascii() {
        return Err(AuthError::MalformedHash);
    }
    let mut hash = [0u8; SHA1_BYTES];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte =
            u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| AuthError::MalformedHash)?;
    }
    Ok(Some(StoredHash(hash)))
}

fn sha1(parts: &[&[u8]]) -> [u8; SHA1_BYTES] {
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn xor(a: &[u8; SHA1_BYTES], b: &[u8; SHA1_BYTES]) -> [u8; SHA1_BYTES] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// Checks a client's `answer` to `scramble` against the stored hash (`None`: no password)
/// and returns what logs in to the backends.
pub fn verify(
    stored: Option<&StoredHash>,
    scramble: &[u8],
    answer: &[u8],
) -> Result<Credential, AuthError> {
    let Some(stored) = stored else {
        return if answer.is_empty() {
            Ok(Credential::Empty)
        } else {
            Err(AuthError::WrongPassword)
        };
    };
    let answer: &[u8; SHA1_BYTES] = answer.try_into().map_err(|_| AuthError::WrongPassword)?;
    let mask = sha1(&[scramble, &stored.0]);
    let password_sha1 = xor(answer, &mask);
    if sha1(&[&password_sha1]) == stored.0 {
        Ok(Credential::Password(PasswordSha1(password_sha1)))
    } else {
        Err(AuthError::WrongPassword)
    }
}

/// The answer to a backend's `scramble`.
pub fn reply(credential: &Credential, scramble: &[u8]) -> Vec<u8> {
    match credential {
        Credential::Empty => Vec::new(),
        Credential::Password(PasswordSha1(p)) => {
            let stored = sha1(&[p]);
            xor(p, &sha1(&[scramble, &stored])).to_vec()
        }
    }
}

/// What a client that knows `password` answers (tests, and the lab's checks).
pub fn client_answer(password: &str, scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    reply(
        &Credential::Password(PasswordSha1(sha1(&[password.as_bytes()]))),
        scramble,
    )
}
