//! `tandemd`: the tandem daemon.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use tandem::config::{Config, DEFAULT_PATH};
use tandem::exec::notify::Notifier;

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
struct Args {
    /// Path of the tandem config file.
    #[arg(long, short = 'c', default_value = DEFAULT_PATH)]
    config: PathBuf,
    /// Run the same checks as `tandem check`, print ✓/✗ lines and exit (1 on any ✗).
    #[arg(long)]
    check: bool,
    /// This node's name, when `uname -n` is not it (containers, test labs).
    #[arg(long)]
    node: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tandem::daemon::log::init();
    // Read (and removed from the environment) before any other thread starts.
    let notify = match tandem::exec::notify::Notifier::from_env() {
        Ok(notify) => notify,
        Err(e) => {
            fatal(&format!("cannot use NOTIFY_SOCKET: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            fatal(&format!("cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, notify)) {
        Ok(code) => code,
        Err(e) => {
            fatal(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn fatal(message: &str) {
    let journal = tandem::daemon::log::to_journal();
    eprintln!("{}", tandem::daemon::log::fatal_text(message, journal));
}

async fn run(args: Args, notify: Option<Notifier>) -> anyhow::Result<ExitCode> {
    if args.check {
        let lines = tandem::check::run(&args.config).await;
        for line in &lines {
            println!("{line}");
        }
        return Ok(if lines.iter().all(|l| l.ok) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let config = Config::load(&args.config)?;
    let me = match args.node {
        Some(name) => name,
        None => tandem::exec::host::node_name().context("reading this host's name")?,
    };
    let launch = tandem::daemon::Launch {
        config_path: args.config,
        me,
        notify,
    };
    tandem::daemon::run(config, launch).await?;
    Ok(ExitCode::SUCCESS)
}
