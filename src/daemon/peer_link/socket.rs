//! TCP options on every peer-link socket, so that a peer that lost power or rebooted is
//! noticed within about the peer timeout.
//!
//! Without them, a send to a dead peer lands in the kernel's send buffer and succeeds; TCP
//! retransmits it with growing pauses for about 15 minutes (tcp_retries2) before it gives up.
//! Meanwhile the session looks healthy, the dialer never re-dials, and a peer that came back
//! hears nothing from this node for that long. TCP_USER_TIMEOUT bounds how long sent data may
//! stay unacknowledged; keepalive probes give an idle socket data to have acknowledged.

use nix::sys::socket::{setsockopt, sockopt};
use std::os::fd::AsFd;

/// Keepalive probes start after this much silence. The kernel counts whole seconds; one is
/// the least, and a probe a second is nothing on a link that carries heartbeats anyway.
const KEEPALIVE_IDLE_S: u32 = 1;
/// Between keepalive probes.
const KEEPALIVE_INTERVAL_S: u32 = 1;
/// Probes without an answer before the kernel drops the connection; with TCP_USER_TIMEOUT set,
/// the user timeout decides first.
const KEEPALIVE_PROBES: u32 = 3;

/// Sets keepalive and a user timeout of `user_timeout_ms` on a peer-link socket.
pub(super) fn configure<S: AsFd>(socket: &S, user_timeout_ms: u64) -> nix::Result<()> {
    setsockopt(socket, sockopt::KeepAlive, &true)?;
    setsockopt(socket, sockopt::TcpKeepIdle, &KEEPALIVE_IDLE_S)?;
    setsockopt(socket, sockopt::TcpKeepInterval, &KEEPALIVE_INTERVAL_S)?;
    setsockopt(socket, sockopt::TcpKeepCount, &KEEPALIVE_PROBES)?;
    // A user timeout of 0 means the system default (~15 minutes): never ask for that.
    let user_timeout_ms = u32::try_from(user_timeout_ms.max(1)).unwrap_or(u32::MAX);
    setsockopt(socket, sockopt::TcpUserTimeout, &user_timeout_ms)
}

/// Like [`configure`], but a failure only costs the fast detection: it is logged, not fatal.
pub(super) fn configure_or_log<S: AsFd>(socket: &S, user_timeout_ms: u64) {
    if let Err(error) = configure(socket, user_timeout_ms) {
        tracing::warn!(%error, "peer link: cannot set TCP_USER_TIMEOUT/keepalive; a dead peer may go unnoticed for minutes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::getsockopt;

    #[tokio::test]
    async fn dead_peer_detection_options_are_set() {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        configure(&socket, 1_500).expect("configure");
        assert_eq!(getsockopt(&socket, sockopt::TcpUserTimeout), Ok(1_500));
        assert_eq!(getsockopt(&socket, sockopt::KeepAlive), Ok(true));
        assert_eq!(getsockopt(&socket, sockopt::TcpKeepIdle), Ok(1));
        assert_eq!(getsockopt(&socket, sockopt::TcpKeepInterval), Ok(1));
        assert_eq!(getsockopt(&socket, sockopt::TcpKeepCount), Ok(3));
    }
}
