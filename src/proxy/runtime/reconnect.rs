//! A session whose primary is gone goes on when nothing of its state is lost with it: the
//! statement in flight fails with an error (it may have been applied, so it is never
//! replayed), a transaction open on the old primary is rolled back with it (as after a
//! deadlock, the client is told), and the next statement opens a new primary connection as
//! the same user on the same database. A pinned session (SET, user variables, temporary
//! tables, prepared statements, locks) ends instead: its state was on the old primary.

use super::backend::{Backend, BackendError};
use super::session::{is_gtid_list, ReadYourWrites, Session};
use crate::proxy::cluster::Primary;
use crate::proxy::message::Err;

impl Session<'_> {
    /// Answers the statement in flight: it may or may not have been applied.
    pub(super) async fn tell_statement_lost(&mut self, reason: &str) {
        let message = format!(
            "tandem proxy: the primary stopped serving while this statement ran ({reason}); \
             it may or may not have been applied and is not replayed, and a transaction in \
             progress is rolled back; the next statement goes to the new primary"
        );
        let error = Err::primary_gone(message).encode();
        let _ = self.client.write(self.reply_seq, &error).await;
    }

    /// Marks the primary lost; a pinned session ends.
    pub(super) fn lose_primary(&mut self, reason: String) -> Result<(), BackendError> {
        super::metrics::Counters::add(&self.shared.counters.primary_lost);
        if let Some(why) = self.route.pinned {
            return Err(BackendError::PrimaryLost(format!(
                "{reason}; the session ends: its state ({why}) was on the old primary"
            )));
        }
        tracing::debug!(%reason, "the session's primary is lost; its next statement reconnects");
        self.primary_lost = true;
        self.route.in_transaction = false;
        Ok(())
    }

    /// A new primary connection for the current statement; false when the statement was
    /// answered with an error instead (its transaction was lost, no node serves, or the
    /// primary cannot be reached) and the next statement tries again.
    pub(super) async fn reconnect_primary(&mut self) -> Result<bool, BackendError> {
        if self.transaction_lost {
            self.transaction_lost = false;
            return self
                .refuse(
                    "the primary changed while this session's transaction was open; the \
                         transaction is rolled back and this statement was not run",
                )
                .await;
        }
        let verdict = self.shared.cluster.borrow().clone();
        if let Primary::None { sentence } = verdict {
            return self
                .refuse(&format!("{sentence}; this statement was not run"))
                .await;
        }
        let shared = self.shared;
        let schema = self.schema.clone();
        let backend = match Backend::connect(&shared.primary, &self.login, schema.as_deref()).await
        {
            Ok(backend) => backend,
            Err(e) => {
                let message = format!("cannot reach the primary ({e}); this statement was not run");
                return self.refuse(&message).await;
            }
        };
        self.primary = backend;
        self.primary_lost = false;
        if self.ryw == ReadYourWrites::Dirty {
            // The last write's GTID was on the old connection: wait for all the new primary
            // has instead, which includes it.
            let position = self.primary.scalar("SELECT @@gtid_binlog_pos").await;
            if let Ok(Some(gtid)) = position.map(|p| p.filter(|g| is_gtid_list(g))) {
                self.ryw = ReadYourWrites::Gtid {
                    gtid,
                    applied: Vec::new(),
                };
            }
        }
        tracing::debug!(primary = %shared.primary, "the session has a new primary connection");
        Ok(true)
    }

    async fn refuse(&mut self, why: &str) -> Result<bool, BackendError> {
        let error = Err::primary_gone(format!("tandem proxy: {why}")).encode();
        self.client
            .write(self.reply_seq, &error)
            .await
            .map_err(BackendError::Client)?;
        Ok(false)
    }
}
