//! The address types of `tandem.toml`: `host:port` and `ADDRESS/PREFIX`, each refused with a
//! sentence that shows the expected form.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// `host:port`, refused with a sentence that shows the expected form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address(pub SocketAddr);

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map(Address).map_err(|_| {
            serde::de::Error::custom(format!(
                "\"{text}\" is not an IP address with a port; write it as \"10.0.0.1:7789\" \
                 (IPv6: \"[fd00::1]:7789\")"
            ))
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An address with its prefix length, e.g. 10.0.0.100/24.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VipAddress {
    pub ip: IpAddr,
    pub prefix_len: u8,
}

impl<'de> Deserialize<'de> for VipAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_vip(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "\"{text}\" is not ADDRESS/PREFIX; write it as \"10.0.0.100/24\""
            ))
        })
    }
}

fn parse_vip(text: &str) -> Option<VipAddress> {
    let (ip, prefix) = text.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let prefix_len: u8 = prefix.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (prefix_len <= max).then_some(VipAddress { ip, prefix_len })
}

impl fmt::Display for VipAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix_len)
    }
}
