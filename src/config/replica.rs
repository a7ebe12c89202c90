//! `[replication]` (the pair as a GTID replication source) and `[[replica]]` (MariaDB replicas
//! fed from the active node through the VIP): their model, their checks, and the server
//! options tandem derives from them.

use super::model::{unplaced, Config, Mysqld};
use super::validate::{is_simple_name, Checker};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use toml::Spanned;

/// The binary log's base name inside `binlog_dir`.
pub const BINLOG_BASENAME: &str = "binlog";
/// A semi-synchronous source waits this long at most for a replica's acknowledgement before
/// it commits asynchronously; below 1 ms every commit would fall back at once.
const MIN_SEMI_SYNC_TIMEOUT_MS: u64 = 1;
/// Each commit can wait this long: more than a minute stalls every writer behind a dead replica.
const MAX_SEMI_SYNC_TIMEOUT_MS: u64 = 60_000;
/// MariaDB's `server_id` range (0 is not allowed for a binlogging server).
const MAX_SERVER_ID: u32 = u32::MAX;

/// `[replication]`: the active node is a GTID replication source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replication {
    /// Where the binary log lives: a directory under the mountpoint, so that the binlog moves
    /// with the data on switchover and the replicas' GTID positions stay valid.
    pub binlog_dir: Spanned<PathBuf>,
    /// `server_id` of each node, by node name: each node writes its own GTIDs, e.g.
    /// `server_ids = { db-a = 1, db-b = 2 }`.
    pub server_ids: Spanned<BTreeMap<String, u32>>,
    /// The replication account on the source that the replicas log in with (`user = …`,
    /// `password = …`, mode 0600, owned by root).
    pub credentials_file: Spanned<PathBuf>,
    /// MariaDB's built-in semi-synchronous replication: a commit waits for one replica's
    /// acknowledgement (or the timeout) before the client sees it.
    #[serde(default)]
    pub semi_sync: bool,
    /// `rpl_semi_sync_master_timeout`: after this long without an acknowledgement the source
    /// commits asynchronously until a replica catches up.
    #[serde(default = "default_semi_sync_timeout_ms")]
    pub semi_sync_timeout_ms: Spanned<u64>,
}

/// One `[[replica]]`: a MariaDB server that tandem points at the VIP and watches.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    /// Names the replica in status, metrics and logs.
    pub name: Spanned<String>,
    /// Where tandem reaches the replica's server (an address or host name).
    pub host: Spanned<String>,
    #[serde(default = "default_replica_port")]
    pub port: Spanned<u16>,
    /// The account tandem logs in to the replica with (`user = …`, `password = …`, mode 0600,
    /// owned by root); it needs REPLICATION SLAVE ADMIN (or SUPER) and REPLICATION CLIENT.
    pub credentials_file: Spanned<PathBuf>,
}

fn default_semi_sync_timeout_ms() -> Spanned<u64> {
    unplaced(10_000)
}
fn default_replica_port() -> Spanned<u16> {
    unplaced(3306)
}

impl Config {
    /// The server's settings for node `me`: the configured `[mysqld]`, with the replication
    /// source options (see [`source_args`]) placed before the operator's own `args`, so that
    /// an operator can still override any of them.
    pub fn mysqld_for(&self, me: &str) -> Mysqld {
        let mut mysqld = self.mysqld.clone();
        let mut args = source_args(self, me);
        args.append(&mut mysqld.args);
        mysqld.args = args;
        mysqld
    }
}

/// The options that make node `me`'s server a GTID replication source; none without
/// `[replication]`. Row-based binlog (safe for every statement), `sync_binlog=1` and
/// `gtid_strict_mode` (a replica refuses out-of-order GTIDs instead of diverging silently).
pub fn source_args(config: &Config, me: &str) -> Vec<String> {
    let Some(replication) = &config.replication else {
        return Vec::new();
    };
    let server_id = replication
        .server_ids
        .get_ref()
        .get(me)
        .copied()
        .unwrap_or(0);
    let base = replication.binlog_dir.get_ref().join(BINLOG_BASENAME);
    let mut args = vec![
        format!("--server-id={server_id}"),
        format!("--log-bin={}", base.display()),
        format!("--log-bin-index={}.index", base.display()),
        "--binlog-format=ROW".to_string(),
        "--sync-binlog=1".to_string(),
        "--gtid-strict-mode=ON".to_string(),
    ];
    if replication.semi_sync {
        args.push("--rpl-semi-sync-master-enabled=ON".to_string());
        args.push(format!(
            "--rpl-semi-sync-master-timeout={}",
            replication.semi_sync_timeout_ms.get_ref()
        ));
    }
    args
}

impl Checker<'_> {
    /// `[replication]` and `[[replica]]`.
    pub(super) fn replication(&mut self, config: &Config) {
        if let Some(replication) = &config.replication {
            self.source(config, replication);
        } else if let Some(first) = config.replica.first() {
            self.refuse(
                first.name.span(),
                "[[replica]] needs a [replication] table (binlog_dir, server_ids, \
                 credentials_file) so that the active node is a replication source; add one"
                    .to_string(),
            );
        }
        self.replicas(config);
    }

    fn source(&mut self, config: &Config, replication: &Replication) {
        let mountpoint = config.filesystem.mountpoint.get_ref();
        let dir = &replication.binlog_dir;
        if !dir.get_ref().is_absolute() || !dir.get_ref().starts_with(mountpoint) {
            self.refuse(
                dir.span(),
                format!(
                    "binlog_dir \"{}\" is not under the mountpoint \"{}\"; the binary log must \
                     move with the data, or the replicas lose their place on switchover; use \
                     e.g. \"{}\"",
                    dir.get_ref().display(),
                    mountpoint.display(),
                    mountpoint.join("binlog").display()
                ),
            );
        }
        self.server_ids(config, &replication.server_ids);
        let file = &replication.credentials_file;
        if !file.get_ref().is_absolute() {
            self.refuse(
                file.span(),
                format!(
                    "credentials_file \"{}\" must be an absolute path, e.g. \
                     \"/etc/tandem/replication.cred\"",
                    file.get_ref().display()
                ),
            );
        }
        let timeout = &replication.semi_sync_timeout_ms;
        if !(MIN_SEMI_SYNC_TIMEOUT_MS..=MAX_SEMI_SYNC_TIMEOUT_MS).contains(timeout.get_ref()) {
            self.refuse(
                timeout.span(),
                format!(
                    "semi_sync_timeout_ms = {} is outside {MIN_SEMI_SYNC_TIMEOUT_MS}..=\
                     {MAX_SEMI_SYNC_TIMEOUT_MS}; every commit may wait this long for a replica, \
                     so keep it to seconds (default 10000)",
                    timeout.get_ref()
                ),
            );
        }
    }

    fn server_ids(&mut self, config: &Config, ids: &Spanned<BTreeMap<String, u32>>) {
        let names = config.node_names();
        let span = ids.span();
        for name in &names {
            if !ids.get_ref().contains_key(name) {
                self.refuse(
                    span.clone(),
                    format!(
                        "server_ids has no entry for node \"{name}\"; give each node its own \
                         server_id, e.g. server_ids = {{ {} }}",
                        example_ids(&names)
                    ),
                );
            }
        }
        let mut seen: HashMap<u32, &str> = HashMap::new();
        for (name, id) in ids.get_ref() {
            if !names.contains(name) {
                self.refuse(
                    span.clone(),
                    format!(
                        "server_ids names \"{name}\", which is not a [[node]]; use the node \
                         names {}",
                        names.join(" and ")
                    ),
                );
            }
            if !(1..=MAX_SERVER_ID).contains(id) {
                self.refuse(
                    span.clone(),
                    format!("server_ids: {name} = 0 is not allowed for a binlogging server; use 1 or more"),
                );
            } else if let Some(other) = seen.insert(*id, name) {
                self.refuse(
                    span.clone(),
                    format!(
                        "server_ids: {other} and {name} both have {id}; each node needs its own \
                         server_id, or replicas cannot tell their GTIDs apart"
                    ),
                );
            }
        }
    }

    fn replicas(&mut self, config: &Config) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for replica in &config.replica {
            let name = &replica.name;
            if !is_simple_name(name.get_ref()) {
                self.refuse(
                    name.span(),
                    format!(
                        "replica name \"{}\" must be 1-64 letters, digits, '-' or '_'; \
                         pick a short name such as \"replica-1\"",
                        name.get_ref()
                    ),
                );
            }
            if let Some(first) = seen.insert(name.get_ref(), name.span().start) {
                let (line, _) = self.line_column(first);
                self.refuse(
                    name.span(),
                    format!(
                        "replica name \"{}\" is used twice (first on line {line}); give each \
                         [[replica]] its own name",
                        name.get_ref()
                    ),
                );
            }
            if replica.host.get_ref().trim().is_empty() {
                self.refuse(
                    replica.host.span(),
                    "replica host is empty; give the replica server's address, e.g. \
                     host = \"10.0.0.21\""
                        .to_string(),
                );
            }
            if *replica.port.get_ref() == 0 {
                self.refuse(
                    replica.port.span(),
                    "replica port 0 is not a port; use the replica server's port, e.g. 3306"
                        .to_string(),
                );
            }
            let file = &replica.credentials_file;
            if !file.get_ref().is_absolute() {
                self.refuse(
                    file.span(),
                    format!(
                        "credentials_file \"{}\" must be an absolute path, e.g. \
                         \"/etc/tandem/replica-{}.cred\"",
                        file.get_ref().display(),
                        name.get_ref()
                    ),
                );
            }
        }
    }
}

fn example_ids(names: &[String]) -> String {
    let pairs: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{n} = {}", i + 1))
        .collect();
    pairs.join(", ")
}
