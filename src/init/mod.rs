//! `tandem init`: bootstrap one node, idempotently, saying for each step what it does, why,
//! and whether it was done now, already done, or skipped and why.
//!
//! ```text
//! every node:        peer key → DRBD resource file → distribution's mariadb service →
//!                    DRBD metadata (never over data, unless --force-data DISK) → DRBD up
//! --initial-primary: initial sync (or its skip on two blank disks) → filesystem →
//!                    datadir (new, or --move-datadir) → back to Secondary
//! every node:        tandem check
//! ```
//! The decisions are pure ([`plan`]); [`steps`] and [`primary`] probe the host, ask the plan
//! and act through `exec/`. The first refusal or failure stops the run (exit 3 or 1): a later
//! step always depends on the earlier ones.

pub mod plan;
mod primary;
mod steps;

use crate::config::Config;
use crate::exec::drbdadm::Drbdadm;
use std::path::{Path, PathBuf};

/// Where drbdadm's default /etc/drbd.conf includes resource files from (`drbd.d/*.res`).
pub const DRBD_CONFIG_DIR: &str = "/etc/drbd.d";
/// The distribution's MariaDB unit (Debian's mariadb-server; `mysql` is an alias of it).
pub const DISTRIBUTION_UNIT: &str = "mariadb";

/// `tandem init`'s flags.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub key_from: Option<PathBuf>,
    pub initial_primary: bool,
    pub skip_initial_sync: bool,
    pub force_data: Option<PathBuf>,
    pub move_datadir: Option<PathBuf>,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(String),
    AlreadyDone(String),
    Skipped(String),
    Refused(String),
    Failed(String),
}

impl Outcome {
    fn stops(&self) -> bool {
        matches!(self, Outcome::Refused(_) | Outcome::Failed(_))
    }

    /// The line's ending: `done: …`, `already done: …`, `skipped: …`, `REFUSED: …`.
    pub fn words(&self) -> String {
        match self {
            Outcome::Done(s) => format!("done: {s}"),
            Outcome::AlreadyDone(s) => format!("already done: {s}"),
            Outcome::Skipped(s) => format!("skipped: {s}"),
            Outcome::Refused(s) => format!("REFUSED: {s}"),
            Outcome::Failed(s) => format!("FAILED: {s}"),
        }
    }
}

/// The exit code of the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Ok,
    Refused,
    Failed,
}

/// One node's bootstrap in progress.
pub(crate) struct Init<'a> {
    config: &'a Config,
    config_path: &'a Path,
    options: &'a Options,
    me: String,
    peer: String,
    drbdadm: Drbdadm,
    step: usize,
    /// The resource file was (re)written in this run, so a running resource needs adjust.
    file_changed: bool,
    out: &'a mut dyn std::io::Write,
}

impl Init<'_> {
    /// Prints `[N] WHAT (WHY): OUTCOME` and tells whether the run must stop.
    fn report(&mut self, what: &str, why: &str, outcome: &Outcome) -> bool {
        self.step += 1;
        let _ = writeln!(
            self.out,
            "[{}] {what} ({why}): {}",
            self.step,
            outcome.words()
        );
        let _ = self.out.flush();
        outcome.stops()
    }
}

/// Runs `tandem init` on this host; `me` is this node's name (`uname -n`).
pub async fn run(
    config: &Config,
    config_path: &Path,
    me: &str,
    options: &Options,
    out: &mut dyn std::io::Write,
) -> Ending {
    let (Some(_), Some(peer), Some(resource)) = (
        config.node_named(me),
        config.peer_of(me),
        config.drbd_resource(),
    ) else {
        let _ = writeln!(
            out,
            "tandem init: this host \"{me}\" is none of the nodes ({}), or the storage is not \
             DRBD; init bootstraps a DRBD node whose name is `uname -n`",
            config.node_names().join(", ")
        );
        return Ending::Refused;
    };
    let mut init = Init {
        config,
        config_path,
        options,
        me: me.to_string(),
        peer: peer.name.get_ref().clone(),
        drbdadm: Drbdadm::new(resource),
        step: 0,
        file_changed: false,
        out,
    };
    let ending = init.run_all().await;
    let _ = match ending {
        Ending::Ok => writeln!(init.out, "tandem init: node {me} is ready"),
        Ending::Refused => writeln!(init.out, "tandem init: stopped; nothing after it ran"),
        Ending::Failed => writeln!(init.out, "tandem init: failed; nothing after it ran"),
    };
    ending
}

impl Init<'_> {
    async fn run_all(&mut self) -> Ending {
        if let Some(ending) = self.node_steps().await {
            return ending;
        }
        if let Some(ending) = self.primary_steps().await {
            return ending;
        }
        self.check_step().await
    }

    async fn check_step(&mut self) -> Ending {
        let lines = crate::check::run(self.config_path).await;
        for line in &lines {
            let _ = writeln!(self.out, "    {line}");
        }
        let failed = lines.iter().filter(|l| !l.ok).count();
        let outcome = match failed {
            0 => Outcome::Done("every check passed (lines above)".into()),
            n => Outcome::Failed(format!(
                "{n} check(s) failed (✗ above); fix them and run again"
            )),
        };
        match self.report(
            "tandem check",
            "the checks tandemd itself depends on",
            &outcome,
        ) {
            true => Ending::Failed,
            false => Ending::Ok,
        }
    }
}

/// The ending a stopping outcome gives.
fn ending_of(outcome: &Outcome) -> Ending {
    match outcome {
        Outcome::Refused(_) => Ending::Refused,
        Outcome::Failed(_) => Ending::Failed,
        _ => Ending::Ok,
    }
}
