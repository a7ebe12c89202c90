//! `tandem-drbd-helper`: DRBD's usermode helper while tandemd runs (cli/usermode_helper.rs).
//! A binary of its own, without the CLI's argument parser: the kernel runs it as
//! `tandem-drbd-helper COMMAND TARGET`, and it is on the failover's critical path.

use std::process::ExitCode;

fn main() -> ExitCode {
    tandem::cli::usermode_helper::main(std::env::args_os().collect())
}
