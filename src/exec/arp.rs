//! ARP over Ethernet for IPv4: pure builders and a parser for the frames tandem sends and
//! reads (RFC 826 layout, RFC 5227 probes and announcements), and a raw `AF_PACKET` socket
//! bound to one interface to carry them.
//!
//! The socket is created in the network namespace of the calling thread: a socket belongs
//! to the namespace it was created in, whatever thread later polls it.

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::str::FromStr;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::Instant;

/// An Ethernet (EUI-48) hardware address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The Ethernet broadcast address: every host on the segment receives the frame.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// All zeroes: RFC 5227 puts it in the target hardware field, which receivers ignore.
    pub const ZERO: MacAddr = MacAddr([0; 6]);
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for MacAddr {
    type Err = String;

    /// Reads `52:54:00:12:34:56`, the form `ip link` prints.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = || format!("\"{text}\" is not a MAC address like \"52:54:00:12:34:56\"");
        let mut bytes = [0u8; 6];
        let mut parts = text.split(':');
        for byte in &mut bytes {
            let part = parts.next().filter(|p| p.len() == 2).ok_or_else(refuse)?;
            *byte = u8::from_str_radix(part, 16).map_err(|_| refuse())?;
        }
        match parts.next() {
            None => Ok(MacAddr(bytes)),
            Some(_) => Err(refuse()),
        }
    }
}

/// EtherType of ARP.
const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv4, the ARP protocol type we resolve.
const ETHERTYPE_IPV4: u16 = 0x0800;
/// ARP hardware type of Ethernet.
const HARDWARE_ETHERNET: u16 = 1;
/// Ethernet header: destination, source, EtherType.
const ETHERNET_HEADER_LEN: usize = 14;
/// ARP body for IPv4 over Ethernet: 8 bytes of header plus two (MAC, IPv4) pairs.
const ARP_BODY_LEN: usize = 28;
/// An ARP frame without the padding to 60 bytes, which receivers strip or ignore.
pub const FRAME_LEN: usize = ETHERNET_HEADER_LEN + ARP_BODY_LEN;

/// The ARP operation field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOperation {
    Request = 1,
    Reply = 2,
}

/// The fields of an IPv4-over-Ethernet ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket {
    pub operation: ArpOperation,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

/// Why a received frame is not an ARP packet tandem understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArpParseError {
    #[error("frame of {len} bytes is shorter than an ARP frame ({FRAME_LEN} bytes)")]
    TooShort { len: usize },
    #[error("EtherType {ethertype:#06x} is not ARP")]
    NotArp { ethertype: u16 },
    #[error(
        "ARP for hardware type {hardware}, protocol {protocol:#06x} is not IPv4 over Ethernet"
    )]
    NotIpv4OverEthernet { hardware: u16, protocol: u16 },
    #[error("ARP operation {operation} is neither request (1) nor reply (2)")]
    UnknownOperation { operation: u16 },
}

/// An RFC 5227 ARP probe: "who has `ip`?" from `own_mac` with sender IP 0.0.0.0, so that
/// no neighbour cache learns anything from it, broadcast.
pub fn probe_frame(own_mac: MacAddr, ip: Ipv4Addr) -> [u8; FRAME_LEN] {
    encode(
        MacAddr::BROADCAST,
        &ArpPacket {
            operation: ArpOperation::Request,
            sender_mac: own_mac,
            sender_ip: Ipv4Addr::UNSPECIFIED,
            target_mac: MacAddr::ZERO,
            target_ip: ip,
        },
    )
}

/// A gratuitous ARP (an RFC 5227 announcement): a broadcast request with sender IP = target
/// IP = `ip`, so every host that already has `ip` in its neighbour cache moves it to
/// `own_mac`.
pub fn gratuitous_frame(own_mac: MacAddr, ip: Ipv4Addr) -> [u8; FRAME_LEN] {
    encode(
        MacAddr::BROADCAST,
        &ArpPacket {
            operation: ArpOperation::Request,
            sender_mac: own_mac,
            sender_ip: ip,
            target_mac: MacAddr::ZERO,
            target_ip: ip,
        },
    )
}

/// Lays out an Ethernet header and the ARP packet; the Ethernet source is the sender MAC.
pub fn encode(destination: MacAddr, packet: &ArpPacket) -> [u8; FRAME_LEN] {
    let mut frame = [0u8; FRAME_LEN];
    frame[0..6].copy_from_slice(&destination.0);
    frame[6..12].copy_from_slice(&packet.sender_mac.0);
    frame[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    frame[14..16].copy_from_slice(&HARDWARE_ETHERNET.to_be_bytes());
    frame[16..18].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    frame[18] = 6; // hardware address length
    frame[19] = 4; // protocol address length
    frame[20..22].copy_from_slice(&(packet.operation as u16).to_be_bytes());
    frame[22..28].copy_from_slice(&packet.sender_mac.0);
    frame[28..32].copy_from_slice(&packet.sender_ip.octets());
    frame[32..38].copy_from_slice(&packet.target_mac.0);
    frame[38..42].copy_from_slice(&packet.target_ip.octets());
    frame
}

/// Reads an Ethernet frame carrying IPv4-over-Ethernet ARP; trailing padding is ignored.
pub fn parse_frame(frame: &[u8]) -> Result<ArpPacket, ArpParseError> {
    let Some(frame) = frame.get(..FRAME_LEN) else {
        return Err(ArpParseError::TooShort { len: frame.len() });
    };
    let u16_at = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
    let mac_at = |at: usize| {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&frame[at..at + 6]);
        MacAddr(mac)
    };
    let ip_at = |at: usize| Ipv4Addr::new(frame[at], frame[at + 1], frame[at + 2], frame[at + 3]);
    let ethertype = u16_at(12);
    if ethertype != ETHERTYPE_ARP {
        return Err(ArpParseError::NotArp { ethertype });
    }
    let (hardware, protocol) = (u16_at(14), u16_at(16));
    if hardware != HARDWARE_ETHERNET || protocol != ETHERTYPE_IPV4 || frame[18..20] != [6, 4] {
        return Err(ArpParseError::NotIpv4OverEthernet { hardware, protocol });
    }
    let operation = match u16_at(20) {
        1 => ArpOperation::Request,
        2 => ArpOperation::Reply,
        operation => return Err(ArpParseError::UnknownOperation { operation }),
    };
    Ok(ArpPacket {
        operation,
        sender_mac: mac_at(22),
        sender_ip: ip_at(28),
        target_mac: mac_at(32),
        target_ip: ip_at(38),
    })
}

/// The MAC of another host that claims `ip`, per RFC 5227 section 2.1.1: any ARP packet whose
/// sender IP is `ip`, or another host's probe for `ip` (both probing at once). Our own
/// frames, should they come back, are never a conflict.
pub fn conflicting_claim(packet: &ArpPacket, ip: Ipv4Addr, own_mac: MacAddr) -> Option<MacAddr> {
    let other_host = packet.sender_mac != own_mac;
    let claims = packet.sender_ip == ip;
    let probes = packet.operation == ArpOperation::Request
        && packet.sender_ip.is_unspecified()
        && packet.target_ip == ip;
    (other_host && (claims || probes)).then_some(packet.sender_mac)
}

/// Enough for any ARP frame (42 bytes, 60 with padding); longer frames are truncated, and
/// are not ARP for IPv4 anyway.
pub const RECEIVE_BUFFER_LEN: usize = 128;

/// A raw `AF_PACKET` socket that sends whole Ethernet frames on one interface and receives
/// only ARP frames from it. Non-blocking, polled by tokio; the fd is closed on drop.
pub struct ArpSocket {
    fd: AsyncFd<OwnedFd>,
}

impl ArpSocket {
    /// Opens the socket in the calling thread's network namespace and binds it to
    /// `ifindex`. Needs CAP_NET_RAW and a tokio runtime with I/O enabled.
    pub fn open(ifindex: u32) -> io::Result<Self> {
        let ifindex = i32::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ifindex out of range"))?;
        // Protocol 0 receives nothing until bind() sets the ARP filter and the interface, so
        // no frame from another interface slips in between the two calls.
        let flags = libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: socket() takes no pointers; its result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_PACKET, flags, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns; OwnedFd closes it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let address = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: ETHERTYPE_ARP.to_be(),
            sll_ifindex: ifindex,
            // Only used on receive, and for sendto() without a full header.
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        };
        let length = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: the pointer and length describe `address`, which outlives the call.
        let bound = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::addr_of!(address).cast::<libc::sockaddr>(),
                length,
            )
        };
        if bound < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: an OwnedFd always reports the descriptor it owns, and keeps it open until
        // it drops, which happens only when the AsyncFd drops.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
        Ok(Self { fd })
    }

    /// Sends one whole Ethernet frame (header included).
    pub async fn send(&self, frame: &[u8]) -> io::Result<()> {
        let sent = self
            .fd
            .async_io(Interest::WRITABLE, |fd| {
                nix::sys::socket::send(fd.as_raw_fd(), frame, nix::sys::socket::MsgFlags::empty())
                    .map_err(io::Error::from)
            })
            .await?;
        if sent != frame.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", frame.len()),
            ));
        }
        Ok(())
    }

    /// Waits for the next ARP frame until `deadline`: its length, or `None` at the deadline.
    pub async fn receive(&self, buffer: &mut [u8], deadline: Instant) -> io::Result<Option<usize>> {
        let receive = self.fd.async_io(Interest::READABLE, |fd| {
            nix::sys::socket::recv(fd.as_raw_fd(), buffer, nix::sys::socket::MsgFlags::empty())
                .map_err(io::Error::from)
        });
        match tokio::time::timeout_at(deadline, receive).await {
            Ok(received) => received.map(Some),
            Err(_elapsed) => Ok(None),
        }
    }

    /// Sends `count` RFC 5227 probes for `ip`, listening `wait` after each, and returns the
    /// MAC of the first other host that claims `ip` (see [`conflicting_claim`]).
    pub async fn probe(
        &self,
        own_mac: MacAddr,
        ip: Ipv4Addr,
        count: u32,
        wait: Duration,
    ) -> io::Result<Option<MacAddr>> {
        let frame = probe_frame(own_mac, ip);
        let mut buffer = [0u8; RECEIVE_BUFFER_LEN];
        for _ in 0..count {
            self.send(&frame).await?;
            let deadline = Instant::now() + wait;
            while let Some(len) = self.receive(&mut buffer, deadline).await? {
                // Frames that are not IPv4 ARP say nothing about `ip`.
                let packet = parse_frame(&buffer[..len]).ok();
                let claim = packet.and_then(|packet| conflicting_claim(&packet, ip, own_mac));
                if claim.is_some() {
                    return Ok(claim);
                }
            }
        }
        Ok(None)
    }

    /// Sends `count` gratuitous ARPs for `ip`, `interval` apart.
    pub async fn announce(
        &self,
        own_mac: MacAddr,
        ip: Ipv4Addr,
        count: u32,
        interval: Duration,
    ) -> io::Result<()> {
        let frame = gratuitous_frame(own_mac, ip);
        for sent in 0..count {
            if sent > 0 {
                tokio::time::sleep(interval).await;
            }
            self.send(&frame).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
