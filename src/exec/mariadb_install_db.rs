//! `mariadb-install-db`: a new, empty MariaDB datadir (system tables; root authenticates over
//! the socket, as tandem's health checks expect; no test database).

use super::tool::{self, ToolError};
use std::path::Path;
use std::time::Duration;

/// ~1 s on real hardware, ~20 s in an emulated guest.
const INSTALL_DB_TIMEOUT_MS: u64 = 300_000;

/// The arguments, as documented in docs/install.md.
pub fn args(user: &str, datadir: &Path) -> Vec<String> {
    vec![
        "--no-defaults".into(),
        format!("--user={user}"),
        format!("--datadir={}", datadir.display()),
        "--auth-root-authentication-method=socket".into(),
        "--skip-test-db".into(),
    ]
}

/// Initialises `datadir`, owned by `user`.
pub async fn install(user: &str, datadir: &Path) -> Result<(), ToolError> {
    let args = args(user, datadir);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tool::run_ok(
        "mariadb-install-db",
        &args,
        Duration::from_millis(INSTALL_DB_TIMEOUT_MS),
    )
    .await
    .map(drop)
}
