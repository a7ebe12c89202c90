//! The state every scenario starts from, so that scenarios sharing one booted pair stay
//! independent: both guests running, both links up, no process a scenario started, nothing
//! mounted, the protocol-C config installed, and DRBD up, Connected, Secondary/Secondary,
//! UpToDate/UpToDate with protocol C in effect.

use crate::engine::VIP;
use crate::files::config_path;
use crate::lab::{Lab, Link, Node, MOUNTPOINT, NODES, RESOURCE};
use crate::observe::in_sync;
use std::time::{Duration, Instant};
use tandem::drbd::Role;

/// Fresh metadata, up and connect take ~9 s under TCG; the skip of the initial sync ~1.5 s.
const RESET_TIMEOUT: Duration = Duration::from_secs(60);

impl Lab {
    /// Brings the pair to the baseline. Cheap when it is already there; otherwise the DRBD
    /// disks get fresh metadata (no scenario needs a previous scenario's data).
    pub fn baseline(&mut self) -> Duration {
        let started = Instant::now();
        self.clean_nodes();
        if !NODES.iter().all(|node| self.at_baseline(*node)) {
            self.reset_drbd();
        }
        started.elapsed()
    }

    /// The baseline without DRBD: the resource is down on both nodes (metadata kept).
    pub fn baseline_down(&mut self) -> Duration {
        let started = Instant::now();
        self.clean_nodes();
        self.both(|_, guest| guest.sh(&format!("drbdadm down {RESOURCE}")));
        started.elapsed()
    }

    /// Guests running, links up, no scenario process, nothing mounted, protocol-C config.
    fn clean_nodes(&mut self) {
        for node in NODES {
            if !self.is_running(node) {
                self.boot_again(node);
            }
        }
        self.heal(Link::Replication);
        self.heal(Link::Management);
        for node in NODES {
            let share = self.guest(node).spec.share.clone();
            for stale in ["fence.request", "fence.done"] {
                let _ = std::fs::remove_file(share.join(stale));
            }
        }
        let config = config_path(&self.run_dir, 'C');
        let clean = format!(
            "for f in /run/tandem/lab/*.pid; do [ -e \"$f\" ] || continue\n  \
               kill -9 $(cat \"$f\") 2>/dev/null; rm -f \"$f\"\n\
             done\n\
             pkill -9 -x mariadbd || true\n\
             ip addr del {VIP}/24 dev lan0 2>/dev/null || true\n\
             rm -rf /run/tandem/state /var/lib/tandem/split-brain\n\
             umount /srv/salvage 2>/dev/null; rm -rf /srv/salvage /srv/salvage-rw\n\
             i=0; while mountpoint -q {MOUNTPOINT} && ! umount {MOUNTPOINT} 2>/dev/null; do\n  \
               i=$((i+1)); [ $i -lt 50 ] || exit 1; sleep 0.1\n\
             done\n\
             cp {config} /etc/tandem/tandem.toml && tandem drbd render > /etc/drbd.d/{RESOURCE}.res",
            config = config.display()
        );
        self.both(|_, guest| guest.sh(&clean));
    }

    fn at_baseline(&mut self, node: Node) -> bool {
        let output = self.tandem(node, "drbd state --json");
        let Ok(report) =
            serde_json::from_str::<tandem::cli::drbd_state::StateReport>(&output.stdout)
        else {
            return false;
        };
        report.state.configured
            && in_sync(&report)
            && report.state.role == Role::Secondary
            && report.state.peer_role == Role::Secondary
            && report.protocol == Some('C')
            && !report.state.suspended
    }

    /// Fresh metadata on both disks, up, connect, and the initial sync skipped.
    fn reset_drbd(&mut self) {
        self.both(|_, guest| {
            guest.sh(&format!(
                "drbdadm down {RESOURCE} 2>/dev/null || true\n\
                 tandem drbd create-md --force && tandem drbd up"
            ))
        });
        self.wait_state(Node::A, "Connected", RESET_TIMEOUT, |r| {
            r.state.connection == tandem::drbd::ConnectionState::Connected
        });
        self.tandem_ok(Node::A, "drbd skip-initial-sync");
        self.wait_in_sync(RESET_TIMEOUT);
    }

    /// Installs the config with `protocol` on `node` and renders the DRBD file from it. DRBD
    /// uses it at the next connect.
    pub fn set_protocol(&mut self, node: Node, protocol: char) {
        let config = config_path(&self.run_dir, protocol);
        self.sh(
            node,
            &format!(
                "cp {} /etc/tandem/tandem.toml && tandem drbd render > /etc/drbd.d/{RESOURCE}.res",
                config.display()
            ),
        );
    }
}
