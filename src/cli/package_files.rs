//! `tandem package-files --out DIR` (hidden): the man pages and shell completions that the
//! Debian package installs, rendered from the clap definitions in [`crate::cli::args`], so
//! they say what `--help` says. tests/package.sh runs it before `cargo deb`, whose assets
//! (`[package.metadata.deb]` in Cargo.toml) name the files below.

use crate::cli::args::{Cli, DaemonArgs};
use clap::CommandFactory;
use clap_complete::Shell;
use std::io;
use std::path::{Path, PathBuf};

/// The operator CLI's command name (`#[command(name = "tandem")]` on [`Cli`]).
const CLI_NAME: &str = "tandem";
/// Man section 8: system administration commands (both binaries are installed in /usr/sbin).
const MAN_SECTION: &str = "8";
/// The man pages' subdirectory of DIR.
const MAN_DIR: &str = "man";
/// The completions' subdirectory of DIR.
const COMPLETIONS_DIR: &str = "completions";
/// The shells Debian packages ship completions for; clap_complete names the files
/// (`tandem.bash`, `_tandem`, `tandem.fish`).
const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Writes DIR/man/tandem.8, DIR/man/tandemd.8 and DIR/completions/{tandem.bash, _tandem,
/// tandem.fish}; returns the paths written.
pub fn write_all(out: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let man_dir = out.join(MAN_DIR);
    std::fs::create_dir_all(&man_dir)?;
    for command in [Cli::command(), DaemonArgs::command()] {
        written.push(write_man_page(command, &man_dir)?);
    }
    let completions_dir = out.join(COMPLETIONS_DIR);
    std::fs::create_dir_all(&completions_dir)?;
    for shell in SHELLS {
        let mut command = without_hidden_commands(Cli::command());
        let name = command.get_name().to_string();
        written.push(clap_complete::generate_to(
            shell,
            &mut command,
            name,
            &completions_dir,
        )?);
    }
    Ok(written)
}

/// clap_complete offers hidden subcommands too (`helper`, `package-files`); the man pages
/// leave them out, and so do the completions: the same command with only the visible ones.
fn without_hidden_commands(full: clap::Command) -> clap::Command {
    let visible = full.get_subcommands().filter(|c| !c.is_hide_set()).cloned();
    debug_assert_eq!(full.get_name(), CLI_NAME);
    clap::Command::new(CLI_NAME)
        .args(full.get_arguments().cloned())
        .subcommands(visible.collect::<Vec<_>>())
}

fn write_man_page(command: clap::Command, dir: &Path) -> io::Result<PathBuf> {
    let path = dir.join(format!("{}.{MAN_SECTION}", command.get_name()));
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .section(MAN_SECTION)
        .render(&mut page)?;
    std::fs::write(&path, page)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_both_man_pages_and_three_completions_from_the_definitions() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_all(dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "man/tandem.8",
                "man/tandemd.8",
                "completions/tandem.bash",
                "completions/_tandem",
                "completions/tandem.fish"
            ]
        );
        let tandem = std::fs::read_to_string(&written[0]).unwrap();
        assert!(tandem.contains(".TH tandem 8"), "{tandem}");
        assert!(tandem.contains("switchover"), "{tandem}");
        assert!(
            !tandem.contains("package\\-files"),
            "a hidden command is in the man page"
        );
        let fish = std::fs::read_to_string(&written[4]).unwrap();
        assert!(fish.contains("\"switchover\""), "{fish}");
        assert!(fish.contains("-l config"), "{fish}");
        assert!(
            !fish.contains("\"helper\""),
            "a hidden command is offered: {fish}"
        );
        let tandemd = std::fs::read_to_string(&written[1]).unwrap();
        assert!(tandemd.contains(".TH tandemd 8"), "{tandemd}");
        assert!(tandemd.contains("\\-\\-check"), "{tandemd}");
    }
}
