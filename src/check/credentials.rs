//! `tandem check`: the replication account's credentials file and each `[[replica]]`'s:
//! they exist, are owned by root with no group or other bits, and parse
//! (config/credentials.rs says how each refusal reads).

use super::{fail, pass, CheckLine};
use crate::config::credentials;
use crate::config::Config;
use std::path::Path;

/// One line per credentials file the config names; none without `[replication]`.
pub fn lines(config: &Config) -> Vec<CheckLine> {
    let mut files: Vec<(String, &Path)> = Vec::new();
    if let Some(replication) = &config.replication {
        files.push((
            "the replication account".into(),
            replication.credentials_file.get_ref(),
        ));
    }
    for replica in &config.replica {
        files.push((
            format!("replica {}", replica.name.get_ref()),
            replica.credentials_file.get_ref(),
        ));
    }
    files
        .into_iter()
        .map(|(what, path)| line(&what, path))
        .collect()
}

fn line(what: &str, path: &Path) -> CheckLine {
    match credentials::load(path) {
        Ok(creds) => pass(format!(
            "credentials for {what}: {} (user {}) is root-only and parses",
            path.display(),
            creds.user
        )),
        Err(e) => fail(format!("credentials for {what}: {e}")),
    }
}
