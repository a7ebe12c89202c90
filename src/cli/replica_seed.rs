//! `tandem replica add|rebuild NAME --to HOST:PORT` on the active node and `tandem replica
//! receive` on the replica host: a replica seeded from a consistent copy of the active
//! node's server (mariadb-backup, streamed over TCP, no long lock), left at the copy's GTID
//! position; the active tandemd then points it at the VIP with `MASTER_USE_GTID=slave_pos`.

use super::ops::{ask, runtime, socket_path};
use super::replica_promote::refused;
use crate::config::Config;
use crate::control::{ClusterStatus, ControlRequest, ControlResponse};
use crate::exec::{mariadb_backup, seed_target};
use crate::replica::seed::{self, SeedReply, BINLOG_INFO_FILES};
use crate::replica::ReplicaState;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpListener;

/// tandemd answers status at once; longer means it is stuck.
const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// The receiver waits this long for the active node's stream, then gives up.
pub const ACCEPT_TIMEOUT_MS: u64 = 1_800_000;
/// Connections from addresses not in `--from` that the receiver turns away before it gives
/// up: more means someone else is probing the port.
const MAX_REFUSED_CONNECTIONS: usize = 16;
const BACKUP_BINARY: &str = "mariadb-backup";
const SERVER_BINARY: &str = "mariadbd";

/// Which of the two commands the operator ran on the active node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    Add,
    Rebuild,
}

/// The sending side, on the active node.
pub fn send(config_path: &Path, name: &str, to: &str, kind: Seed) -> Result<ExitCode, String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let Some(replica) = config.replica.iter().find(|r| r.name.get_ref() == name) else {
        let known: Vec<&str> = config
            .replica
            .iter()
            .map(|r| r.name.get_ref().as_str())
            .collect();
        return Err(format!(
            "there is no [[replica]] named \"{name}\" in {}; the configured replicas are: {}",
            config_path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    };
    if config.replication.is_none() {
        return Err(
            "there is no [replication] table: the pair writes no binary log, so a \
                    copy has no GTID position to continue from; add one first"
                .into(),
        );
    }
    let status = match ask(
        &socket_path(config_path),
        ControlRequest::Status,
        REQUEST_TIMEOUT_MS,
    )? {
        ControlResponse::Status(status) => status,
        other => return Err(format!("unexpected answer from tandemd: {other:?}")),
    };
    let refusal = refuse_unless_active(&status).and_then(|()| match kind {
        Seed::Add => refuse_if_replicating(&status, name),
        Seed::Rebuild => Ok(()),
    });
    if let Err(sentence) = refusal {
        return Ok(refused(sentence));
    }
    let mysqld = config.mysqld_for(&status.local.node);
    eprintln!(
        "{}: streaming a backup of this node's server ({}) to {to} …",
        name,
        mysqld.socket.display()
    );
    let reply = runtime()?.block_on(mariadb_backup::send_backup(
        BACKUP_BINARY,
        &mysqld.socket,
        &mysqld.admin_user,
        to,
    ));
    match reply.map_err(|e| e.to_string())? {
        SeedReply::Ready { gtid } => {
            println!(
                "{name} ({}) is seeded at GTID position {}: start its server on the replica \
                 host; tandemd on the active node then points it at {}:{} with \
                 MASTER_USE_GTID=slave_pos (`tandem replica status` shows it)",
                replica.host.get_ref(),
                if gtid.is_empty() { "(empty)" } else { &gtid },
                config.vip.address.get_ref().ip,
                config.mysqld.port
            );
            Ok(ExitCode::SUCCESS)
        }
        SeedReply::Failed { error } => Err(format!("the receiver could not seed {name}: {error}")),
    }
}

/// Only the active node has the server to copy.
fn refuse_unless_active(status: &ClusterStatus) -> Result<(), String> {
    let down: Vec<&str> = status
        .local
        .services
        .iter()
        .filter(|(_, up)| !up)
        .map(|(layer, _)| layer.as_str())
        .collect();
    if down.is_empty() && !status.local.services.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} is not the active node ({} not up here); run this on the node that serves",
        status.local.node,
        down.join(", ")
    ))
}

/// `add` is for a new replica; one that replicates already is re-seeded by `rebuild`.
fn refuse_if_replicating(status: &ClusterStatus, name: &str) -> Result<(), String> {
    let Some(r) = status.replicas.iter().find(|r| r.name == name) else {
        return Ok(());
    };
    if matches!(r.state, ReplicaState::Replicating | ReplicaState::Lagging) {
        return Err(format!(
            "{name} already replicates ({}); use `tandem replica rebuild {name}` to re-seed it",
            r.state
        ));
    }
    Ok(())
}

/// What the receiver was told on its command line.
#[derive(Debug, Clone)]
pub struct ReceiveOptions {
    pub datadir: PathBuf,
    pub listen: String,
    pub from: Vec<IpAddr>,
    pub force: bool,
    pub user: String,
}

/// The receiving side, on the replica host.
pub fn receive(options: &ReceiveOptions) -> Result<ExitCode, String> {
    let datadir = &options.datadir;
    let shown = datadir.display().to_string();
    let running = seed_target::server_running(datadir).map_err(|e| e.to_string())?;
    let entries = seed_target::entries(datadir).map_err(|e| e.to_string())?;
    let move_aside =
        seed::check_target(&shown, running, entries, options.force).map_err(|e| e.to_string())?;
    if move_aside {
        let now_s = super::ops::now_unix_ms() / 1000;
        let aside = seed_target::move_aside(datadir, now_s).map_err(|e| e.to_string())?;
        eprintln!(
            "moved the old datadir aside to {} (nothing deleted)",
            aside.display()
        );
    }
    let runtime = runtime()?;
    let gtid = runtime.block_on(receive_and_prepare(options))?;
    println!(
        "{shown} is ready at GTID position {}: start the replica's server on it; tandemd on \
         the active node points it at the VIP",
        if gtid.is_empty() { "(empty)" } else { &gtid }
    );
    Ok(ExitCode::SUCCESS)
}

async fn receive_and_prepare(options: &ReceiveOptions) -> Result<String, String> {
    let listener = TcpListener::bind(&options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    eprintln!(
        "waiting for the active node's stream on {} …",
        options.listen
    );
    let bound = Duration::from_millis(ACCEPT_TIMEOUT_MS);
    let mut refused_connections = 0;
    let mut tcp = loop {
        let (tcp, peer) = match tokio::time::timeout(bound, listener.accept()).await {
            Ok(Ok(accepted)) => accepted,
            Ok(Err(e)) => return Err(format!("cannot accept on {}: {e}", options.listen)),
            Err(_) => return Err(format!("no stream arrived within {ACCEPT_TIMEOUT_MS} ms")),
        };
        if options.from.contains(&peer.ip()) {
            break tcp;
        }
        eprintln!("refused a connection from {peer}: not in --from");
        refused_connections += 1;
        if refused_connections >= MAX_REFUSED_CONNECTIONS {
            return Err(format!(
                "{refused_connections} connections came from addresses not in --from; giving up"
            ));
        }
    };
    drop(listener);
    let result = seed_datadir(&mut tcp, options).await;
    let reply = match &result {
        Ok(gtid) => SeedReply::Ready { gtid: gtid.clone() },
        Err(error) => SeedReply::Failed {
            error: error.clone(),
        },
    };
    use tokio::io::AsyncWriteExt;
    let _ = tcp.write_all(reply.line().as_bytes()).await;
    let _ = tcp.shutdown().await;
    result
}

async fn seed_datadir(
    tcp: &mut tokio::net::TcpStream,
    options: &ReceiveOptions,
) -> Result<String, String> {
    let datadir = &options.datadir;
    let partial = |e: String| {
        format!(
            "{e}; {} holds a partial copy: run `tandem replica receive … --force` again (it \
             moves it aside)",
            datadir.display()
        )
    };
    let bytes = mariadb_backup::receive_into(tcp, datadir)
        .await
        .map_err(|e| partial(e.to_string()))?;
    eprintln!("received {bytes} bytes; preparing …");
    let info = read_binlog_info(datadir).map_err(partial)?;
    mariadb_backup::prepare(BACKUP_BINARY, datadir)
        .await
        .map_err(|e| partial(e.to_string()))?;
    seed_target::chown(datadir, &options.user)
        .await
        .map_err(|e| partial(e.to_string()))?;
    let gtid = info.gtid.to_string();
    seed_target::set_gtid_slave_pos(SERVER_BINARY, datadir, &options.user, &gtid)
        .await
        .map_err(|e| partial(e.to_string()))?;
    Ok(gtid)
}

fn read_binlog_info(datadir: &Path) -> Result<seed::BinlogInfo, String> {
    for file in BINLOG_INFO_FILES {
        let path = datadir.join(file);
        if let Ok(text) = std::fs::read_to_string(&path) {
            return seed::parse_binlog_info(&text).map_err(|e| format!("{}: {e}", path.display()));
        }
    }
    Err(format!(
        "the copy has no {} file: the source writes no binary log",
        BINLOG_INFO_FILES[0]
    ))
}
