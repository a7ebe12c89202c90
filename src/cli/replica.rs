//! `tandem replica status` and the replica lines of `tandem status`: the active node's last
//! check of each `[[replica]]` (daemon/replicas.rs). A standby node checks none, and says so.

use super::ops::{ask, socket_path};
use crate::control::{ClusterStatus, ControlRequest, ControlResponse};
use crate::replica::ReplicaStatus;
use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

/// tandemd answers status at once; longer means it is stuck.
const REQUEST_TIMEOUT_MS: u64 = 10_000;

/// The short lines under `tandem status`; nothing when no replica is configured.
pub fn render_summary(status: &ClusterStatus, out: &mut String) {
    if status.replicas_configured == 0 {
        return;
    }
    if status.replicas.is_empty() {
        let _ = writeln!(
            out,
            "  replicas: {} configured, checked by the active node",
            status.replicas_configured
        );
        return;
    }
    let _ = writeln!(out, "  replicas:");
    for r in &status.replicas {
        let _ = write!(
            out,
            "    {:<12} {:<12} lag {:<6} gtid behind {:<6}",
            r.name,
            r.state.to_string(),
            seconds(r.lag_seconds),
            number(r.gtid_behind)
        );
        match &r.error {
            Some(error) => {
                let _ = writeln!(out, " {error}");
            }
            None => out.push('\n'),
        }
    }
}

/// The detailed table of `tandem replica status`.
pub fn render_table(status: &ClusterStatus) -> String {
    let mut out = String::new();
    if status.replicas_configured == 0 {
        let _ = writeln!(out, "no [[replica]] is configured");
        return out;
    }
    if status.replicas.is_empty() {
        let _ = writeln!(
            out,
            "{} replicas configured; {} is not active, the active node checks them \
             (run this there)",
            status.replicas_configured, status.local.node
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{:<12} {:<22} {:<12} {:<10} {:<4} {:<5} {:<7} {:<7} gtid (replica / source)",
        "replica", "address", "state", "io", "sql", "lag", "behind", "source"
    );
    for r in &status.replicas {
        render_row(&mut out, r);
    }
    out
}

fn render_row(out: &mut String, r: &ReplicaStatus) {
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let source = r
        .source
        .as_deref()
        .map_or("-", |s| if s.is_empty() { "-" } else { s });
    let _ = writeln!(
        out,
        "{:<12} {:<22} {:<12} {:<10} {:<4} {:<5} {:<7} {:<7} {} / {}",
        r.name,
        r.address,
        r.state.to_string(),
        text(&r.io_running),
        text(&r.sql_running),
        seconds(r.lag_seconds),
        number(r.gtid_behind),
        source,
        text(&r.gtid_pos),
        text(&r.source_pos),
    );
    if let Some(error) = &r.error {
        let _ = writeln!(out, "  {}: {error}", r.name);
    }
    if let Some(action) = &r.last_action {
        let _ = writeln!(out, "  {}: last action: {action}", r.name);
    }
}

fn seconds(value: Option<u64>) -> String {
    value.map_or("-".into(), |s| format!("{s}s"))
}

fn number(value: Option<u64>) -> String {
    value.map_or("-".into(), |n| n.to_string())
}

/// `tandem replica status [--json]`; `--json` prints the `replicas` array of `status --json`.
pub fn status(config_path: &Path, json: bool) -> Result<ExitCode, String> {
    let socket = socket_path(config_path);
    match ask(&socket, ControlRequest::Status, REQUEST_TIMEOUT_MS)? {
        ControlResponse::Status(status) if json => {
            let text = serde_json::to_string_pretty(&status.replicas).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        ControlResponse::Status(status) => {
            print!("{}", render_table(&status));
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unexpected answer from tandemd: {other:?}")),
    }
}
