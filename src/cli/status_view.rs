//! `tandem status`: one screen, both nodes.

use crate::control::ClusterStatus;
use std::fmt::Write;

pub fn render(status: &ClusterStatus) -> String {
    let local = &status.local;
    let mut out = String::new();
    let _ = writeln!(out, "cluster {}", status.cluster);
    let _ = writeln!(
        out,
        "  {:<10} {:<10} {:<12} services",
        "node", "role", "disk"
    );
    let services: Vec<String> = local
        .services
        .iter()
        .map(|(name, up)| format!("{} {}", name.to_lowercase(), if *up { "✓" } else { "·" }))
        .collect();
    let mut flags = String::new();
    let mode = local.mode.map(|mode| format!("{mode:?}"));
    if let Some(mode) = &mode {
        flags.push_str(&format!(" {mode}"));
    }
    // The mode already says Paused; a paused node in another mode (an operator's command
    // running) still shows the flag.
    if local.paused && mode.as_deref() != Some("Paused") {
        flags.push_str(" PAUSED");
    }
    let _ = writeln!(
        out,
        "  {:<10} {:<10} {:<12} {}   (this node){flags}",
        local.node,
        local.role.to_string(),
        local.disk.to_string(),
        services.join(" ")
    );
    match &status.peer {
        Some(peer) => {
            let state = if peer.active {
                "active"
            } else if peer.busy {
                "busy"
            } else {
                "standby"
            };
            let paused = if peer.paused { " PAUSED" } else { "" };
            let _ = writeln!(
                out,
                "  {:<10} {:<10} {:<12} {state}   (peer, heard){paused}",
                local.peer,
                peer.role.to_string(),
                peer.disk.to_string()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  {:<10} {:<10} {:<12} ?   (peer, SILENT)",
                local.peer, "?", "?"
            );
        }
    }
    let _ = write!(
        out,
        "  DRBD: {}, peer disk {}",
        local.connection, local.peer_disk
    );
    if let Some(percent) = status.sync_percent {
        let _ = write!(out, ", resync {percent:.1}%");
    }
    out.push('\n');
    if let Some(line) = gaps_line(&status.heartbeat_gaps) {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(pause) = local.pause.as_ref().filter(|p| p.paused) {
        let _ = writeln!(out, "  {}", pause_line(pause));
    }
    if let Some(step) = &local.in_flight {
        let _ = writeln!(out, "  running: {step}");
    }
    if let Some(detail) = &local.split_brain {
        let _ = writeln!(out, "  SPLIT-BRAIN: {detail}");
    }
    for (node, detail) in &local.stale {
        let _ = writeln!(
            out,
            "  MAY BE STALE: {node}: {detail}; no automatic promote of {node} until DRBD has \
             resynced it"
        );
    }
    if let Some(reload) = &status.last_reload {
        render_reload(&mut out, reload);
    }
    super::replica::render_summary(status, &mut out);
    let _ = writeln!(out, "  why: {}", local.reason);
    out
}

/// How close the peer link runs to its timeout; `None` before the peer was first heard.
pub fn gaps_line(gaps: &crate::metrics::HeartbeatGaps) -> Option<String> {
    if gaps.peer_timeout_ms == 0 {
        return None;
    }
    let percent = gaps.max_gap_ms * 100 / gaps.peer_timeout_ms;
    Some(format!(
        "peer link: longest silence {} ms, {percent}% of the {} ms peer timeout; {} over half \
         of it",
        gaps.max_gap_ms, gaps.peer_timeout_ms, gaps.over_half_timeout
    ))
}

/// The last `SIGHUP`: what it applied, and what it refused or why the file was invalid.
fn render_reload(out: &mut String, reload: &crate::control::ReloadReport) {
    if !reload.invalid.is_empty() {
        let _ = writeln!(
            out,
            "  last reload: REFUSED, the file is invalid (running as before):"
        );
        for line in &reload.invalid {
            let _ = writeln!(out, "    {line}");
        }
        return;
    }
    let applied = if reload.applied.is_empty() {
        "nothing".to_string()
    } else {
        reload.applied.join(", ")
    };
    let _ = writeln!(out, "  last reload: applied {applied}");
    for sentence in &reload.refused {
        let _ = writeln!(out, "    refused: {sentence}");
    }
}

/// "PAUSED (cluster) by b at …: why" — who paused, when and why, on both nodes.
pub fn pause_line(pause: &crate::core::ClusterPause) -> String {
    let why = if pause.reason.is_empty() {
        "no reason given".to_string()
    } else {
        pause.reason.clone()
    };
    format!(
        "PAUSED (cluster, epoch {}) by {} at {}: {why}; acting only on explicit commands \
         until `tandem resume`",
        pause.epoch,
        pause.by,
        super::ops::format_unix_ms(pause.at_unix_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::HeartbeatGaps;

    #[test]
    fn the_gaps_line_says_how_close_to_the_timeout_the_link_runs() {
        assert_eq!(gaps_line(&HeartbeatGaps::default()), None);
        let gaps = HeartbeatGaps {
            max_gap_ms: 540,
            over_half_timeout: 0,
            peer_timeout_ms: 2_000,
        };
        assert_eq!(
            gaps_line(&gaps).as_deref(),
            Some(
                "peer link: longest silence 540 ms, 27% of the 2000 ms peer timeout; 0 over \
                 half of it"
            )
        );
    }
}
