//! `mariadb-install-db`: a new, empty MariaDB datadir (system tables; root authenticates over
//! the socket, as tandem's health checks expect; no test database).

use super::tool::{self, ToolError};
use crate::config::Mysqld;
use std::time::Duration;

/// ~1 s on real hardware, ~20 s in an emulated guest.
const INSTALL_DB_TIMEOUT_MS: u64 = 300_000;

/// The arguments, as documented in docs/install.md: the server's own options file (else
/// none) and the config's extra server arguments, so that the datadir is created with the
/// settings the server will run with (e.g. `--innodb-log-file-size`); mariadb-install-db
/// passes options it does not know on to the server it bootstraps.
pub fn args(mysqld: &Mysqld) -> Vec<String> {
    let defaults = match &mysqld.defaults_file {
        Some(file) => format!("--defaults-file={}", file.display()),
        None => "--no-defaults".into(),
    };
    let mut args = vec![
        defaults,
        format!("--user={}", mysqld.user),
        format!("--datadir={}", mysqld.datadir.get_ref().display()),
        "--auth-root-authentication-method=socket".into(),
        "--skip-test-db".into(),
    ];
    args.extend(mysqld.args.iter().cloned());
    args
}

/// Initialises the configured datadir, owned by the configured user.
pub async fn install(mysqld: &Mysqld) -> Result<(), ToolError> {
    let args = args(mysqld);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tool::run_ok(
        "mariadb-install-db",
        &args,
        Duration::from_millis(INSTALL_DB_TIMEOUT_MS),
    )
    .await
    .map(drop)
}
