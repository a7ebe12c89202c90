//! What a node says about itself: the heartbeat view for the peer, and the status the
//! operator reads in `tandem status`.

use super::{Layer, Node, PeerView, LAYERS};
use crate::drbd::{DiskState, Role};
use serde::{Deserialize, Serialize};

/// One node's status, as `tandem status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub node: String,
    pub peer: String,
    pub role: Role,
    pub disk: DiskState,
    pub peer_disk: DiskState,
    pub connection: String,
    /// Each layer of the chain and whether it is up.
    pub services: Vec<(String, bool)>,
    pub in_flight: Option<String>,
    pub peer_heard: bool,
    pub paused: bool,
    pub split_brain: Option<String>,
    /// Where the node stands (core/mode.rs); absent from older daemons.
    #[serde(default)]
    pub mode: Option<super::Mode>,
    /// Nodes whose data may be stale (fence.rs), with why: (node, detail).
    #[serde(default)]
    pub stale: Vec<(String, String)>,
    /// The cluster pause this node holds: who, when, why; absent until the first pause.
    #[serde(default)]
    pub pause: Option<super::ClusterPause>,
    /// The current decision's sentence.
    pub reason: String,
}

impl Node {
    /// The heartbeat payload. With shared-disk storage, "Primary" means holding the mount.
    pub fn view(&self) -> PeerView {
        let role = if self.cfg.drbd {
            self.drbd.role.clone()
        } else if self.up.contains(Layer::Mount) {
            Role::Primary
        } else {
            Role::Secondary
        };
        PeerView {
            role,
            disk: self.drbd.disk.clone(),
            active: self.all_up(),
            busy: self.in_flight.is_some() || (self.any_up() && !self.all_up()),
            paused: self.pause.paused,
            split_brain: self.split_brain.is_some(),
            drbd_known: !self.cfg.drbd || self.drbd_known,
            stale_peer: self.peer_stale.is_some(),
            pause: Some(self.pause.clone()),
        }
    }

    /// The peer's last heartbeat, if it is fresh.
    pub fn peer_view(&self) -> Option<PeerView> {
        self.fresh_peer().cloned()
    }

    pub fn status(&self) -> Status {
        Status {
            node: self.cfg.me.clone(),
            peer: self.cfg.peer.clone(),
            role: self.drbd.role.clone(),
            disk: self.drbd.disk.clone(),
            peer_disk: self.drbd.peer_disk.clone(),
            connection: self.drbd.connection.to_string(),
            services: LAYERS
                .iter()
                .map(|l| (format!("{l:?}"), self.up.contains(*l)))
                .collect(),
            in_flight: self.in_flight.map(|s| s.to_string()),
            peer_heard: self.peer_fresh(),
            paused: self.pause.paused,
            split_brain: self.split_brain.clone(),
            mode: Some(self.mode()),
            stale: [
                (&self.cfg.me, &self.self_stale),
                (&self.cfg.peer, &self.peer_stale),
            ]
            .into_iter()
            .filter_map(|(node, detail)| Some((node.clone(), detail.clone()?)))
            .collect(),
            pause: Some(self.pause.clone()).filter(|p| p.epoch > 0),
            reason: self.decide().reason,
        }
    }
}
