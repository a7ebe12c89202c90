//! `tandem promote --force`: on a terminal the operator confirms, told what the force skips
//! on this cluster right now; a script says `--yes`. Without a terminal and without `--yes`
//! nothing is promoted.

use crate::control::ClusterStatus;
use crate::drbd::{DiskState, Role};
use std::io::{BufRead, IsTerminal, Write};

/// What `--force` skips, as sentences about this cluster's state; the generic risks when
/// the daemon's status is not known.
pub fn forced_promote_risks(status: Option<&ClusterStatus>) -> Vec<String> {
    let generic = vec![
        "the check that the peer is not Primary: if it still serves, both nodes write and \
         their data diverge (split-brain)"
            .to_string(),
        "the check that this node's disk is UpToDate: writes it missed are lost".to_string(),
    ];
    let Some(status) = status else {
        return generic;
    };
    let (local, peer) = (&status.local, &status.local.peer);
    let mut risks = Vec::new();
    match &status.peer {
        None => risks.push(format!(
            "{peer} is not heard on the peer link: if it still serves, both nodes write and \
             their data diverge (split-brain)"
        )),
        Some(view) if view.role == Role::Primary => risks.push(format!(
            "{peer} is Primary: promoting here makes two Primaries (split-brain)"
        )),
        Some(_) => {}
    }
    if local.disk != DiskState::UpToDate {
        risks.push(format!(
            "this node's disk is {}, not UpToDate: writes it missed are lost",
            local.disk
        ));
    }
    if let Some((_, detail)) = local.stale.iter().find(|(node, _)| *node == local.node) {
        risks.push(format!("this node's data may be stale: {detail}"));
    }
    if risks.is_empty() {
        return generic;
    }
    risks
}

/// Asks on the terminal; `Err` with what to do when there is no terminal.
pub fn confirm_forced_promote(risks: &[String]) -> Result<bool, String> {
    if !std::io::stdin().is_terminal() {
        return Err(
            "promote --force needs confirmation; add --yes to confirm in a script \
                    (it skips the safety checks and can lose data)"
                .to_string(),
        );
    }
    let mut err = std::io::stderr();
    let _ = writeln!(err, "promote --force skips the safety checks. Right now:");
    for risk in risks {
        let _ = writeln!(err, "  - {risk}");
    }
    let _ = write!(err, "Promote this node anyway? [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_status_the_generic_risks() {
        let risks = forced_promote_risks(None);
        assert_eq!(risks.len(), 2);
        assert!(risks[0].contains("split-brain"));
        assert!(risks[1].contains("writes it missed are lost"));
    }

    #[test]
    fn the_risks_name_this_clusters_state() {
        let status = ClusterStatus {
            cluster: "c".into(),
            local: crate::core::Status {
                node: "b".into(),
                peer: "a".into(),
                role: Role::Secondary,
                disk: DiskState::Outdated,
                peer_disk: DiskState::DUnknown,
                connection: "Connecting".into(),
                services: vec![],
                in_flight: None,
                peer_heard: false,
                paused: false,
                split_brain: None,
                mode: None,
                stale: vec![],
                pause: None,
                reason: String::new(),
            },
            peer: None,
            sync_percent: None,
            last_reload: None,
            replicas_configured: 0,
            replicas: vec![],
            heartbeat_gaps: Default::default(),
        };
        assert_eq!(
            forced_promote_risks(Some(&status)),
            [
                "a is not heard on the peer link: if it still serves, both nodes write and \
                 their data diverge (split-brain)",
                "this node's disk is Outdated, not UpToDate: writes it missed are lost",
            ]
        );
    }
}
