//! `tandem drbd …`: the DRBD layer from the command line. `render` prints the resource file;
//! `state` and `watch` read DRBD through tandem's own parsers and model; the others are thin,
//! verified wrappers over `exec::drbdadm` that print DRBD's refusals by name:
//!
//! ```text
//! $ tandem drbd primary
//! tandem: primary: refused: PeerIsPrimary: refused by DRBD: the peer is Primary (…)
//!   0: State change failed: (-1) Multiple primaries not allowed by config
//! $ echo $?
//! 3
//! ```

use super::json::{ErrorJson, ErrorKind};
use super::{drbd_state, drbd_watch, runtime, EXIT_FAILED, EXIT_OK, EXIT_REFUSED};
use crate::config::{render, Config};
use crate::exec::drbdadm::{DrbdError, Drbdadm};
use crate::exec::events2::Events2Command;
use anyhow::Context;
use clap::Subcommand;
use std::path::Path;
use std::process::ExitCode;

/// The `tandem drbd` subcommands. Exit codes: 0 done, 1 failed, 3 refused by DRBD (the
/// refusal's name follows `refused:` on stderr, e.g. `PeerIsPrimary`, `DeviceHeldOpen`).
#[derive(Debug, Clone, Subcommand)]
pub enum DrbdCommand {
    /// Print the DRBD resource file for the config (install it as /etc/drbd.d/RESOURCE.res).
    Render,
    /// Show the resource as tandem's model sees it: roles, disks, connection, replication,
    /// sync progress, the last helper DRBD called, and the protocol in effect.
    State {
        /// One JSON object (the model's fields, plus `protocol` and `cstate_84`).
        #[arg(long)]
        json: bool,
    },
    /// Follow the resource through `drbdsetup events2` and print each change old → new,
    /// until interrupted.
    Watch {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Stop after this many changes (not counting the initial state line).
        #[arg(long)]
        count: Option<u64>,
    },
    /// `drbdadm up`: attach the backing disk and start connecting to the peer.
    Up,
    /// `drbdadm down`, verified: the kernel no longer knows the resource.
    Down,
    /// `drbdadm primary`, verified by reading the role back.
    Primary {
        /// Promote even without UpToDate data (`--force`); the peer's newer data, if any, is
        /// lost. For the first promotion of a new resource only.
        #[arg(long)]
        force: bool,
    },
    /// `drbdadm secondary`, verified by reading the role back.
    Secondary,
    /// `drbdadm connect`.
    Connect {
        /// Make this node the split-brain victim: its changes since the split are discarded.
        #[arg(long)]
        discard_my_data: bool,
    },
    /// `drbdadm disconnect`, verified: the connection is StandAlone.
    Disconnect,
    /// `drbdadm outdate` (disconnected only), verified: the disk is Outdated.
    Outdate,
    /// `drbdadm create-md`: write fresh DRBD metadata on the backing disk.
    CreateMd {
        /// Required: any existing DRBD metadata on the backing disk is destroyed.
        #[arg(long)]
        force: bool,
    },
    /// Declare two fresh, empty, connected disks identical (`drbdadm -- --clear-bitmap
    /// new-current-uuid`), which skips the initial full sync. Only for brand-new disks.
    SkipInitialSync,
}

/// Runs one `tandem drbd` command with the config at `config_path`.
pub fn run(command: DrbdCommand, config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    let Some(drbd) = config.drbd.as_ref() else {
        anyhow::bail!(
            "storage is \"shared-disk\": there is no DRBD resource; set storage = \"drbd\" and \
             add a [drbd] table to use DRBD"
        );
    };
    let resource = drbd.resource.get_ref().clone();
    let minor = drbd.minor;
    match command {
        DrbdCommand::Render => {
            let source = config_path.display().to_string();
            let rendered = render::drbd_resource(&config, &source)
                .context("storage is \"shared-disk\": there is no DRBD resource to render")?;
            print!("{rendered}");
            Ok(ExitCode::SUCCESS)
        }
        DrbdCommand::State { json } => state(&resource, minor, json),
        DrbdCommand::Watch { json, count } => {
            let command = Events2Command::drbdsetup(&resource);
            let mut stdout = std::io::stdout();
            runtime()?.block_on(drbd_watch::run(
                command,
                &resource,
                json,
                count,
                &mut stdout,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        action => act(action, &resource),
    }
}

fn state(resource: &str, minor: u32, json: bool) -> anyhow::Result<ExitCode> {
    match runtime()?.block_on(drbd_state::read(resource, minor)) {
        Ok(report) if json => println!("{}", serde_json::to_string(&report)?),
        Ok(report) => print!("{report}"),
        Err(error) if json => {
            // cli/json.rs: the error object on stdout; DRBD's refusal name leads the message.
            let kind = match error.is_refusal() {
                true => ErrorKind::Refused,
                false => ErrorKind::Failed,
            };
            let message = format!("{}: {error}", error.name());
            println!("{}", ErrorJson::new(kind, message).line());
            return Ok(ExitCode::from(if error.is_refusal() {
                EXIT_REFUSED
            } else {
                EXIT_FAILED
            }));
        }
        Err(error) => return Ok(report_error("state", &error)),
    }
    Ok(ExitCode::SUCCESS)
}

fn act(action: DrbdCommand, resource: &str) -> anyhow::Result<ExitCode> {
    let drbdadm = Drbdadm::new(resource);
    let runtime = runtime()?;
    let (name, result) = match action {
        DrbdCommand::Up => ("up", runtime.block_on(drbdadm.up())),
        DrbdCommand::Down => ("down", runtime.block_on(drbdadm.down())),
        DrbdCommand::Primary { force } => ("primary", runtime.block_on(drbdadm.primary(force))),
        DrbdCommand::Secondary => ("secondary", runtime.block_on(drbdadm.secondary())),
        DrbdCommand::Connect { discard_my_data } => (
            "connect",
            runtime.block_on(drbdadm.connect(discard_my_data)),
        ),
        DrbdCommand::Disconnect => ("disconnect", runtime.block_on(drbdadm.disconnect())),
        DrbdCommand::Outdate => ("outdate", runtime.block_on(drbdadm.outdate())),
        DrbdCommand::CreateMd { force: false } => {
            eprintln!(
                "tandem: create-md destroys any DRBD metadata on the backing disk; \
                 add --force to do it"
            );
            return Ok(ExitCode::from(EXIT_FAILED));
        }
        DrbdCommand::CreateMd { force: true } => {
            ("create-md", runtime.block_on(drbdadm.create_md()))
        }
        DrbdCommand::SkipInitialSync => (
            "skip-initial-sync",
            runtime.block_on(drbdadm.clear_bitmap_new_current_uuid()),
        ),
        DrbdCommand::Render | DrbdCommand::State { .. } | DrbdCommand::Watch { .. } => {
            anyhow::bail!("not an action")
        }
    };
    match result {
        Ok(()) => {
            println!("{resource}: {name}: done");
            Ok(ExitCode::from(EXIT_OK))
        }
        Err(error) => Ok(report_error(name, &error)),
    }
}

/// Prints `refused: NAME: sentence` (exit 3) or `failed: NAME: sentence` (exit 1), then
/// DRBD's own words, indented.
fn report_error(command: &str, error: &DrbdError) -> ExitCode {
    let (word, code) = if error.is_refusal() {
        ("refused", EXIT_REFUSED)
    } else {
        ("failed", EXIT_FAILED)
    };
    eprintln!("tandem: {command}: {word}: {}: {error}", error.name());
    let sentence = error.to_string();
    if let Some(output) = error
        .drbd_output()
        .filter(|output| !output.is_empty() && !sentence.contains(*output))
    {
        for line in output.lines() {
            eprintln!("  {line}");
        }
    }
    ExitCode::from(code)
}
