//! Each path's health as its outbound dialer sees it, for the metrics endpoint: whether an
//! authenticated session is open, and the kernel's smoothed round-trip time of its socket
//! (TCP_INFO), which costs no extra frames on the wire.

use crate::metrics::{HeartbeatGaps, PathSample};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

/// One entry per peer address, in the config's order; shared by the dialers and the loop.
/// Also the silences between the peer's messages that the listeners saw.
#[derive(Debug, Clone, Default)]
pub struct PathStats(Arc<Mutex<Vec<PathSample>>>, Arc<Mutex<HeartbeatGaps>>);

impl PathStats {
    pub fn new(addresses: &[SocketAddr]) -> Self {
        let paths = addresses
            .iter()
            .map(|address| PathSample {
                address: address.to_string(),
                ..PathSample::default()
            })
            .collect();
        Self(Arc::new(Mutex::new(paths)), Arc::default())
    }

    /// The heartbeat gaps seen so far.
    pub fn gaps(&self) -> HeartbeatGaps {
        self.1.lock().map(|gaps| *gaps).unwrap_or_default()
    }

    /// One silence between two messages of a live inbound session, `gap_ms` long. The peer
    /// timeout applies to all paths together, so a gap on one path is an upper bound.
    pub(super) fn record_gap(&self, gap_ms: u64, peer_timeout_ms: u64) {
        if let Ok(mut gaps) = self.1.lock() {
            gaps.peer_timeout_ms = peer_timeout_ms;
            gaps.max_gap_ms = gaps.max_gap_ms.max(gap_ms);
            if gap_ms.saturating_mul(2) > peer_timeout_ms {
                gaps.over_half_timeout += 1;
            }
        }
    }

    /// The paths as they are now.
    pub fn snapshot(&self) -> Vec<PathSample> {
        self.0.lock().map(|paths| paths.clone()).unwrap_or_default()
    }

    pub(super) fn set(&self, index: usize, up: bool, round_trip_seconds: Option<f64>) {
        if let Ok(mut paths) = self.0.lock() {
            if let Some(path) = paths.get_mut(index) {
                path.up = up;
                path.round_trip_seconds = round_trip_seconds;
            }
        }
    }
}

/// The smoothed round-trip time of a connected TCP socket, from `TCP_INFO`.
pub(super) fn round_trip_seconds(socket: &OwnedFd) -> Option<f64> {
    // SAFETY: tcp_info is plain data; getsockopt writes at most `length` bytes into it and
    // the descriptor is valid for the call (borrowed from an OwnedFd).
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let result = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut length,
        )
    };
    (result == 0 && info.tcpi_rtt > 0).then(|| f64::from(info.tcpi_rtt) / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[tokio::test]
    async fn a_loopback_connection_has_a_round_trip_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let fd = stream.as_fd().try_clone_to_owned().expect("dup");
        let rtt = round_trip_seconds(&fd).expect("TCP_INFO on a connected socket");
        assert!(rtt > 0.0 && rtt < 1.0, "{rtt}");
        let stats = PathStats::new(&[address]);
        stats.set(0, true, Some(rtt));
        assert!(stats.snapshot()[0].up);
    }

    #[test]
    fn gaps_keep_their_maximum_and_count_those_over_half_the_timeout() {
        let stats = PathStats::new(&[]);
        for gap_ms in [200, 450, 1_100, 300] {
            stats.record_gap(gap_ms, 2_000);
        }
        let gaps = stats.gaps();
        assert_eq!((gaps.max_gap_ms, gaps.over_half_timeout), (1_100, 1));
        assert_eq!(gaps.peer_timeout_ms, 2_000);
    }
}
