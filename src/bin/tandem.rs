//! `tandem`: the operator CLI.

use anyhow::Context;
use clap::Parser;
use std::process::ExitCode;
use tandem::cli::args::{Cli, Command, SplitBrainCommand};
use tandem::cli::json::{ErrorJson, ErrorKind};
use tandem::cli::ops;
use tandem::core::Request;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = tandem::cli::json::wants_json(&cli.command);
    match run(cli) {
        Ok(code) => code,
        Err(e) if json => {
            // cli/json.rs: with --json, the error is a JSON object on stdout.
            let error = ErrorJson::new(ErrorKind::Failed, format!("{e:#}"));
            println!("{}", error.line());
            ExitCode::FAILURE
        }
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
        Command::Init {
            key_from,
            initial_primary,
            skip_initial_sync,
            force_data,
            move_datadir,
        } => {
            let options = tandem::init::Options {
                key_from,
                initial_primary,
                skip_initial_sync,
                force_data,
                move_datadir,
            };
            init(&cli.config, &options)
        }
        Command::Drbd(command) => tandem::cli::drbd::run(command, &cli.config),
        Command::Status {
            watch: true,
            max_redraws,
            ..
        } => ops_result(tandem::cli::status_watch::run(&cli.config, max_redraws)),
        Command::Status { json, .. } => ops_result(ops::status(&cli.config, json)),
        Command::Promote { force, yes } => ops_result(ops::promote(&cli.config, force, yes)),
        Command::Demote => ops_result(ops::core_request(&cli.config, Request::Demote)),
        Command::Switchover { to, force, wait } => {
            ops_result(ops::switchover(&cli.config, &to, force, wait))
        }
        Command::Pause { reason } => {
            let at_unix_ms = ops::now_unix_ms();
            let request = Request::Pause { reason, at_unix_ms };
            ops_result(ops::core_request(&cli.config, request))
        }
        Command::Resume { reason } => {
            let at_unix_ms = ops::now_unix_ms();
            let request = Request::Resume { reason, at_unix_ms };
            ops_result(ops::core_request(&cli.config, request))
        }
        Command::History { limit, json } => ops_result(ops::history(&cli.config, limit, json)),
        Command::Proxy => proxy(&cli.config),
        Command::Replica(command) => {
            ops_result(tandem::cli::replica_cmd::run(&cli.config, command))
        }
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
        Command::PackageFiles { out } => {
            let written = tandem::cli::package_files::write_all(&out)
                .with_context(|| format!("cannot write into {}", out.display()))?;
            for path in written {
                println!("{}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init(
    config_path: &std::path::Path,
    options: &tandem::init::Options,
) -> anyhow::Result<ExitCode> {
    let config = tandem::config::Config::load(config_path)?;
    let me = tandem::exec::host::node_name().context("cannot read this host's name (uname)")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let mut stdout = std::io::stdout();
    let ending = runtime.block_on(tandem::init::run(
        &config,
        config_path,
        &me,
        options,
        &mut stdout,
    ));
    Ok(match ending {
        tandem::init::Ending::Ok => ExitCode::SUCCESS,
        tandem::init::Ending::Failed => ExitCode::from(tandem::cli::EXIT_FAILED),
        tandem::init::Ending::Refused => ExitCode::from(tandem::cli::EXIT_REFUSED),
    })
}

fn ops_result(result: Result<ExitCode, String>) -> anyhow::Result<ExitCode> {
    result.map_err(anyhow::Error::msg)
}

/// `tandem proxy`: the proxy in the foreground until SIGINT or SIGTERM.
fn proxy(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    tandem::daemon::log::init();
    let config = tandem::config::Config::load(path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot watch SIGTERM")?;
        tokio::select! {
            result = tandem::proxy::runtime::run(std::sync::Arc::new(config)) => {
                result.context("tandem proxy")?;
            }
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}
