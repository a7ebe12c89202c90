//! `tandem replica promote NAME`: disaster promotion when the DRBD pair is gone (MHA's
//! masterha_master_switch, by GTID). Refuses while the pair may still serve; lets every
//! replica apply what it already received; refuses a replica that another is ahead of;
//! makes NAME the primary (replication stopped and reset, read_only off); repoints the
//! others at it with `MASTER_USE_GTID=slave_pos` and waits for them; says what may be lost.

use super::ops::{ask, runtime};
use crate::config::credentials;
use crate::config::{Config, Replica};
use crate::control::{ControlRequest, ControlResponse};
use crate::exec::replica::{self as sql, ReplicaEndpoint};
use crate::exec::replica_admin as admin;
use crate::replica::promote::{self, Candidate, Plan, PromoteRefusal};
use crate::replica::{GtidPos, SourceTarget};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// A pair node's port that does not answer within this is taken as down.
const PROBE_TIMEOUT_MS: u64 = 1_000;
/// The local tandemd, if any, answers status at once.
const REQUEST_TIMEOUT_MS: u64 = 3_000;

/// What `--force` and `--yes` say.
#[derive(Debug, Clone, Copy)]
pub struct Flags {
    pub force: bool,
    pub yes: bool,
}

pub fn run(config_path: &Path, name: &str, flags: Flags) -> Result<ExitCode, String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let mut alive = local_daemon(&config);
    let runtime = runtime()?;
    alive.extend(runtime.block_on(pair_ports(&config)));
    if !alive.is_empty() {
        if !flags.force {
            return Ok(refused(PromoteRefusal::PairMayBeAlive(alive)));
        }
        if !flags.yes && !confirm(&alive)? {
            return Ok(refused("not confirmed; nothing was changed"));
        }
    }
    runtime.block_on(promote_in(&config, name, flags.force))
}

/// tandemd on this host, if it answers: this host is a pair node that is up.
fn local_daemon(config: &Config) -> Vec<String> {
    let socket = &config.engine.control_socket;
    if !socket.exists() {
        return Vec::new();
    }
    match ask(socket, ControlRequest::Status, REQUEST_TIMEOUT_MS) {
        Ok(ControlResponse::Status(s)) => vec![format!(
            "tandemd answers on this host's control socket (node {}, DRBD role {})",
            s.local.node, s.local.role
        )],
        _ => Vec::new(),
    }
}

/// Each node's peer link and DRBD port, and the VIP's MySQL port.
async fn pair_ports(config: &Config) -> Vec<String> {
    let mut probes: Vec<(String, std::net::SocketAddr)> = Vec::new();
    for node in &config.node {
        let node = node.get_ref();
        let name = node.name.get_ref();
        for address in &node.peer_addresses {
            let addr = address.get_ref().0;
            probes.push((
                format!("node {name} answers on its peer link at {addr}"),
                addr,
            ));
        }
        let addr = node.replication_address.get_ref().0;
        probes.push((format!("node {name} answers on its DRBD port {addr}"), addr));
    }
    let vip = std::net::SocketAddr::new(config.vip.address.get_ref().ip, config.mysqld.port);
    probes.push((format!("a server answers on the VIP {vip}"), vip));
    let bound = Duration::from_millis(PROBE_TIMEOUT_MS);
    let checks = probes.into_iter().map(|(sentence, addr)| async move {
        let connected = tokio::time::timeout(bound, tokio::net::TcpStream::connect(addr)).await;
        matches!(connected, Ok(Ok(_))).then_some(sentence)
    });
    futures_util::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// A refusal: its sentence on stderr, exit 3; nothing was changed.
pub(crate) fn refused(sentence: impl std::fmt::Display) -> ExitCode {
    eprintln!("tandem: refused: {sentence}");
    ExitCode::from(super::EXIT_REFUSED)
}

fn confirm(alive: &[String]) -> Result<bool, String> {
    if !std::io::stdin().is_terminal() {
        return Err(
            "replica promote --force needs confirmation; add --yes to confirm in a \
                    script (two primaries may write)"
                .into(),
        );
    }
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "replica promote --force skips the check that the pair is down:"
    );
    for line in alive {
        let _ = writeln!(err, "  - {line}");
    }
    let _ = write!(err, "Promote anyway? [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn endpoint(replica: &Replica) -> Result<ReplicaEndpoint, String> {
    let credentials = credentials::load(replica.credentials_file.get_ref())
        .map_err(|e| format!("its credentials file cannot be used: {e}"))?;
    Ok(ReplicaEndpoint {
        host: replica.host.get_ref().clone(),
        port: *replica.port.get_ref(),
        credentials,
    })
}

/// Lets each replica apply its relay log, then reads where it stands.
async fn read_candidate(replica: &Replica) -> (Candidate, Option<ReplicaEndpoint>) {
    let name = replica.name.get_ref().clone();
    let read = async {
        let endpoint = endpoint(replica)?;
        let before = admin::read_positions(&endpoint)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(io_pos) = before.io_pos.filter(|p| !p.is_empty()) {
            let applied = admin::wait_for(&endpoint, &io_pos, admin::RELAY_APPLY_TIMEOUT_MS)
                .await
                .map_err(|e| e.to_string())?;
            if !applied {
                return Err(format!(
                    "it did not apply its relay log up to {io_pos} within {} ms",
                    admin::RELAY_APPLY_TIMEOUT_MS
                ));
            }
        }
        let after = admin::read_positions(&endpoint)
            .await
            .map_err(|e| e.to_string())?;
        let pos: GtidPos = after.current_pos.parse().map_err(|e| format!("{e}"))?;
        Ok::<_, String>((pos, endpoint, after))
    };
    match read.await {
        Ok((pos, endpoint, _)) => (Candidate { name, pos: Ok(pos) }, Some(endpoint)),
        Err(e) => (Candidate { name, pos: Err(e) }, None),
    }
}

async fn promote_in(config: &Config, name: &str, force: bool) -> Result<ExitCode, String> {
    let reads = config.replica.iter().map(read_candidate);
    let read: Vec<(Candidate, Option<ReplicaEndpoint>)> =
        futures_util::future::join_all(reads).await;
    let candidates: Vec<Candidate> = read.iter().map(|(c, _)| c.clone()).collect();
    for c in &candidates {
        match &c.pos {
            Ok(p) => eprintln!("{}: at {}", c.name, p),
            Err(e) => eprintln!("{}: cannot be read: {e}", c.name),
        }
    }
    if let Some(best) = promote::most_advanced(&candidates) {
        eprintln!("most advanced: {}", best.name);
    }
    let plan = match promote::plan(&candidates, name, force) {
        Ok(plan) => plan,
        Err(refusal) => return Ok(refused(refusal)),
    };
    let endpoint_of = |n: &str| {
        read.iter()
            .find(|(c, _)| c.name == n)
            .and_then(|(_, e)| e.clone())
    };
    let primary = endpoint_of(&plan.primary).ok_or("the new primary has no endpoint")?;
    if let Err(refusal) = refuse_without_binlog(&primary, &plan).await {
        return Ok(refused(refusal));
    }
    print!("{plan}");
    admin::make_primary(&primary)
        .await
        .map_err(|e| format!("could not make {name} the primary: {e}"))?;
    println!("{name}: replication stopped and reset, read_only=OFF");
    let target = new_source(config, &primary)?;
    let mut failed = Vec::new();
    for follower in &plan.followers {
        let Some(endpoint) = endpoint_of(follower) else {
            continue;
        };
        match repoint(&endpoint, &target, &plan.primary_pos.to_string()).await {
            Ok(line) => println!("{follower}: {line}"),
            Err(e) => {
                println!("{follower}: {e}");
                failed.push(follower.clone());
            }
        }
    }
    let pair_pos = pair_position(config, &target).await;
    println!(
        "{}",
        promote::may_be_lost(pair_pos.as_ref(), &plan.primary_pos)
    );
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!(
            "{name} is the primary, but {} did not follow it",
            failed.join(", ")
        ))
    }
}

/// The others fetch from the new primary's binary log: without one (or without the
/// replicated transactions in it) they cannot follow.
async fn refuse_without_binlog(primary: &ReplicaEndpoint, plan: &Plan) -> Result<(), String> {
    if plan.followers.is_empty() {
        return Ok(());
    }
    let p = admin::read_positions(primary)
        .await
        .map_err(|e| e.to_string())?;
    if p.log_bin && p.log_slave_updates {
        return Ok(());
    }
    Err(format!(
        "{} has log_bin={} and log_slave_updates={}: {} could not fetch from it; restart it \
         with --log-bin --log-slave-updates (replicas meant for promotion need both), then \
         promote again",
        plan.primary,
        on_off(p.log_bin),
        on_off(p.log_slave_updates),
        plan.followers.join(", ")
    ))
}

fn on_off(on: bool) -> &'static str {
    if on {
        "ON"
    } else {
        "OFF"
    }
}

fn new_source(config: &Config, primary: &ReplicaEndpoint) -> Result<SourceTarget, String> {
    let replication = config
        .replication
        .as_ref()
        .ok_or("there is no [replication] table, so no replication account to use")?;
    let account = credentials::load(replication.credentials_file.get_ref())
        .map_err(|e| format!("the replication account's credentials file cannot be used: {e}"))?;
    Ok(SourceTarget {
        host: primary.host.clone(),
        port: primary.port,
        user: account.user,
        password: account.password,
    })
}

async fn repoint(
    endpoint: &ReplicaEndpoint,
    target: &SourceTarget,
    pos: &str,
) -> Result<String, String> {
    sql::configure(endpoint, target)
        .await
        .map_err(|e| format!("could not point it at {}:{}: {e}", target.host, target.port))?;
    let caught_up = admin::wait_for(endpoint, pos, admin::CATCH_UP_TIMEOUT_MS)
        .await
        .map_err(|e| e.to_string())?;
    if !caught_up {
        return Err(format!(
            "points at {}:{} but did not reach {pos} within {} ms; see `SHOW SLAVE STATUS` on it",
            target.host,
            target.port,
            admin::CATCH_UP_TIMEOUT_MS
        ));
    }
    Ok(format!(
        "follows {}:{} (MASTER_USE_GTID=slave_pos), at {pos}",
        target.host, target.port
    ))
}

/// The old pair's last position, when its server still answers on the VIP (only after
/// `--force`); `None` when it is unreachable.
async fn pair_position(config: &Config, account: &SourceTarget) -> Option<GtidPos> {
    let endpoint = ReplicaEndpoint {
        host: config.vip.address.get_ref().ip.to_string(),
        port: config.mysqld.port,
        credentials: credentials::Credentials {
            user: account.user.clone(),
            password: account.password.clone(),
        },
    };
    admin::binlog_pos(&endpoint).await.ok()?.parse().ok()
}
