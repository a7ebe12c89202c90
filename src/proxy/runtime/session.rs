//! One client session after login: each command is routed (`route.rs`) and its answer
//! relayed. A read goes to the session's replica only once that replica has applied the
//! session's last write (read-your-writes); a replica that fails before any of its answer
//! reached the client is dropped and the read runs on the primary. A primary that fails ends
//! the session with an error: a write is never replayed.

use super::backend::{Backend, BackendError, Login};
use super::cluster::PrimaryWatch;
use super::io::PacketStream;
use super::replicas::{pick, Replicas};
use super::Shared;
use crate::proxy::message::{Command, Err};
use crate::proxy::response::{Expect, Outcome};
use crate::proxy::route::{self, Kind, Target};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A client silent this long is disconnected: MariaDB's own `wait_timeout` default.
pub const CLIENT_IDLE_TIMEOUT_S: u64 = 28_800;
/// After a write, a read waits at most this long on a replica for the write's GTID
/// (MASTER_GTID_WAIT) before it goes to the primary instead: replication on a LAN applies a
/// write within milliseconds, and a lagging replica must not stall reads.
pub const GTID_WAIT_TIMEOUT_MS: u64 = 200;

/// What the session's next read must see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ReadYourWrites {
    /// Nothing written since the last check.
    Clean,
    /// A write ran on the primary; its GTID is not read yet.
    Dirty,
    /// The last write's GTID and the replicas known to have applied it.
    Gtid { gtid: String, applied: Vec<usize> },
}

/// The session's replica connection; counts as one session on that replica while it lives.
struct ReplicaConn {
    index: usize,
    backend: Backend,
    replicas: Replicas,
}

impl Drop for ReplicaConn {
    fn drop(&mut self) {
        if let Some(slot) = self.replicas.get(self.index) {
            slot.sessions.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

pub struct Session<'a> {
    pub client: PacketStream,
    pub shared: &'a Shared,
    pub login: Login,
    pub primary: Backend,
    pub schema: Option<String>,
    replica: Option<ReplicaConn>,
    pub(super) route: route::Session,
    pub(super) ryw: ReadYourWrites,
    /// The sequence id of the proxy's own answer to the current command (an error).
    pub(super) reply_seq: u8,
    /// The primary connection is gone (it failed, or tandemd says its node no longer
    /// serves): the next statement opens a new one (`reconnect.rs`).
    pub(super) primary_lost: bool,
    /// The primary was lost while the session idled in a transaction: its next statement
    /// is answered with an error saying so, not run.
    pub(super) transaction_lost: bool,
    /// Replicas that refused this session's login: not tried again by this session, so that
    /// a replica lacking the account costs one failed login, not one per read.
    refused: Vec<usize>,
}

impl<'a> Session<'a> {
    pub fn new(client: PacketStream, shared: &'a Shared, login: Login, primary: Backend) -> Self {
        let schema = primary.schema.clone();
        Session {
            client,
            shared,
            login,
            primary,
            schema,
            replica: None,
            route: route::Session::default(),
            ryw: ReadYourWrites::Clean,
            reply_seq: 1,
            primary_lost: false,
            transaction_lost: false,
            refused: Vec::new(),
        }
    }

    /// Serves commands until the client quits, idles out, a backend fails, or tandemd says
    /// the primary no longer serves; then says goodbye to the backends.
    pub async fn run(mut self, mut watch: PrimaryWatch) -> Result<(), BackendError> {
        let result = self.commands(&mut watch).await;
        self.quit().await;
        result
    }

    /// The command loop. A primary lost while the session idles is reconnected at its next
    /// statement; lost while a statement runs, the statement fails with an error if none of
    /// its answer went out yet (it may have been applied, so it is never replayed) and the
    /// session goes on; a pinned session, or one cut off mid-answer, ends.
    async fn commands(&mut self, watch: &mut PrimaryWatch) -> Result<(), BackendError> {
        let idle = Duration::from_secs(CLIENT_IDLE_TIMEOUT_S);
        loop {
            let read = tokio::select! {
                read = tokio::time::timeout(idle, self.client.read()) => read,
                reason = watch.lost(), if !self.primary_lost => {
                    self.transaction_lost = self.route.in_transaction;
                    self.lose_primary(reason)?;
                    continue;
                }
            };
            let packet = match read {
                Ok(Ok(packet)) => packet,
                Ok(Err(e)) => return Err(BackendError::Client(e)),
                Err(_) => return Ok(()),
            };
            self.reply_seq = packet.next_seq();
            let quit = matches!(Command::parse(&packet.payload), None | Some(Command::Quit));
            if quit {
                return Ok(());
            }
            if self.primary_lost {
                if !self.reconnect_primary().await? {
                    continue;
                }
                watch.rebase();
            }
            let sent = self.client.packets_sent();
            let result = tokio::select! {
                result = self.command(&packet.payload) => result,
                reason = watch.lost() => {
                    if self.client.packets_sent() != sent {
                        return Err(BackendError::PrimaryLost(reason));
                    }
                    self.tell_statement_lost(&reason).await;
                    Err(BackendError::PrimaryLost(reason))
                }
            };
            match result {
                Ok(()) => {}
                Err(BackendError::PrimaryLost(reason)) => self.lose_primary(reason)?,
                Err(e) => return Err(e),
            }
        }
    }

    /// One command (not COM_QUIT).
    async fn command(&mut self, command: &[u8]) -> Result<(), BackendError> {
        match Command::parse(command) {
            None | Some(Command::Quit) => {}
            Some(Command::Query(sql)) => {
                let sql = String::from_utf8_lossy(sql);
                self.query(command, &sql).await?;
            }
            Some(Command::InitDb(db)) => {
                let db = String::from_utf8_lossy(db).into_owned();
                let outcome = self.on_primary(command, Expect::Results).await?;
                if outcome.error.is_none() {
                    self.schema = Some(db);
                }
            }
            Some(Command::Ping) => {
                self.on_primary(command, Expect::Results).await?;
            }
            Some(Command::StmtExecute) => {
                self.ryw = ReadYourWrites::Dirty;
                self.on_primary(command, Expect::Results).await?;
            }
            Some(Command::StmtPrepare(_)) => {
                self.route.pin("prepared statements (COM_STMT_PREPARE)");
                self.on_primary(command, Expect::Prepare).await?;
            }
            Some(Command::StmtNoReply) => self.primary.send(command).await?,
            Some(Command::Other(code)) => {
                let message = format!("tandem proxy does not relay command {code:#04x}");
                let error = Err::new(1047, "08S01", message).encode();
                self.client
                    .write(self.reply_seq, &error)
                    .await
                    .map_err(BackendError::Client)?;
            }
        }
        Ok(())
    }

    /// Says goodbye to the backends (COM_QUIT), so that they log no aborted connection.
    async fn quit(&mut self) {
        let _ = self.primary.send(&[0x01]).await;
        if let Some(conn) = self.replica.as_mut() {
            let _ = conn.backend.send(&[0x01]).await;
        }
    }

    async fn query(&mut self, command: &[u8], sql: &str) -> Result<(), BackendError> {
        let route = self.route.route(sql, &self.shared.rules);
        tracing::debug!(target = ?route.target, reason = %route.reason, "route");
        if route.kind == Kind::Refused {
            let message = format!(
                "tandem proxy does not relay this statement: {}",
                route.reason
            );
            let error = Err::new(1235, "42000", message).encode();
            return self
                .client
                .write(self.reply_seq, &error)
                .await
                .map_err(BackendError::Client);
        }
        if route.target == Target::Replica && self.replica_ready().await {
            if let Some(conn) = self.replica.as_mut() {
                match conn
                    .backend
                    .relay(&mut self.client, command, Expect::Results)
                    .await
                {
                    Ok(_) => {
                        super::metrics::Counters::add(&self.shared.counters.statements_replica);
                        return Ok(());
                    }
                    Err((e, true)) => return Err(e),
                    Err((e, false)) => {
                        tracing::warn!(error = %e, "replica failed; the read runs on the primary");
                        self.replica = None;
                    }
                }
            }
        }
        super::metrics::Counters::add(&self.shared.counters.statements_primary);
        let outcome = self.on_primary(command, Expect::Results).await?;
        match route.kind {
            Kind::Write | Kind::Pin => self.ryw = ReadYourWrites::Dirty,
            Kind::Use(db) if outcome.error.is_none() => self.schema = Some(db),
            _ => {}
        }
        Ok(())
    }

    /// Relays on the primary. A failure before any answer reached the client tells it
    /// (`PrimaryLost`: the session may go on); one after ends the session.
    async fn on_primary(
        &mut self,
        command: &[u8],
        expect: Expect,
    ) -> Result<Outcome, BackendError> {
        match self.primary.relay(&mut self.client, command, expect).await {
            Ok(outcome) => {
                if let Some(status) = outcome.status {
                    self.route.primary_status(status);
                }
                Ok(outcome)
            }
            Err((e, true)) => Err(e),
            Err((e, false)) => {
                let reason = format!("the primary failed: {e}");
                self.tell_statement_lost(&reason).await;
                Err(BackendError::PrimaryLost(reason))
            }
        }
    }

    /// True when the session's replica may serve the next read: connected, healthy, on the
    /// session's database, and past the session's last write.
    async fn replica_ready(&mut self) -> bool {
        let replicas = &self.shared.replicas;
        if let Some(conn) = &self.replica {
            if !replicas.get(conn.index).is_some_and(|r| r.healthy()) {
                self.replica = None;
            }
        }
        if self.replica.is_none() {
            let Some(index) = pick(replicas, &self.refused) else {
                return false;
            };
            let address = &replicas[index].address;
            match Backend::connect(address, &self.login, self.schema.as_deref()).await {
                Ok(backend) => {
                    replicas[index].sessions.fetch_add(1, Ordering::Relaxed);
                    self.replica = Some(ReplicaConn {
                        index,
                        backend,
                        replicas: replicas.clone(),
                    });
                }
                Err(e) => {
                    tracing::warn!(replica = %address, error = %e, "cannot log in to a replica");
                    if matches!(e, BackendError::Refused { .. }) {
                        self.refused.push(index);
                    }
                    return false;
                }
            }
        }
        self.replica_on_schema().await && self.replica_has_writes().await
    }

    async fn replica_on_schema(&mut self) -> bool {
        let (Some(conn), Some(schema)) = (self.replica.as_mut(), self.schema.as_ref()) else {
            return self.replica.is_some();
        };
        if conn.backend.schema.as_ref() == Some(schema) {
            return true;
        }
        if let Err(e) = conn.backend.use_schema(schema).await {
            tracing::warn!(error = %e, "the replica refused the session's database");
            self.replica = None;
            return false;
        }
        true
    }

    /// Read-your-writes: the session's last write's GTID applied on its replica.
    async fn replica_has_writes(&mut self) -> bool {
        if self.ryw == ReadYourWrites::Dirty {
            self.ryw = match self.primary.scalar("SELECT @@last_gtid").await {
                Ok(Some(gtid)) if is_gtid_list(&gtid) => ReadYourWrites::Gtid {
                    gtid,
                    applied: Vec::new(),
                },
                Ok(_) => ReadYourWrites::Clean,
                Err(_) => return false,
            };
        }
        let ReadYourWrites::Gtid { gtid, applied } = &mut self.ryw else {
            return true;
        };
        let Some(conn) = self.replica.as_mut() else {
            return false;
        };
        if applied.contains(&conn.index) {
            return true;
        }
        let wait = format!(
            "SELECT MASTER_GTID_WAIT('{gtid}', {}.{:03})",
            GTID_WAIT_TIMEOUT_MS / 1000,
            GTID_WAIT_TIMEOUT_MS % 1000
        );
        match conn.backend.scalar(&wait).await {
            Ok(Some(result)) if result == "0" => {
                applied.push(conn.index);
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "MASTER_GTID_WAIT failed on the replica");
                self.replica = None;
                false
            }
        }
    }
}

/// `@@last_gtid` as MariaDB prints it (`0-1-42`); anything else is not put in SQL.
pub(super) fn is_gtid_list(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == ',')
}
