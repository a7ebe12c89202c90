//! The drbd module's `usermode_helper` parameter (sysfs): the program the kernel runs for every
//! DRBD handler call, `/sbin/drbdadm` unless someone set it. tandemd makes it
//! `tandem-drbd-helper` (`[drbd] usermode_helper`), which answers fence-peer for tandem's
//! resource itself and hands every other call to drbdadm (cli/usermode_helper.rs).

use std::path::{Path, PathBuf};

/// The parameter, present while the drbd module is loaded.
pub const PARAMETER: &str = "/sys/module/drbd/parameters/usermode_helper";

/// DRBD's own helper: the module's default (DRBD 8.4 and 9), what [`give_back`] writes and
/// where `tandem-drbd-helper` hands every call it does not answer.
pub const DRBD_OWN: &str = "/sbin/drbdadm";

/// [`DRBD_OWN`], and the same program through Debian's merged /usr.
const DRBD_DEFAULTS: [&str; 2] = [DRBD_OWN, "/usr/sbin/drbdadm"];

/// What to do with the parameter's current value.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// It is DRBD's own: write ours.
    Install,
    /// It is ours already (tandemd ran before, since the module was loaded).
    Keep,
    /// Someone else set it (another tool, an operator): leave it, and say so.
    Foreign(String),
}

/// Pure: `current` as read from sysfs (trailing newline allowed), `ours` the configured path.
pub fn plan(current: &str, ours: &Path) -> Plan {
    let current = current.trim_end_matches('\n');
    if Path::new(current) == ours {
        Plan::Keep
    } else if DRBD_DEFAULTS.contains(&current) {
        Plan::Install
    } else {
        Plan::Foreign(current.to_string())
    }
}

/// Why the parameter was left alone, or could not be set.
#[derive(Debug, thiserror::Error)]
pub enum UsermodeHelperError {
    #[error("{PARAMETER} cannot be read ({0}); is the drbd module loaded?")]
    Read(std::io::Error),
    #[error("{} is missing or not executable; install the tandem package (it puts it there) or set [drbd] usermode_helper = \"\"", .0.display())]
    NotExecutable(PathBuf),
    #[error("DRBD's usermode helper is {0}, set by someone else; tandem leaves it (fence-peer then goes through it and drbdadm); set [drbd] usermode_helper = \"\" to silence this")]
    Foreign(String),
    #[error("cannot write {PARAMETER} ({0})")]
    Write(std::io::Error),
}

/// What [`install`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Installed {
    /// The parameter was `was`; it is now ours.
    Replaced { was: String },
    /// It was ours already.
    Already,
}

/// Makes `ours` DRBD's usermode helper if the parameter holds DRBD's default; reads it back.
pub fn install(ours: &Path) -> Result<Installed, UsermodeHelperError> {
    install_at(Path::new(PARAMETER), ours)
}

/// [`install`] on another file standing for the parameter (tests).
pub fn install_at(parameter: &Path, ours: &Path) -> Result<Installed, UsermodeHelperError> {
    let current = std::fs::read_to_string(parameter).map_err(UsermodeHelperError::Read)?;
    match plan(&current, ours) {
        Plan::Keep => Ok(Installed::Already),
        Plan::Foreign(value) => Err(UsermodeHelperError::Foreign(value)),
        Plan::Install => {
            if !super::host::is_executable(ours) {
                return Err(UsermodeHelperError::NotExecutable(ours.to_path_buf()));
            }
            std::fs::write(parameter, ours.as_os_str().as_encoded_bytes())
                .map_err(UsermodeHelperError::Write)?;
            let now = std::fs::read_to_string(parameter).map_err(UsermodeHelperError::Read)?;
            if plan(&now, ours) != Plan::Keep {
                return Err(UsermodeHelperError::Write(std::io::Error::other(format!(
                    "it reads {} after the write",
                    now.trim_end()
                ))));
            }
            Ok(Installed::Replaced {
                was: current.trim_end_matches('\n').to_string(),
            })
        }
    }
}

/// Pure: `current` (as read from sysfs) is a `tandem-drbd-helper`, wherever installed.
fn is_tandems(current: &str) -> bool {
    Path::new(current.trim_end_matches('\n'))
        .file_name()
        .is_some_and(|name| name == "tandem-drbd-helper")
}

/// With `[drbd] usermode_helper = ""`: gives DRBD its own helper back if an earlier tandemd
/// made it `tandem-drbd-helper`. `Ok(false)`: nothing to give back (or no drbd module).
pub fn give_back() -> Result<bool, UsermodeHelperError> {
    give_back_at(Path::new(PARAMETER))
}

/// [`give_back`] on another file standing for the parameter (tests).
pub fn give_back_at(parameter: &Path) -> Result<bool, UsermodeHelperError> {
    let Ok(current) = std::fs::read_to_string(parameter) else {
        return Ok(false);
    };
    if !is_tandems(&current) {
        return Ok(false);
    }
    // No newline: the kernel would keep it as part of the path.
    std::fs::write(parameter, DRBD_OWN).map_err(UsermodeHelperError::Write)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const OURS: &str = "/usr/lib/tandem/tandem-drbd-helper";

    #[test]
    fn only_drbds_own_helper_is_replaced() {
        let ours = Path::new(OURS);
        assert_eq!(plan("/sbin/drbdadm\n", ours), Plan::Install);
        assert_eq!(plan("/usr/sbin/drbdadm", ours), Plan::Install);
        assert_eq!(plan(&format!("{OURS}\n"), ours), Plan::Keep);
        // LINSTOR sets /bin/true; an operator may have a wrapper: both are left alone.
        assert_eq!(plan("/bin/true\n", ours), Plan::Foreign("/bin/true".into()));
        assert_eq!(plan("", ours), Plan::Foreign(String::new()));
    }

    #[test]
    fn install_writes_an_executable_helper_and_refuses_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let parameter = dir.path().join("usermode_helper");
        std::fs::write(&parameter, "/sbin/drbdadm\n").unwrap();
        let missing = dir.path().join("missing");
        assert!(matches!(
            install_at(&parameter, &missing),
            Err(UsermodeHelperError::NotExecutable(_))
        ));
        assert_eq!(
            std::fs::read_to_string(&parameter).unwrap(),
            "/sbin/drbdadm\n"
        );

        let helper = dir.path().join("tandem-drbd-helper");
        std::fs::write(&helper, "").unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            install_at(&parameter, &helper).unwrap(),
            Installed::Replaced {
                was: "/sbin/drbdadm".into()
            }
        );
        assert_eq!(install_at(&parameter, &helper).unwrap(), Installed::Already);

        std::fs::write(&parameter, "/bin/true\n").unwrap();
        assert!(matches!(
            install_at(&parameter, &helper),
            Err(UsermodeHelperError::Foreign(v)) if v == "/bin/true"
        ));
    }

    #[test]
    fn give_back_restores_drbds_own_only_over_tandems() {
        let dir = tempfile::tempdir().unwrap();
        let parameter = dir.path().join("usermode_helper");
        std::fs::write(&parameter, format!("{OURS}\n")).unwrap();
        assert!(give_back_at(&parameter).unwrap());
        assert_eq!(
            std::fs::read_to_string(&parameter).unwrap(),
            "/sbin/drbdadm"
        );
        assert!(!give_back_at(&parameter).unwrap());
        std::fs::write(&parameter, "/bin/true\n").unwrap();
        assert!(!give_back_at(&parameter).unwrap());
        assert_eq!(std::fs::read_to_string(&parameter).unwrap(), "/bin/true\n");
        assert!(!give_back_at(&dir.path().join("no-module")).unwrap());
    }
}
