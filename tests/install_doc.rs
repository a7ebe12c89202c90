//! docs/install.md stays true to the CLI: every `tandem …` and `tandemd …` command in its
//! shell blocks parses with the very clap definitions the binaries use. (The VM lab's
//! `install_from_the_package_and_switch_over` runs its `vmlab=` blocks for real.)

use clap::Parser;
use tandem::cli::args::{Cli, DaemonArgs};

const INSTALL_DOC: &str = include_str!("../docs/install.md");

/// The command lines of every ```sh block, comments removed.
fn shell_lines(doc: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_sh = false;
    let mut in_other = false;
    for line in doc.lines() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            match (in_sh, in_other) {
                (true, _) => in_sh = false,
                (_, true) => in_other = false,
                _ if info.split_whitespace().next() == Some("sh") => in_sh = true,
                _ => in_other = true,
            }
        } else if in_sh {
            let command = line.split(" #").next().unwrap_or("").trim();
            if !command.is_empty() && !command.starts_with('#') {
                lines.push(command.to_string());
            }
        }
    }
    lines
}

/// The `tandem …` commands quoted inline in the prose (`` `tandem init --force-data /dev/vdb` ``),
/// up to a shell redirection.
fn inline_commands(doc: &str) -> Vec<String> {
    doc.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| span.starts_with("tandem "))
        .map(|span| span.split(" >").next().unwrap_or("").trim().to_string())
        .collect()
}

/// `--help` and `--version` are real commands, which clap reports as an "error".
fn help_is_fine(e: clap::Error) -> Option<clap::Error> {
    use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
    (!matches!(e.kind(), DisplayHelp | DisplayVersion)).then_some(e)
}

#[test]
fn every_tandem_command_in_install_md_parses() {
    let mut lines = shell_lines(INSTALL_DOC);
    lines.extend(inline_commands(INSTALL_DOC));
    let tandem: Vec<&String> = lines.iter().filter(|l| l.starts_with("tandem ")).collect();
    assert!(
        tandem.len() >= 10,
        "too few tandem commands found: {lines:?}"
    );
    for line in tandem {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Err(Some(e)) = Cli::try_parse_from(&words).map_err(help_is_fine) {
            panic!("docs/install.md: `{line}` does not parse: {e}");
        }
    }
    for line in lines.iter().filter(|l| l.starts_with("tandemd ")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Err(Some(e)) = DaemonArgs::try_parse_from(&words).map_err(help_is_fine) {
            panic!("docs/install.md: `{line}` does not parse: {e}");
        }
    }
}

#[test]
fn the_lab_blocks_are_there() {
    for label in [
        "install on=both",
        "init-first on=db-a",
        "copy-key on=db-a",
        "init-second on=db-b",
        "initial-primary on=db-a",
        "start on=both",
        "verify on=db-a",
        "switchover on=db-a",
    ] {
        let marker = format!("```sh vmlab={label}\n");
        assert_eq!(
            INSTALL_DOC.matches(&marker).count(),
            1,
            "docs/install.md needs exactly one {marker:?}"
        );
    }
}
