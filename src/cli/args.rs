//! The command-line definitions of both binaries, in the library so that the hidden
//! `tandem package-files` can render man pages and shell completions from the very
//! definitions `--help` shows ([`crate::cli::package_files`]).

use crate::cli::drbd::DrbdCommand;
use crate::config::DEFAULT_PATH;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Operator CLI for tandem, the high-availability manager for two-node active/passive MySQL
/// on DRBD.
#[derive(Parser)]
#[command(name = "tandem", version, about, long_about = None)]
pub struct Cli {
    /// Path of the tandem config file.
    #[arg(long, short = 'c', global = true, default_value = DEFAULT_PATH)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check this host: validate the config, render the DRBD resource and pass it through
    /// `drbdadm dump`, look for the needed programs, the VIP interface and the peer key.
    /// Prints ✓/✗ lines; exits 1 on any ✗.
    Check,
    /// Bootstrap this node, idempotently, one line per step (what, why, done / already done /
    /// skipped because): the peer key, /etc/drbd.d/RESOURCE.res, the distribution's mariadb
    /// service disabled, DRBD metadata (never over a disk holding data unless --force-data
    /// names it), the resource up; with --initial-primary also the initial sync (or its skip),
    /// the filesystem and the MariaDB datadir; then `tandem check`. Exit 0 ready, 1 failed,
    /// 3 refused (the line says why and how to go on).
    Init {
        /// Install the peer key from FILE (a copy of the other node's /etc/tandem/peer.key)
        /// instead of generating one.
        #[arg(long, value_name = "FILE")]
        key_from: Option<PathBuf>,
        /// This node provides the data: it runs the initial sync (or its skip), makes the
        /// filesystem and the datadir. On ONE node only, after `tandem init` on the other.
        #[arg(long)]
        initial_primary: bool,
        /// Both backing disks are blank: declare them in sync instead of copying every block
        /// (`drbdadm -- --clear-bitmap new-current-uuid`). Needs both nodes connected.
        #[arg(long, requires = "initial_primary")]
        skip_initial_sync: bool,
        /// The backing disk holds a filesystem or partition table that may be destroyed:
        /// DEVICE must name this node's backing disk exactly.
        #[arg(long, value_name = "DEVICE")]
        force_data: Option<PathBuf>,
        /// Copy an existing MariaDB datadir (e.g. /var/lib/mysql, server stopped) onto the
        /// DRBD filesystem instead of creating a new one; the copy is verified.
        #[arg(long, value_name = "DIR", requires = "initial_primary")]
        move_datadir: Option<PathBuf>,
    },
    /// DRBD commands: render the resource file, show or follow its state through tandem's
    /// model, and verified drbdadm actions. Exit codes: 0 done, 1 failed, 3 refused by DRBD
    /// (the refusal's name follows `refused:` on stderr, e.g. `PeerIsPrimary`).
    #[command(subcommand)]
    Drbd(DrbdCommand),
    /// Both nodes on one screen: DRBD role, disk, connection and resync progress, each
    /// service, and the sentence explaining the current decision.
    Status {
        /// Machine-readable output.
        #[arg(long, conflicts_with = "watch")]
        json: bool,
        /// Redraw whenever the status changes (polled every 500 ms, with a resync progress
        /// bar) until Ctrl-C.
        #[arg(long)]
        watch: bool,
        /// With --watch: exit after this many redraws.
        #[arg(long, requires = "watch", value_name = "N")]
        max_redraws: Option<u64>,
    },
    /// Make this node active. Refused, with the reason and the way out, when the peer may be
    /// Primary or the local disk is not UpToDate. Exit 3 when refused.
    Promote {
        /// Skip the safety checks: promote even a stale disk or over a peer that may be alive.
        /// This can lose data; the reply says which. On a terminal it asks first, naming what
        /// it skips right now.
        #[arg(long)]
        force: bool,
        /// Confirm --force without asking (for scripts; without a terminal --force needs it).
        #[arg(long, requires = "force")]
        yes: bool,
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
        /// Show each step as it happens, wait until NODE serves, then print the status.
        #[arg(long)]
        wait: bool,
    },
    /// Pause the cluster: both nodes observe and report, and act on explicit commands alone.
    ///
    /// The pause is journaled on both nodes and survives restarts; a peer that is not
    /// answering adopts it when it is heard again.
    Pause {
        /// One sentence of why, shown in `tandem status` on both nodes.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Resume automatic decisions on the cluster.
    ///
    /// Allowed while the peer is unreachable:
    /// the peer adopts this newer resume when it is heard again.
    Resume {
        /// One sentence of why, kept in the journal.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// The journal: promotions, demotions, failovers, switchovers, fencing, refusals.
    History {
        /// How many records, newest last.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON array of records (unix_ms, time, event, unwritten) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Replicas fed from the active node through the VIP (the `[[replica]]` tables).
    #[command(subcommand)]
    Replica(ReplicaCommand),
    /// Run the MySQL read/write-split proxy of the `[proxy]` table in the foreground: writes
    /// and transactions to the primary (the VIP), autocommit reads to healthy replicas, with
    /// read-your-writes; with `tandemd_metrics` it follows tandemd's view of which node
    /// serves (docs/proxy.md). Logs to stderr; stops on SIGINT/SIGTERM.
    Proxy,
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
    /// Write the man pages (tandem.8, tandemd.8) and the shell completions (bash, zsh, fish)
    /// into DIR, for the Debian package (tests/package.sh).
    #[command(hide = true, name = "package-files")]
    PackageFiles {
        /// The directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ReplicaCommand {
    /// Each replica as the active node last checked it: state (replicating, lagging,
    /// stopped, error, unreachable), IO/SQL threads, lag, GTID distance to the source, the
    /// source it replicates from, the error in one sentence and tandem's last action.
    Status {
        /// The replicas as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Seed the [[replica]] NAME from a consistent copy of this (active) node's server:
    /// mariadb-backup streamed over TCP to `tandem replica receive` on the replica host,
    /// which prepares it and sets gtid_slave_pos; tandemd then points it at the VIP.
    Add {
        name: String,
        /// HOST:PORT where `tandem replica receive` listens.
        #[arg(long)]
        to: String,
    },
    /// Re-seed an existing replica like `add` (its receiver, run with --force, moves the old
    /// datadir aside; nothing is deleted).
    Rebuild {
        name: String,
        /// HOST:PORT where `tandem replica receive --force` listens.
        #[arg(long)]
        to: String,
    },
    /// On the replica host: receive one stream from the active node into DATADIR (refused
    /// while a server runs on it, or when it is not empty without --force), prepare it, set
    /// gtid_slave_pos, hand it to the server's user. Needs no tandem.toml.
    Receive {
        /// The replica server's datadir (stopped).
        #[arg(long)]
        datadir: PathBuf,
        /// ADDRESS:PORT to listen on, e.g. 10.0.0.21:4444.
        #[arg(long)]
        listen: String,
        /// The pair nodes' addresses: a connection from any other address is refused.
        #[arg(long, required = true, value_delimiter = ',')]
        from: Vec<std::net::IpAddr>,
        /// Move a non-empty DATADIR aside (DATADIR.before-seed-UNIXTIME) and seed a fresh one.
        #[arg(long)]
        force: bool,
        /// The server's user, who owns the datadir.
        #[arg(long, default_value = "mysql")]
        user: String,
    },
    /// Disaster promotion when the DRBD pair is gone: NAME becomes the primary (refused while
    /// a pair node or the VIP answers, or while another replica is ahead of NAME), the other
    /// replicas follow it with MASTER_USE_GTID=slave_pos; prints what may be lost.
    Promote {
        name: String,
        /// Promote although the pair may still serve, or another replica is ahead (asks
        /// for confirmation when the pair may serve).
        #[arg(long)]
        force: bool,
        /// Confirm --force without a prompt (scripts).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
pub enum SplitBrainCommand {
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

/// The tandem daemon: runs on each of the two nodes.
///
/// It keeps exactly one node serving MySQL: it follows DRBD through `drbdsetup events2`,
/// talks to the peer's tandemd over the authenticated peer link, takes every decision in a
/// pure core that explains itself, and starts (DRBD Primary, mount, mysqld, VIP) or stops
/// (the reverse) the local services. Stopping tandemd leaves the services running; the next
/// start adopts them.
///
/// Signals: SIGTERM or SIGINT stop it (the services keep running), SIGHUP reloads the config
/// file (safe keys are applied, the rest is refused until a restart). Under systemd it speaks
/// the notify protocol (READY, STATUS, WATCHDOG) and logs with journal priorities.
#[derive(Parser)]
#[command(name = "tandemd", version, about, long_about)]
pub struct DaemonArgs {
    /// Path of the tandem config file.
    #[arg(long, short = 'c', default_value = DEFAULT_PATH)]
    pub config: PathBuf,
    /// Run the same checks as `tandem check`, print ✓/✗ lines and exit (1 on any ✗).
    #[arg(long)]
    pub check: bool,
    /// This node's name, when `uname -n` is not it (containers, test labs).
    #[arg(long)]
    pub node: Option<String>,
}
