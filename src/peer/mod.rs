//! The peer link between the two daemons: authenticated, versioned frames over TCP.
//!
//! - [`frame`]: the pure codec: `TNDM` magic, version, kind, length, counter, payload, and an
//!   HMAC-SHA256 tag; the replay guard.
//! - [`auth`]: the pre-shared key (a 0600 file), session ids and tags.
//! - [`hello`]: the handshake payload (nonce, cluster name, sender and receiver node names).
//! - [`link`]: the handshake over a `TcpStream`, the [`Identity`] it checks, and [`LinkError`].
//! - [`session`]: an established session: `send`/`recv` of serde_json messages, each bounded by
//!   a timeout.
//!
//! Nothing a peer sends is parsed before its tag holds, except the fixed header (checked for
//! magic, version and length before anything is allocated) and, on the client, the server's
//! HELLO nonce and sender name, which the session id that authenticates that HELLO is derived
//! from.

pub mod auth;
pub mod error;
pub mod frame;
pub mod hello;
pub mod link;
pub mod session;

pub use auth::{KeyError, PeerKey, SessionId};
pub use error::{LinkError, Stage};
pub use frame::{FrameError, MAX_FRAME_PAYLOAD_BYTES, PROTOCOL_VERSION};
pub use link::{handshake_client, handshake_server, Identity};
pub use session::{Session, SessionReader, SessionWriter};
