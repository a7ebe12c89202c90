//! `tandem`: the operator CLI.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tandem::config::{render, Config, DEFAULT_PATH};

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
    /// DRBD commands.
    #[command(subcommand)]
    Drbd(DrbdCommand),
}

#[derive(Subcommand)]
enum DrbdCommand {
    /// Print the DRBD resource file for the config (install it as /etc/drbd.d/RESOURCE.res).
    Render,
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
        Command::Drbd(DrbdCommand::Render) => {
            let config = Config::load(&cli.config)?;
            let source = cli.config.display().to_string();
            let rendered = render::drbd_resource(&config, &source).context(
                "storage is \"shared-disk\": there is no DRBD resource to render; \
                 set storage = \"drbd\" and add a [drbd] table to use DRBD",
            )?;
            print!("{rendered}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
