//! The Debian package (Cargo.toml `[package.metadata.deb]`, built by cargo-deb): its file list
//! with modes, its control fields and conffiles, that the service is neither enabled nor
//! started on install, and that the unpacked files run. The package is built once per test
//! run from the test build's binaries (`cargo deb --no-build --profile dev`); tests/package.sh
//! builds the release package from the same metadata. Without cargo-deb the tests FAIL, never
//! skip: tests/run.sh installs it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const TANDEM: &str = env!("CARGO_BIN_EXE_tandem");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const SCRATCH_DIR: &str = env!("CARGO_TARGET_TMPDIR");
/// Where Cargo.toml's assets expect `tandem package-files` to have written.
const PACKAGE_FILES_DIR: &str = "target/package-files";
/// The version tests/run.sh installs.
const CARGO_DEB_INSTALL: &str = "cargo install cargo-deb --locked --version 3.6.0";
const SHIM: &str = "usr/lib/tandem/kernel-helpers/tandem-kernel-helper";

fn run(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the .deb once for all tests of this file and returns its path.
fn package() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        let has_cargo_deb = Command::new("cargo")
            .args(["deb", "--version"])
            .output()
            .is_ok_and(|out| out.status.success());
        assert!(
            has_cargo_deb,
            "cargo-deb is not installed: {CARGO_DEB_INSTALL} (tests/run.sh does)"
        );
        let root = Path::new(MANIFEST_DIR);
        let files = root.join(PACKAGE_FILES_DIR);
        let _ = std::fs::remove_dir_all(&files);
        run(Command::new(TANDEM)
            .arg("package-files")
            .arg("--out")
            .arg(&files));
        let out_dir = Path::new(SCRATCH_DIR).join("package");
        let _ = std::fs::remove_dir_all(&out_dir);
        let out = run(Command::new("cargo")
            .current_dir(root)
            .args([
                "deb",
                "--no-build",
                "--locked",
                "--profile",
                "dev",
                "--output",
            ])
            .arg(&out_dir));
        let printed = text(&out);
        // The package, not its debug symbols' tandem-dbgsym .ddeb.
        let deb = printed.lines().map(str::trim).find(|l| l.ends_with(".deb"));
        PathBuf::from(deb.unwrap_or_else(|| panic!("cargo deb printed no .deb path: {printed}")))
    })
}

/// `dpkg-deb -c` lines reduced to "MODE PATH", e.g. "-rwxr-xr-x usr/sbin/tandem".
fn contents(deb: &Path) -> Vec<String> {
    let out = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    text(&out)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some(format!(
                "{} {}",
                fields.first()?,
                fields.last()?.trim_start_matches("./")
            ))
        })
        .collect()
}

#[test]
fn the_package_installs_each_file_with_its_mode() {
    let listed = contents(package());
    for expected in [
        "-rwxr-xr-x usr/sbin/tandemd",
        "-rwxr-xr-x usr/sbin/tandem",
        &format!("-rwxr-xr-x {SHIM}"),
        "-rwxr-xr-x usr/lib/tandem/tandem-drbd-helper",
        "-rw-r--r-- etc/tandem/tandem.toml",
        // Debian 12 merges /usr: this is /lib/systemd/system/tandemd.service.
        "-rw-r--r-- usr/lib/systemd/system/tandemd.service",
        "-rw-r--r-- usr/share/man/man8/tandem.8.gz",
        "-rw-r--r-- usr/share/man/man8/tandemd.8.gz",
        "-rw-r--r-- usr/share/bash-completion/completions/tandem",
        "-rw-r--r-- usr/share/zsh/vendor-completions/_tandem",
        "-rw-r--r-- usr/share/fish/vendor_completions.d/tandem.fish",
        "-rw-r--r-- usr/share/doc/tandem/README.md",
        "-rw-r--r-- usr/share/doc/tandem/operations.md",
        "-rw-r--r-- usr/share/doc/tandem/runbooks/split-brain.md",
    ] {
        assert!(
            listed.iter().any(|l| l == expected),
            "{expected} is not in the package:\n{}",
            listed.join("\n")
        );
    }
}

#[test]
fn the_control_fields_name_the_conffile_and_the_dependencies() {
    let deb = package();
    let control = text(&run(Command::new("dpkg-deb").arg("-f").arg(deb)));
    for expected in [
        "Section: admin",
        "Priority: optional",
        "Depends: drbd-utils, iproute2, libc6",
    ] {
        assert!(
            control.contains(expected),
            "{expected} is not in:\n{control}"
        );
    }
    assert!(
        control.contains("mariadb-server | default-mysql-server"),
        "{control}"
    );
    let conffiles = text(&run(Command::new("dpkg-deb")
        .arg("-I")
        .arg(deb)
        .arg("conffiles")));
    assert!(
        conffiles
            .lines()
            .any(|l| l.trim() == "/etc/tandem/tandem.toml"),
        "/etc/tandem/tandem.toml is not a conffile: {conffiles:?}"
    );
}

#[test]
fn installing_neither_enables_nor_starts_tandemd() {
    let postinst = text(&run(Command::new("dpkg-deb")
        .arg("-I")
        .arg(package())
        .arg("postinst")));
    // cargo-deb's "dont-enable" fragment re-enables only a unit the admin had enabled.
    assert!(
        postinst.contains("deb-systemd-helper debian-installed tandemd.service"),
        "{postinst}"
    );
    assert!(
        !postinst.contains("was-enabled defaults to true"),
        "{postinst}"
    );
    assert!(!postinst.contains("_dh_action=start"), "{postinst}");
    assert!(!postinst.contains("deb-systemd-invoke start"), "{postinst}");
}

/// Unpacks the package into a scratch root (dpkg-deb -x; nothing is installed on the host).
fn unpacked() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(package())
        .arg(root.path()));
    root
}

#[test]
fn the_unpacked_cli_runs_and_checks_the_example_config() {
    let root = unpacked();
    let tandem = root.path().join("usr/sbin/tandem");
    let help = text(&run(Command::new(&tandem).arg("--help")));
    assert!(help.contains("Usage: tandem"), "{help}");
    let config = root.path().join("etc/tandem/tandem.toml");
    // This host is neither db-a nor db-b and has no peer key: ✗ lines and exit 1 are fine,
    // but it must start, load the file and print its verdicts.
    let out = Command::new(&tandem)
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let lines = text(&out);
    assert!(
        lines.lines().any(|l| l.starts_with('✓')) && lines.lines().count() > 1,
        "tandem check printed no ✓/✗ lines ({}):\n{lines}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        lines
            .lines()
            .all(|l| ['✓', '✗', '!'].iter().any(|m| l.starts_with(*m))),
        "{lines}"
    );
}

#[test]
fn the_unpacked_shim_is_executable_and_execs_the_installed_cli() {
    let root = unpacked();
    let shim = root.path().join(SHIM);
    let mode = std::fs::metadata(&shim).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "{} has mode {mode:o}", shim.display());
    let script = std::fs::read_to_string(&shim).unwrap();
    assert!(
        script.contains(r#"exec "${TANDEM_BIN:-/usr/sbin/tandem}" helper "$name" "$@""#),
        "{script}"
    );
    // The exec itself, with the binary replaced by echo: the handler name and arguments pass.
    let out = run(Command::new(&shim)
        .args(["fence-peer", "x"])
        .env("TANDEM_BIN", "/bin/echo"));
    assert_eq!(text(&out), "helper fence-peer x\n");
}
