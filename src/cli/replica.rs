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
        let line = format!(
            "    {:<12} {:<12} lag {:<6} gtid behind {:<6} {}",
            r.name,
            r.state.to_string(),
            seconds(r.lag_seconds),
            number(r.gtid_behind),
            r.error.as_deref().unwrap_or_default()
        );
        let _ = writeln!(out, "{}", line.trim_end());
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
        "{:<12} {:<22} {:<12} {:<10} {:<4} {:<5} {:<7} {:<22} gtid (replica / source)",
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
        "{:<12} {:<22} {:<12} {:<10} {:<4} {:<5} {:<7} {:<22} {} / {}",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::ReplicaState;

    fn status(replicas: Vec<ReplicaStatus>, configured: usize) -> ClusterStatus {
        let text = r#"{"cluster":"c","local":{"node":"a","peer":"b","role":"Primary",
            "disk":"UpToDate","peer_disk":"UpToDate","connection":"Connected","services":[],
            "in_flight":null,"peer_heard":true,"paused":false,"split_brain":null,"stale":[],
            "reason":"r"},"peer":null,"sync_percent":null}"#;
        let mut status: ClusterStatus = serde_json::from_str(text).unwrap();
        status.replicas = replicas;
        status.replicas_configured = configured;
        status
    }

    #[test]
    fn summary_lines_and_the_standby_sentence() {
        let mut out = String::new();
        render_summary(&status(vec![], 0), &mut out);
        assert_eq!(out, "");
        render_summary(&status(vec![], 2), &mut out);
        assert_eq!(
            out,
            "  replicas: 2 configured, checked by the active node\n"
        );
        let mut ok = ReplicaStatus::empty("r1", "h:1", ReplicaState::Replicating, None, 0);
        ok.lag_seconds = Some(0);
        ok.gtid_behind = Some(0);
        let down = ReplicaStatus::unreachable("r3", "h:2", "cannot connect".into(), 0);
        let mut out = String::new();
        render_summary(&status(vec![ok, down], 2), &mut out);
        assert_eq!(
            out,
            "  replicas:\n    r1           replicating  lag 0s     gtid behind 0\n    \
             r3           unreachable  lag -      gtid behind -      cannot connect\n"
        );
    }
}
