//! `tandem`: the operator CLI.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tandem::cli::drbd::DrbdCommand;
use tandem::cli::ops;
use tandem::config::DEFAULT_PATH;
use tandem::core::Request;

/// Operator CLI for tandem, the high-availability manager for two-node active/passive MySQL
/// on DRBD.
#[derive(Parser)]
#[command(name = "tandem", version, about, long_about = None)]
struct Cli {
    /// Path of the tandem config file.
    #[arg(long, short = 'c', global = true, default_value = DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check this host: validate the config, render the DRBD resource and pass it through
    /// `drbdadm dump`, look for the needed programs, the VIP interface and the peer key.
    /// Prints ✓/✗ lines; exits 1 on any ✗.
    Check,
    /// DRBD commands: render the resource file, show or follow its state through tandem's
    /// model, and verified drbdadm actions. Exit codes: 0 done, 1 failed, 3 refused by DRBD
    /// (the refusal's name follows `refused:` on stderr, e.g. `PeerIsPrimary`).
    #[command(subcommand)]
    Drbd(DrbdCommand),
    /// Both nodes on one screen: DRBD role, disk, connection and resync progress, each
    /// service, and the sentence explaining the current decision.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Make this node active. Refused, with the reason and the way out, when the peer may be
    /// Primary or the local disk is not UpToDate. Exit 3 when refused.
    Promote {
        /// Skip the safety checks: promote even a stale disk or over a peer that may be alive.
        /// This can lose data; the reply says which.
        #[arg(long)]
        force: bool,
    },
    /// Stop serving here (VIP, mysqld, mount, DRBD Secondary) and hand over to the peer.
    Demote,
    /// Move the service to NODE (the peer, or this node) through the same path as a failover.
    Switchover {
        /// The node that should serve afterwards.
        #[arg(long)]
        to: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        force: bool,
        /// Wait until NODE serves, then print the status.
        #[arg(long)]
        wait: bool,
    },
    /// Observe and report only; act on explicit commands alone.
    Pause,
    /// Resume automatic decisions.
    Resume,
    /// The journal: promotions, demotions, failovers, switchovers, fencing, refusals.
    History {
        /// How many records, newest last.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON array of records (unix_ms, time, event, unwritten) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Split-brain: whether one stands and what each side did during it.
    #[command(subcommand, name = "split-brain")]
    SplitBrain(SplitBrainCommand),
    /// Entry point for DRBD's handlers (kernel-helpers/tandem-kernel-helper NAME): relays the
    /// call to tandemd and exits with DRBD's expected code.
    #[command(hide = true)]
    Helper {
        /// fence-peer, unfence-peer, after-resync-target, split-brain, initial-split-brain,
        /// pri-lost-after-sb.
        name: String,
    },
}

#[derive(Subcommand)]
enum SplitBrainCommand {
    /// Whether a split-brain stands on the resource; each side's generation, whether it was
    /// Primary when its data diverged and how much it changed (from this node's kernel log,
    /// which records both sides at the handshake); tandemd's detection and journal.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Resolve it, keeping NODE's data, on both nodes over the peer link: the other node
    /// stops its services, keeps a copy of its backing device (in
    /// [engine] split_brain_backup_dir, with a manifest), discards its changes and resyncs
    /// from NODE. Prints each step and the resync progress. Exit 3 when refused.
    Resolve {
        /// The node whose data survives.
        #[arg(long)]
        keep: String,
        /// Discard without keeping a copy of the victim's data.
        #[arg(long)]
        no_backup: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tandem: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the runtime")?;
            let lines = runtime.block_on(tandem::check::run(&cli.config));
            for line in &lines {
                println!("{line}");
            }
            Ok(if lines.iter().all(|l| l.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Drbd(command) => tandem::cli::drbd::run(command, &cli.config),
        Command::Status { json } => ops_result(ops::status(&cli.config, json)),
        Command::Promote { force } => {
            ops_result(ops::core_request(&cli.config, Request::Promote { force }))
        }
        Command::Demote => ops_result(ops::core_request(&cli.config, Request::Demote)),
        Command::Switchover { to, force, wait } => {
            ops_result(ops::switchover(&cli.config, &to, force, wait))
        }
        Command::Pause => ops_result(ops::core_request(&cli.config, Request::Pause)),
        Command::Resume => ops_result(ops::core_request(&cli.config, Request::Resume)),
        Command::History { limit, json } => ops_result(ops::history(&cli.config, limit, json)),
        Command::SplitBrain(SplitBrainCommand::Status { json }) => {
            ops_result(tandem::cli::split_brain::status(&cli.config, json))
        }
        Command::SplitBrain(SplitBrainCommand::Resolve {
            keep,
            no_backup,
            force,
        }) => ops_result(tandem::cli::split_brain_resolve::resolve(
            &cli.config,
            &keep,
            !no_backup,
            force,
        )),
        Command::Helper { name } => Ok(ops::helper(&cli.config, &name)),
    }
}

fn ops_result(result: Result<ExitCode, String>) -> anyhow::Result<ExitCode> {
    result.map_err(anyhow::Error::msg)
}
