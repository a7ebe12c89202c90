//! The `[drbd]` table's checks: names, fencing against protocol and failover, the tuning
//! values DRBD itself would refuse.

use super::{node_names, Checker};
use crate::config::model::{Config, DEFAULT_USERMODE_HELPER};
use crate::config::words::{AfterSb0Pri, Fencing, Protocol};
use std::ops::Range;
use toml::Spanned;

/// DRBD's accepted range for `ping-timeout`, in tenths of a second.
const DRBD_PING_TIMEOUT_DS: Range<u32> = 1..301;

/// DRBD's accepted range for `ping-int`, in seconds.
const DRBD_PING_INTERVAL_S: Range<u32> = 1..121;

impl Checker<'_> {
    fn fencing(&mut self, config: &Config, fencing: &Spanned<Fencing>) {
        let protocol_a = config
            .drbd
            .as_ref()
            .is_some_and(|d| *d.protocol.get_ref() == Protocol::A);
        match fencing.get_ref() {
            Fencing::ResourceAndStonith if protocol_a => self.refuse(
                fencing.span(),
                "fencing \"resource-and-stonith\" cannot be used with protocol \"A\" \
                 (the DRBD kernel refuses it); set protocol = \"C\" or fencing = \"resource-only\""
                    .to_string(),
            ),
            Fencing::DontCare if config.engine.automatic_failover => self.refuse(
                fencing.span(),
                "fencing \"dont-care\" lets DRBD promote over a peer that may still be Primary, \
                 so automatic failover could run two Primaries; remove the line (tandem picks \
                 resource-and-stonith with a power fence, else resource-only), or set \
                 [engine] automatic_failover = false"
                    .to_string(),
            ),
            _ => {}
        }
    }

    pub(super) fn drbd(&mut self, config: &Config) {
        let Some(drbd) = &config.drbd else { return };
        let expected = format!("/dev/drbd{}", drbd.minor);
        if drbd.device.get_ref().as_os_str() != expected.as_str() {
            self.refuse(
                drbd.device.span(),
                format!(
                    "device \"{}\" does not match minor = {}; set device = \"{expected}\" \
                     or change minor",
                    drbd.device.get_ref().display(),
                    drbd.minor
                ),
            );
        }
        if let Some(fencing) = &drbd.fencing {
            self.fencing(config, fencing);
        }
        if let AfterSb0Pri::DiscardNode(name) = drbd.after_sb_0pri.get_ref() {
            if !config
                .node
                .iter()
                .any(|n| n.get_ref().name.get_ref() == name)
            {
                self.refuse(
                    drbd.after_sb_0pri.span(),
                    format!(
                        "after-sb-0pri \"discard-node-{name}\" names no configured node; \
                         use discard-node-<name> with one of: {}",
                        node_names(config).join(", ")
                    ),
                );
            }
        }
        for (span, message) in crate::config::policy::contradictions(drbd) {
            self.refuse(span, message);
        }
        if let Some((span, message)) = crate::config::policy::backup_dir_refusal(config) {
            self.refuse(span, message);
        }
        self.drbd_tuning(drbd);
    }

    fn drbd_tuning(&mut self, drbd: &crate::config::model::Drbd) {
        if !is_resync_rate(drbd.resync_rate.get_ref()) {
            self.refuse(
                drbd.resync_rate.span(),
                format!(
                    "resync_rate \"{}\" is not a DRBD rate; write a number of KiB/s with an \
                     optional K, M or G suffix, e.g. \"100M\"",
                    drbd.resync_rate.get_ref()
                ),
            );
        }
        if let Some(alg) = &drbd.verify_alg {
            let ok = !alg.get_ref().is_empty()
                && alg
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                self.refuse(
                    alg.span(),
                    format!(
                        "verify_alg \"{}\" is not a kernel hash name; use e.g. \"sha256\" or \
                         \"crc32c\", or remove the key",
                        alg.get_ref()
                    ),
                );
            }
        }
        let ping = *drbd.ping_interval_s.get_ref();
        if !DRBD_PING_INTERVAL_S.contains(&ping) {
            self.refuse(
                drbd.ping_interval_s.span(),
                format!("ping_interval_s = {ping} is outside DRBD's range; use 1 to 120"),
            );
        }
        let timeout = *drbd.ping_timeout_ms.get_ref();
        if !timeout.is_multiple_of(100) || !DRBD_PING_TIMEOUT_DS.contains(&(timeout / 100)) {
            self.refuse(
                drbd.ping_timeout_ms.span(),
                format!(
                    "ping_timeout_ms = {timeout} is not what DRBD accepts; use a multiple of \
                     100 between 100 and 30000"
                ),
            );
        }
        let helper = drbd.usermode_helper.get_ref();
        if !helper.as_os_str().is_empty() && !helper.is_absolute() {
            self.refuse(
                drbd.usermode_helper.span(),
                format!(
                    "usermode_helper = \"{}\" is not an absolute path; the kernel runs it \
                     without a PATH search: use \"{DEFAULT_USERMODE_HELPER}\", or \"\" to \
                     leave DRBD's own",
                    helper.display()
                ),
            );
        }
    }
}

fn is_resync_rate(rate: &str) -> bool {
    let digits = rate.trim_end_matches(['K', 'M', 'G', 'k', 'm', 'g']);
    let suffixes = rate.len() - digits.len();
    suffixes <= 1 && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}
