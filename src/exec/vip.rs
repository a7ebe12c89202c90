//! The virtual IP: probe that nobody else answers for it (RFC 5227), add or remove it with
//! rtnetlink, and announce it with gratuitous ARPs sent in-process (never by `arping`).
//!
//! # Namespaces and threads
//! Every function opens its own netlink socket and, where it needs one, its own packet
//! socket, on the calling thread, then drives them inside the caller's future: nothing is
//! spawned. A socket belongs to the network namespace of the thread that created it, so a
//! caller that entered a namespace with `setns()` (per thread) must await these functions on
//! that thread, e.g. on a current-thread runtime. Polling may later happen on any thread.
//!
//! IPv4 only for the ARP parts (probe, add, gratuitous ARPs); an IPv6 VIP is refused there
//! with [`VipError::Ipv6Unsupported`] rather than added without an announcement.

mod report;

pub use report::{AddOutcome, AddReport, RemoveOutcome, RemoveReport};

use super::arp::{ArpSocket, MacAddr};
use crate::config::{VipAddress, VipSettings};
use futures_util::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkLayerType};
use netlink_packet_route::AddressFamily;
use rtnetlink::Handle;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Probes sent before claiming the VIP. RFC 5227 sends 3 over 1–2 s and then waits 2 s,
/// because it guards self-configuring hosts on LANs nobody manages. On the LAN tandem runs
/// on, a holder of the VIP is a live host that answers within milliseconds; failover time is
/// what counts. Two probes survive the loss of one frame.
const PROBE_COUNT: u32 = 2;
/// How long to listen for an answer after each probe: an answer on a LAN takes < 1 ms, and
/// under an emulator (the VM lab) a few ms; both probes sit on the failover's critical path.
const PROBE_WAIT: Duration = Duration::from_millis(50);
/// Caps gratuitous ARPs so that `add` cannot stall a failover for long, whatever the config.
const MAX_GRATUITOUS_ARPS: u32 = 10;
/// Caps the pause between gratuitous ARPs, for the same reason.
const MAX_GRATUITOUS_ARP_INTERVAL_MS: u64 = 1_000;
/// The kernel answers a netlink request in microseconds; no answer in this long means the
/// host is in trouble, and the daemon's loop must hear about it rather than hang.
const NETLINK_TIMEOUT_MS: u64 = 2_000;
/// Linux interface names, and so IPv4 address labels, hold at most IFNAMSIZ - 1 bytes.
const IFNAME_MAX_LEN: usize = 15;

/// Why a VIP operation did not happen. Refusals name what was refused and why.
#[derive(Debug, thiserror::Error)]
pub enum VipError {
    #[error(
        "refused: there is no interface \"{interface}\" in this network namespace; a missing \
         interface is an error, never skipped"
    )]
    NoSuchInterface { interface: String },
    #[error("refused: interface \"{interface}\" has no Ethernet address, so ARP cannot announce the VIP on it")]
    NotEthernet { interface: String },
    #[error(
        "refused: interface \"{interface}\" is down, so the VIP could not be probed or announced"
    )]
    InterfaceDown { interface: String },
    #[error("refused: {ip} is already answered for by {mac}; another host holds the VIP")]
    Conflict { ip: Ipv4Addr, mac: MacAddr },
    #[error("refused: {address} is IPv6; tandem probes and announces only IPv4 VIPs (ARP)")]
    Ipv6Unsupported { address: VipAddress },
    #[error("netlink: {operation} on \"{interface}\" failed: {source}")]
    Netlink {
        operation: &'static str,
        interface: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("{operation} on \"{interface}\" failed: {source}")]
    Socket {
        operation: &'static str,
        interface: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "netlink: {operation} on \"{interface}\" got no answer within {NETLINK_TIMEOUT_MS} ms"
    )]
    Timeout {
        operation: &'static str,
        interface: String,
    },
}

/// The label tandem gives the VIP (`ip addr show label lan0:tandem`). The kernel's label
/// field holds 15 bytes and `ip` insists that it begins with the interface name, so long
/// names get a shorter suffix, and names of 14–15 bytes the bare name.
pub fn address_label(interface: &str) -> String {
    [":tandem", ":t"]
        .iter()
        .map(|suffix| format!("{interface}{suffix}"))
        .find(|label| label.len() <= IFNAME_MAX_LEN)
        .unwrap_or_else(|| interface.to_string())
}

/// Sends ARP probes for the VIP and listens for another host that answers for it (or probes
/// for it at the same time): `Conflict`, naming that host's MAC. Sends nothing that would
/// change anyone's neighbour cache.
pub async fn probe(vip: &VipSettings) -> Result<(), VipError> {
    let ip = ipv4(vip)?;
    let (index, mac) = arp_link(&vip.interface).await?;
    probe_on(&vip.interface, index, mac, ip).await
}

/// Probes, adds the VIP with tandem's label, and announces it with
/// `gratuitous_arp_count` gratuitous ARPs `gratuitous_arp_interval_ms` apart. An address
/// already present is adopted and announced again. A conflict leaves the host untouched;
/// a failure to announce after adding leaves the address in place (a retry adopts it).
pub async fn add(vip: &VipSettings) -> Result<AddReport, VipError> {
    let (count, _) = announcement(vip);
    add_sending(vip, count).await
}

/// As [`add`], but returns after the FIRST gratuitous ARP: the daemon sends the rest with
/// [`announce_rest`] off the failover's critical path (they only cover a lost frame).
pub async fn add_first_announced(vip: &VipSettings) -> Result<AddReport, VipError> {
    add_sending(vip, 1).await
}

/// The configured gratuitous ARPs after the first one: one interval, then the others.
pub async fn announce_rest(vip: &VipSettings) -> Result<u32, VipError> {
    let ip = ipv4(vip)?;
    let (count, interval) = announcement(vip);
    if count <= 1 {
        return Ok(0);
    }
    tokio::time::sleep(interval).await;
    let (index, mac) = arp_link(&vip.interface).await?;
    announce(&vip.interface, index, mac, ip, vip, count - 1).await
}

async fn add_sending(vip: &VipSettings, count: u32) -> Result<AddReport, VipError> {
    let ip = ipv4(vip)?;
    let interface = vip.interface.as_str();
    let (index, mac) = arp_link(interface).await?;
    probe_on(interface, index, mac, ip).await?;
    let address = vip.address;
    let label = address_label(interface);
    let request_label = label.clone();
    let outcome = with_netlink(interface, "adding the VIP", |handle| async move {
        let mut request = handle.address().add(index, address.ip, address.prefix_len);
        let attributes = &mut request.message_mut().attributes;
        attributes.push(AddressAttribute::Label(request_label));
        match request.execute().await {
            Ok(()) => Ok(AddOutcome::Added),
            Err(source) if errno(&source) == Some(libc::EEXIST) => Ok(AddOutcome::AlreadyPresent),
            Err(source) => Err(netlink_error("adding the VIP", interface, source)),
        }
    })
    .await?;
    let gratuitous_arps_sent = announce(interface, index, mac, ip, vip, count).await?;
    Ok(AddReport {
        address,
        interface: interface.to_string(),
        label,
        outcome,
        mac,
        gratuitous_arps_sent,
    })
}

/// Sends the configured gratuitous ARPs for the VIP, e.g. to re-announce it; returns how
/// many were sent.
pub async fn send_gratuitous_arps(vip: &VipSettings) -> Result<u32, VipError> {
    let ip = ipv4(vip)?;
    let (index, mac) = arp_link(&vip.interface).await?;
    let (count, _) = announcement(vip);
    announce(&vip.interface, index, mac, ip, vip, count).await
}

/// Removes the VIP from the interface, whatever prefix or label it carries, so that an
/// address added by hand goes too: what matters is that this host stops answering for it.
/// An absent address is reported as such, not as an error.
pub async fn remove(vip: &VipSettings) -> Result<RemoveReport, VipError> {
    let interface = vip.interface.as_str();
    let address = vip.address;
    let outcome = with_netlink(interface, "removing the VIP", |handle| async move {
        let link = find_link(&handle, interface).await?;
        let request = handle.address().del(delete_message(link.index, address));
        match request.execute().await {
            Ok(()) => Ok(RemoveOutcome::Removed),
            Err(source) if errno(&source) == Some(libc::EADDRNOTAVAIL) => {
                Ok(RemoveOutcome::AlreadyAbsent)
            }
            Err(source) => Err(netlink_error("removing the VIP", interface, source)),
        }
    })
    .await?;
    Ok(RemoveReport {
        address,
        interface: interface.to_string(),
        outcome,
    })
}

/// Whether the VIP's IP is on the interface (with any prefix), for the monitor.
pub async fn present(vip: &VipSettings) -> Result<bool, VipError> {
    let interface = vip.interface.as_str();
    let ip = vip.address.ip;
    with_netlink(interface, "listing addresses", |handle| async move {
        let link = find_link(&handle, interface).await?;
        let mut addresses = handle
            .address()
            .get()
            .set_link_index_filter(link.index)
            .set_address_filter(ip)
            .execute();
        match addresses.try_next().await {
            Ok(found) => Ok(found.is_some()),
            Err(source) => Err(netlink_error("listing addresses", interface, source)),
        }
    })
    .await
}

/// What netlink says about an interface.
struct Link {
    index: u32,
    mac: Option<MacAddr>,
    up: bool,
}

/// The index and MAC of an interface that can carry ARP, or the refusal why it cannot.
async fn arp_link(interface: &str) -> Result<(u32, MacAddr), VipError> {
    let operation = "looking up the interface";
    let link = with_netlink(interface, operation, |handle| async move {
        find_link(&handle, interface).await
    })
    .await?;
    let mac = link.mac.ok_or_else(|| VipError::NotEthernet {
        interface: interface.to_string(),
    })?;
    if !link.up {
        return Err(VipError::InterfaceDown {
            interface: interface.to_string(),
        });
    }
    Ok((link.index, mac))
}

async fn find_link(handle: &Handle, interface: &str) -> Result<Link, VipError> {
    let missing = || VipError::NoSuchInterface {
        interface: interface.to_string(),
    };
    // The kernel refuses malformed names with EINVAL; they can name no interface either.
    if interface.is_empty() || interface.len() > IFNAME_MAX_LEN || interface.contains('/') {
        return Err(missing());
    }
    let mut links = handle.link().get().match_name(interface).execute();
    let message = match links.try_next().await {
        Ok(Some(message)) => message,
        Ok(None) => return Err(missing()),
        Err(source) if errno(&source) == Some(libc::ENODEV) => return Err(missing()),
        Err(source) => return Err(netlink_error("looking up the interface", interface, source)),
    };
    // Loopback also reports a 6-byte (all-zero) address: only Ethernet links carry ARP.
    let ethernet = message.header.link_layer_type == LinkLayerType::Ether;
    let mac = message
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::Address(bytes) if ethernet => <[u8; 6]>::try_from(&bytes[..]).ok(),
            _ => None,
        });
    Ok(Link {
        index: message.header.index,
        mac: mac.map(MacAddr),
        up: message.header.flags.contains(LinkFlags::Up),
    })
}

/// Deletes by local address only: the kernel then matches any prefix and label.
fn delete_message(index: u32, address: VipAddress) -> AddressMessage {
    let mut message = AddressMessage::default();
    message.header.index = index;
    message.header.prefix_len = address.prefix_len;
    message.header.family = match address.ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    message.attributes.push(AddressAttribute::Local(address.ip));
    message
}

/// Opens a netlink connection on the calling thread (so in its network namespace), runs
/// `work` with it, and drives the connection in the same future until `work` ends, bounded
/// by `NETLINK_TIMEOUT_MS`. The socket closes when this returns.
async fn with_netlink<T, F, Fut>(
    interface: &str,
    operation: &'static str,
    work: F,
) -> Result<T, VipError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T, VipError>>,
{
    let (connection, handle, _messages) =
        rtnetlink::new_connection().map_err(|source| VipError::Socket {
            operation: "opening a netlink socket",
            interface: interface.to_string(),
            source,
        })?;
    let work = tokio::time::timeout(Duration::from_millis(NETLINK_TIMEOUT_MS), work(handle));
    tokio::select! {
        done = work => done.map_err(|_elapsed| VipError::Timeout {
            operation,
            interface: interface.to_string(),
        })?,
        // The connection ends only if its socket fails; the request can then never complete.
        () = connection => Err(socket_error(
            operation,
            interface,
            std::io::Error::other("the netlink connection closed before the kernel answered"),
        )),
    }
}

async fn probe_on(interface: &str, index: u32, mac: MacAddr, ip: Ipv4Addr) -> Result<(), VipError> {
    let socket = open_socket(interface, index)?;
    let claim = socket.probe(mac, ip, PROBE_COUNT, PROBE_WAIT).await;
    match claim.map_err(|source| socket_error("probing with ARP", interface, source))? {
        Some(holder) => Err(VipError::Conflict { ip, mac: holder }),
        None => Ok(()),
    }
}

async fn announce(
    interface: &str,
    index: u32,
    mac: MacAddr,
    ip: Ipv4Addr,
    vip: &VipSettings,
    count: u32,
) -> Result<u32, VipError> {
    let (_, interval) = announcement(vip);
    let socket = open_socket(interface, index)?;
    let sent = socket.announce(mac, ip, count, interval).await;
    sent.map_err(|source| socket_error("sending gratuitous ARPs", interface, source))?;
    Ok(count)
}

/// The configured count and interval, kept within their bounds (at least one ARP: adding
/// a VIP nobody hears of would leave clients on the old MAC).
fn announcement(vip: &VipSettings) -> (u32, Duration) {
    let configured = vip.gratuitous_arp_count;
    let count = configured.clamp(1, MAX_GRATUITOUS_ARPS);
    let interval_ms = vip
        .gratuitous_arp_interval_ms
        .min(MAX_GRATUITOUS_ARP_INTERVAL_MS);
    if count != configured || interval_ms != vip.gratuitous_arp_interval_ms {
        tracing::warn!(
            count,
            interval_ms,
            "gratuitous ARP settings out of bounds; clamped"
        );
    }
    (count, Duration::from_millis(interval_ms))
}

fn open_socket(interface: &str, index: u32) -> Result<ArpSocket, VipError> {
    ArpSocket::open(index)
        .map_err(|source| socket_error("opening an ARP socket", interface, source))
}

fn ipv4(vip: &VipSettings) -> Result<Ipv4Addr, VipError> {
    match vip.address.ip {
        IpAddr::V4(ip) => Ok(ip),
        IpAddr::V6(_) => Err(VipError::Ipv6Unsupported {
            address: vip.address,
        }),
    }
}

/// The errno of a netlink NACK (the kernel sends it negated).
fn errno(error: &rtnetlink::Error) -> Option<i32> {
    match error {
        rtnetlink::Error::NetlinkError(message) => Some(message.raw_code().abs()),
        _ => None,
    }
}

fn netlink_error(operation: &'static str, interface: &str, source: rtnetlink::Error) -> VipError {
    VipError::Netlink {
        operation,
        interface: interface.to_string(),
        source,
    }
}

fn socket_error(operation: &'static str, interface: &str, source: std::io::Error) -> VipError {
    VipError::Socket {
        operation,
        interface: interface.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests;
