//! Renders the DRBD 8.4 resource file for a validated config. Pure: text in, text out.
//! The output is checked in tests by `drbdadm -c FILE dump` and `drbdadm -c FILE -d up`.

use super::model::{Config, Drbd, Node};
use std::fmt::Write;

/// The single shim in `kernel-helpers/`; DRBD runs each handler string through `/bin/sh -c`,
/// so the handler name travels as the shim's first argument.
pub const HELPER_SHIM: &str = "tandem-kernel-helper";

/// The DRBD handlers tandem takes over, each routed to `tandem helper NAME`.
pub const HANDLERS: &[&str] = &[
    "fence-peer",
    "unfence-peer",
    "after-resync-target",
    "initial-split-brain",
    "split-brain",
    "pri-lost-after-sb",
];

/// The resource file, ready for `/etc/drbd.d/<resource>.res`; `None` with shared-disk
/// storage, where there is no DRBD resource.
pub fn drbd_resource(config: &Config, source: &str) -> Option<String> {
    let drbd = config.drbd.as_ref()?;
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason only.
    let _ = writeln!(out, "# Rendered by `tandem drbd render` from {source}.");
    let _ = writeln!(out, "# Do not edit: change tandem.toml and render again.");
    let _ = writeln!(out, "resource {} {{", drbd.resource.get_ref());
    let _ = writeln!(
        out,
        "  device    {} minor {};",
        drbd.device.get_ref().display(),
        drbd.minor
    );
    let _ = writeln!(out, "  meta-disk {};", drbd.meta_disk);
    out.push_str(&disk_section(drbd, config.fencing()));
    out.push_str(&net_section(drbd));
    out.push_str(&handlers_section(config));
    for node in config.nodes() {
        out.push_str(&on_section(node));
    }
    out.push_str("}\n");
    Some(out)
}

fn disk_section(drbd: &Drbd, fencing: super::Fencing) -> String {
    format!(
        "  disk {{\n    fencing {};\n    c-plan-ahead 0;  # fixed resync rate\n    \
         resync-rate {};\n  }}\n",
        fencing,
        drbd.resync_rate.get_ref()
    )
}

fn net_section(drbd: &Drbd) -> String {
    let mut out = String::from("  net {\n");
    let _ = writeln!(out, "    protocol {};", drbd.protocol.get_ref());
    let _ = writeln!(out, "    after-sb-0pri {};", drbd.after_sb_0pri.get_ref());
    let _ = writeln!(out, "    after-sb-1pri {};", drbd.after_sb_1pri.get_ref());
    let _ = writeln!(out, "    after-sb-2pri {};", drbd.after_sb_2pri.get_ref());
    if let Some(alg) = &drbd.verify_alg {
        let _ = writeln!(out, "    verify-alg {};", alg.get_ref());
    }
    let _ = writeln!(out, "    ping-int {};", drbd.ping_interval_s.get_ref());
    let _ = writeln!(
        out,
        "    ping-timeout {};  # tenths of a second",
        drbd.ping_timeout_ms.get_ref() / 100
    );
    out.push_str("  }\n");
    out
}

fn handlers_section(config: &Config) -> String {
    let shim = config.helpers_dir.get_ref().join(HELPER_SHIM);
    let mut out = String::from("  handlers {\n");
    for name in HANDLERS {
        let _ = writeln!(out, "    {name} \"{} {name}\";", shim.display());
    }
    out.push_str("  }\n");
    out
}

fn on_section(node: &Node) -> String {
    let disk = node
        .backing_disk
        .as_ref()
        .map_or(String::new(), |d| d.get_ref().display().to_string());
    let address = node.replication_address.get_ref();
    let family = if address.0.is_ipv6() { "ipv6 " } else { "" };
    format!(
        "  on {} {{\n    disk    {};\n    address {family}{address};\n  }}\n",
        node.name.get_ref(),
        disk,
    )
}
