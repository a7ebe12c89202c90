//! `tandemd`: the tandem daemon.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use tandem::config::{Config, DEFAULT_PATH};

/// The tandem daemon: runs on each of the two nodes.
///
/// In this release it follows the DRBD resource's live state through a supervised
/// `drbdsetup events2` child and logs every change; the failover engine comes on top.
#[derive(Parser)]
#[command(name = "tandemd", version, about, long_about)]
struct Args {
    /// Path of the tandem config file.
    #[arg(long, short = 'c', default_value = DEFAULT_PATH)]
    config: PathBuf,
    /// Run the same checks as `tandem check`, print ✓/✗ lines and exit (1 on any ✗).
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tandemd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tandemd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
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
    let Some(resource) = config.drbd_resource().map(str::to_string) else {
        anyhow::bail!(
            "storage is \"shared-disk\": this release of tandemd only follows DRBD state, so \
             there is nothing to run yet"
        );
    };
    tracing::info!(cluster = %config.cluster.get_ref(), %resource, "following DRBD state");
    let command = tandem::exec::events2::Events2Command::drbdsetup(&resource);
    tandem::daemon::follow_drbd(command, &resource)
        .await
        .context("following DRBD state")?;
    Ok(ExitCode::SUCCESS)
}
