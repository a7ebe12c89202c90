//! `tandem replica add|rebuild|receive|promote`: from the parsed arguments to the commands.

use super::args::ReplicaCommand;
use super::replica_promote::{self, Flags};
use super::replica_seed::{self, ReceiveOptions, Seed};
use std::path::Path;
use std::process::ExitCode;

pub fn run(config_path: &Path, command: ReplicaCommand) -> Result<ExitCode, String> {
    match command {
        ReplicaCommand::Status { json } => super::replica::status(config_path, json),
        ReplicaCommand::Add { name, to } => replica_seed::send(config_path, &name, &to, Seed::Add),
        ReplicaCommand::Rebuild { name, to } => {
            replica_seed::send(config_path, &name, &to, Seed::Rebuild)
        }
        ReplicaCommand::Receive {
            datadir,
            listen,
            from,
            force,
            user,
        } => replica_seed::receive(&ReceiveOptions {
            datadir,
            listen,
            from,
            force,
            user,
        }),
        ReplicaCommand::Promote { name, force, yes } => {
            replica_promote::run(config_path, &name, Flags { force, yes })
        }
    }
}
