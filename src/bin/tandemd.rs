//! `tandemd`: the tandem daemon.

use anyhow::Context;
use clap::Parser;
use std::process::ExitCode;
use tandem::cli::args::DaemonArgs;
use tandem::config::Config;
use tandem::exec::notify::Notifier;

fn main() -> ExitCode {
    let args = DaemonArgs::parse();
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

async fn run(args: DaemonArgs, notify: Option<Notifier>) -> anyhow::Result<ExitCode> {
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
