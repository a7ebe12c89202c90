//! The stored password hashes, read from the primary: `mysql.global_priv` (MariaDB 10.4+)
//! through the proxy's own account, over a small connection pool.

use crate::config::credentials::Credentials;
use mysql_async::prelude::Queryable;
use mysql_async::{OptsBuilder, Pool, PoolConstraints, PoolOpts};
use std::time::Duration;

/// Logins look hashes up at most this many at a time; more wait for a pooled connection.
const USER_POOL_CONNECTIONS: usize = 4;
/// A lookup slower than this fails the client's login with "the primary did not answer".
pub const USER_LOOKUP_TIMEOUT_MS: u64 = 3_000;

/// The accounts whose plugin is mysql_native_password (or unset), by user name: one hash
/// per host entry. The host part is left to the backends, which see the proxy's address.
const LOOKUP: &str = "SELECT IFNULL(JSON_VALUE(Priv, '$.authentication_string'), '') \
    FROM mysql.global_priv WHERE User = ? AND \
    IFNULL(JSON_VALUE(Priv, '$.plugin'), 'mysql_native_password') = 'mysql_native_password'";

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("reading mysql.global_priv on the primary failed: {0}")]
    Query(String),
    #[error("the primary did not answer within {USER_LOOKUP_TIMEOUT_MS} ms")]
    Timeout,
}

/// Reads hashes from the primary.
pub struct Users {
    pool: Pool,
}

impl Users {
    pub fn new(host: &str, port: u16, credentials: &Credentials) -> Users {
        let constraints = PoolConstraints::new(0, USER_POOL_CONNECTIONS).unwrap_or_default();
        let opts = OptsBuilder::default()
            .ip_or_hostname(host.to_string())
            .tcp_port(port)
            .user(Some(credentials.user.clone()))
            .pass(Some(credentials.password.clone()))
            .prefer_socket(false)
            .pool_opts(PoolOpts::default().with_constraints(constraints));
        Users {
            pool: Pool::new(opts),
        }
    }

    /// Every stored `authentication_string` of `user` with mysql_native_password. A failed
    /// lookup is tried once more on a new connection: after a failover the pooled ones still
    /// point at the old primary's dead sessions.
    pub async fn hashes(&self, user: &str) -> Result<Vec<String>, LookupError> {
        match self.lookup(user).await {
            Err(LookupError::Query(first)) => {
                tracing::info!(error = %first, "hash lookup failed; retrying on a new connection");
                self.lookup(user).await
            }
            result => result,
        }
    }

    async fn lookup(&self, user: &str) -> Result<Vec<String>, LookupError> {
        let lookup = async {
            let mut conn = self.pool.get_conn().await?;
            conn.exec::<String, _, _>(LOOKUP, (user,)).await
        };
        let limit = Duration::from_millis(USER_LOOKUP_TIMEOUT_MS);
        match tokio::time::timeout(limit, lookup).await {
            Ok(Ok(mut hashes)) => {
                hashes.dedup();
                Ok(hashes)
            }
            Ok(Err(e)) => Err(LookupError::Query(e.to_string())),
            Err(_) => Err(LookupError::Timeout),
        }
    }
}
