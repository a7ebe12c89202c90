//! systemd's service notification protocol (sd_notify(3)): one datagram per state change to
//! the socket named by `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
//! tandemd says `READY=1` once it has adopted what runs and bound its control socket,
//! `STATUS=` with each new decision sentence, `WATCHDOG=1` from its loop, and `STOPPING=1`.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The variables systemd sets for a `Type=notify` service with a watchdog.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
const WATCHDOG_PID: &str = "WATCHDOG_PID";

/// A STATUS= sentence longer than this is cut: a datagram must fit the socket buffer, and
/// `systemctl status` shows one line anyway.
const MAX_STATUS_BYTES: usize = 1024;

/// Where notifications go, and how often the watchdog wants to hear from the loop.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
    watchdog_interval: Option<Duration>,
}

impl Notifier {
    /// Reads the notify variables and removes them from the environment, so that children
    /// (mysqld speaks the same protocol) cannot report in tandemd's name. Call it before any
    /// other thread runs. `Ok(None)`: not started by systemd with `Type=notify`.
    pub fn from_env() -> io::Result<Option<Notifier>> {
        let socket = std::env::var(NOTIFY_SOCKET).ok();
        let usec = std::env::var(WATCHDOG_USEC).ok();
        let pid = std::env::var(WATCHDOG_PID).ok();
        for name in [NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID] {
            std::env::remove_var(name);
        }
        let Some(socket) = socket.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let interval = watchdog_interval(usec.as_deref(), pid.as_deref(), std::process::id());
        Notifier::new(&socket, interval).map(Some)
    }

    /// A notifier for the socket at `address` (`@name`: abstract namespace).
    pub fn new(address: &str, watchdog_interval: Option<Duration>) -> io::Result<Notifier> {
        let address = parse_address(address)?;
        let socket = UnixDatagram::unbound()?;
        // Never block the daemon loop on a slow or gone systemd.
        socket.set_nonblocking(true)?;
        Ok(Notifier {
            socket,
            address,
            watchdog_interval,
        })
    }

    /// How often to send `WATCHDOG=1`: half the watchdog timeout, if there is one.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog_interval
    }

    /// Sends `state`, e.g. "READY=1"; failures are logged, never fatal.
    pub fn send(&self, state: &str) {
        if let Err(e) = self.socket.send_to_addr(state.as_bytes(), &self.address) {
            tracing::debug!(error = %e, state, "cannot notify systemd");
        }
    }

    /// Sends `STATUS=sentence`, on one line and bounded.
    pub fn status(&self, sentence: &str) {
        self.send(&status_line(sentence));
    }
}

/// `STATUS=` with `sentence` on one line, cut at a character boundary.
pub fn status_line(sentence: &str) -> String {
    let mut line = format!("STATUS={}", sentence.replace('\n', " "));
    if line.len() > MAX_STATUS_BYTES {
        let mut end = MAX_STATUS_BYTES;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
    }
    line
}

/// `NOTIFY_SOCKET`'s value as an address: a path, or `@name` in the abstract namespace.
pub fn parse_address(text: &str) -> io::Result<SocketAddr> {
    match text.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None if text.starts_with('/') => SocketAddr::from_pathname(text),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("NOTIFY_SOCKET={text:?} is neither an absolute path nor @abstract"),
        )),
    }
}

/// Half of `WATCHDOG_USEC`, when the watchdog is meant for `own_pid` (`WATCHDOG_PID` unset
/// or equal to it), as sd_watchdog_enabled(3) does.
pub fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_interval_is_half_the_timeout_for_this_process_only() {
        let half = Some(Duration::from_secs(5));
        assert_eq!(watchdog_interval(Some("10000000"), None, 7), half);
        assert_eq!(watchdog_interval(Some("10000000"), Some("7"), 7), half);
        assert_eq!(watchdog_interval(Some("10000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
        assert_eq!(watchdog_interval(None, None, 7), None);
    }

    #[test]
    fn addresses_are_paths_or_abstract_names() {
        let abstract_name = parse_address("@tandem/notify").unwrap();
        assert_eq!(
            abstract_name.as_abstract_name(),
            Some(&b"tandem/notify"[..])
        );
        let path = parse_address("/run/systemd/notify").unwrap();
        assert_eq!(
            path.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        assert!(parse_address("relative").is_err());
    }

    #[test]
    fn datagrams_arrive_on_a_path_and_in_the_abstract_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        Notifier::new(path.to_str().unwrap(), None)
            .unwrap()
            .status("no action:\nidle");
        let mut buffer = [0u8; 64];
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"STATUS=no action: idle");

        let name = format!("tandem-notify-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&address).unwrap();
        Notifier::new(&format!("@{name}"), None)
            .unwrap()
            .send("READY=1");
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1");
    }

    #[test]
    fn long_status_is_cut_at_a_character_boundary() {
        let line = status_line(&"é".repeat(MAX_STATUS_BYTES));
        assert!(line.len() <= MAX_STATUS_BYTES && line.starts_with("STATUS=é"));
    }
}
