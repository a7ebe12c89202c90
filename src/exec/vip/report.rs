//! What `vip::add` and `vip::remove` did, as sentences for logs and status.

use super::MacAddr;
use crate::config::VipAddress;
use std::fmt;

/// What `add` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    Added,
    /// The address was already on the interface (e.g. after a daemon restart): adopted.
    AlreadyPresent,
}

/// What `add` did, for logs and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddReport {
    pub address: VipAddress,
    pub interface: String,
    pub label: String,
    pub outcome: AddOutcome,
    pub mac: MacAddr,
    pub gratuitous_arps_sent: u32,
}

impl fmt::Display for AddReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            address,
            interface,
            label,
            mac,
            gratuitous_arps_sent: sent,
            ..
        } = self;
        match self.outcome {
            AddOutcome::Added => write!(f, "added {address} on {interface} as {label}")?,
            AddOutcome::AlreadyPresent => write!(
                f,
                "{address} was already present on {interface}; adopted it"
            )?,
        }
        write!(f, "; sent {sent} gratuitous ARPs announcing {mac}")
    }
}

/// What `remove` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    Removed,
    /// Nothing to remove: reported, not an error.
    AlreadyAbsent,
}

/// What `remove` did, for logs and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveReport {
    pub address: VipAddress,
    pub interface: String,
    pub outcome: RemoveOutcome,
}

impl fmt::Display for RemoveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            address,
            interface,
            outcome,
        } = self;
        match outcome {
            RemoveOutcome::Removed => write!(f, "removed {} from {interface}", address.ip),
            RemoveOutcome::AlreadyAbsent => {
                write!(f, "{} was already absent from {interface}", address.ip)
            }
        }
    }
}
