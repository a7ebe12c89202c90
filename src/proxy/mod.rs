//! `tandem proxy`: a MySQL-protocol proxy that sends writes to the primary (the VIP) and
//! autocommit reads to healthy replicas, with read-your-writes. See docs/proxy.md.
//!
//! ```text
//! client ──handshake v10 (our scramble)──► verify against the primary's stored hash (auth.rs)
//!        ◄──OK── log in to the primary with SHA1(password) (replicas: on first read)
//! COM_QUERY ─route.rs─► primary | replica ──relay the answer (response.rs)──► client
//!                         └ after a write: the replica must pass MASTER_GTID_WAIT(@@last_gtid)
//! ```
//! The pure parts: `packet.rs` (framing), `message.rs` (messages), `response.rs` (where an
//! answer ends), `auth.rs` (mysql_native_password), `route.rs` (routing), `cluster.rs` (tandemd's
//! view of the pair). The host effects (sockets, the replica health poll, the tandemd poll)
//! are in `runtime/`.

pub mod auth;
pub mod cluster;
pub mod health;
pub mod message;
pub mod packet;
pub mod response;
pub mod route;
pub mod runtime;
#[cfg(test)]
mod tests;
