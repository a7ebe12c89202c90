//! A client's login: the proxy's greeting with its own scramble, the client's answer checked
//! against the primary's stored hashes, and the primary connection opened as that client.

use super::backend::{Backend, BackendError, Login};
use super::io::{IoError, PacketStream};
use super::Shared;
use crate::proxy::auth::{self, Credential};
use crate::proxy::cluster::Primary;
use crate::proxy::message::{caps, status, Err, Handshake, HandshakeResponse, Ok};
use crate::proxy::message::{NATIVE_PASSWORD, SCRAMBLE_BYTES};
use std::time::Duration;
use tokio::sync::watch;

/// A client must finish its login within this; a silent one holds a connection slot.
pub const CLIENT_LOGIN_TIMEOUT_MS: u64 = 10_000;
/// A login whose password lookup the primary did not answer waits at most this long for the
/// proxy's view of tandemd to change: one poll and its scrape (250 + 500 ms) and a little
/// for tandemd to see the change itself; well inside [`CLIENT_LOGIN_TIMEOUT_MS`].
pub const LOGIN_VIEW_WAIT_MS: u64 = 1_000;
/// What the proxy says it is: MariaDB clients read the real version after the "5.5.5-".
const SERVER_VERSION: &str = "5.5.5-10.11.0-MariaDB-tandem-proxy";
/// utf8mb4_general_ci, the greeting's charset.
const GREETING_CHARSET: u8 = 45;

/// A logged-in client: who it is, and its primary connection.
pub struct Admitted {
    pub login: Login,
    pub primary: Backend,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("client: {0}")]
    Client(#[from] IoError),
    #[error("the client did not log in within {CLIENT_LOGIN_TIMEOUT_MS} ms")]
    Timeout,
    #[error("refused: {0}")]
    Refused(String),
}

/// 20 random printable bytes: a scramble never holds a NUL (clients read part 2 up to one).
fn scramble() -> Vec<u8> {
    let mut bytes = [0u8; SCRAMBLE_BYTES];
    if getrandom::fill(&mut bytes).is_err() {
        tracing::error!("no randomness for a scramble; refusing the login");
    }
    bytes.iter().map(|b| 33 + b % 94).collect()
}

/// Runs the login; on a refusal the client has been told why.
pub async fn admit(
    client: &mut PacketStream,
    shared: &Shared,
    connection_id: u32,
) -> Result<Admitted, LoginError> {
    let limit = Duration::from_millis(CLIENT_LOGIN_TIMEOUT_MS);
    tokio::time::timeout(limit, admit_now(client, shared, connection_id))
        .await
        .map_err(|_| LoginError::Timeout)?
}

async fn admit_now(
    client: &mut PacketStream,
    shared: &Shared,
    connection_id: u32,
) -> Result<Admitted, LoginError> {
    let scramble = scramble();
    let greeting = Handshake {
        server_version: SERVER_VERSION.to_string(),
        connection_id,
        scramble: scramble.clone(),
        capabilities: caps::PROXY,
        charset: GREETING_CHARSET,
        status: status::AUTOCOMMIT,
        auth_plugin: NATIVE_PASSWORD.to_string(),
    };
    client.write(0, &greeting.encode()).await?;
    let packet = client.read().await?;
    let mut seq = packet.next_seq();
    let Some(response) = HandshakeResponse::parse(&packet.payload) else {
        let error = Err::new(
            1043,
            "08S01",
            "Bad handshake (tandem proxy speaks no SSL yet)",
        );
        return refuse(client, seq, error).await;
    };
    let mut answer = response.auth_response.clone();
    if response
        .auth_plugin
        .as_deref()
        .is_some_and(|p| p != NATIVE_PASSWORD)
    {
        // AuthSwitchRequest to mysql_native_password with the same scramble.
        let mut switch = vec![0xFE];
        switch.extend_from_slice(NATIVE_PASSWORD.as_bytes());
        switch.push(0);
        switch.extend_from_slice(&scramble);
        switch.push(0);
        client.write(seq, &switch).await?;
        let reply = client.read().await?;
        seq = reply.next_seq();
        answer = reply.payload;
    }
    admit_checked(client, shared, seq, &response, &scramble, &answer).await
}

/// After the client's answer: its password checked, its primary connection opened, and the
/// client told. Refused after the client's answer, not before the greeting: a client refuses
/// an error that comes before the TLS handshake could have happened as unverifiable
/// (CONC-648).
async fn admit_checked(
    client: &mut PacketStream,
    shared: &Shared,
    seq: u8,
    response: &HandshakeResponse,
    scramble: &[u8],
    answer: &[u8],
) -> Result<Admitted, LoginError> {
    let mut view = shared.cluster.clone();
    let verdict = view.borrow_and_update().clone();
    if let Primary::None { sentence } = verdict {
        let error = Err::primary_gone(format!("tandem proxy: {sentence}"));
        return refuse(client, seq, error).await;
    }
    let credential = match checked(shared, &mut view, &response.user, scramble, answer).await {
        Ok(credential) => credential,
        Err(error) => return refuse(client, seq, error).await,
    };
    let login = Login {
        user: response.user.clone(),
        credential,
        charset: response.charset,
        capabilities: response.capabilities,
    };
    let schema = response.database.as_deref();
    let primary = match Backend::connect(&shared.primary, &login, schema).await {
        Ok(primary) => primary,
        Err(BackendError::Refused { error, .. }) => return refuse(client, seq, error).await,
        Err(e) => {
            let error = Err::primary_gone(format!("tandem proxy: {e}"));
            return refuse(client, seq, error).await;
        }
    };
    let ok = Ok {
        affected_rows: 0,
        last_insert_id: 0,
        status: status::AUTOCOMMIT,
        warnings: 0,
    };
    client.write(seq, &ok.encode()).await?;
    Ok(Admitted { login, primary })
}

/// The password checked against the primary's stored hashes. When the primary does not
/// answer the lookup, the service may just have moved, before the proxy's view of tandemd
/// (read every `CLUSTER_POLL_INTERVAL_MS`) says so: the login then waits for the view to
/// change, within [`LOGIN_VIEW_WAIT_MS`], and the client gets what it says (no active node:
/// error 1053 with tandemd's sentence; a new primary: the lookup runs once more, there)
/// instead of "cannot check the password" (1105).
async fn checked(
    shared: &Shared,
    view: &mut watch::Receiver<Primary>,
    user: &str,
    scramble: &[u8],
    answer: &[u8],
) -> Result<Credential, Err> {
    let unanswered = match check(shared, user, scramble, answer).await {
        Ok(credential) => return Ok(credential),
        Err(Refusal::Denied(error)) => return Err(error),
        Err(Refusal::Unanswered(error)) => error,
    };
    let limit = Duration::from_millis(LOGIN_VIEW_WAIT_MS);
    let changed = view.has_changed().unwrap_or(false)
        || matches!(
            tokio::time::timeout(limit, view.changed()).await,
            Ok(Ok(()))
        );
    if !changed {
        return Err(unanswered);
    }
    let verdict = view.borrow_and_update().clone();
    match verdict {
        Primary::None { sentence } => Err(Err::primary_gone(format!("tandem proxy: {sentence}"))),
        Primary::Active { node } => {
            tracing::info!(%user, %node, "the primary moved during a login; looking up there");
            match check(shared, user, scramble, answer).await {
                Ok(credential) => Ok(credential),
                Err(Refusal::Denied(error) | Refusal::Unanswered(error)) => Err(error),
            }
        }
        Primary::Unknown => Err(unanswered),
    }
}

/// Why a password was not accepted.
enum Refusal {
    /// A wrong password or no such user.
    Denied(Err),
    /// The primary did not answer the lookup.
    Unanswered(Err),
}

/// Checks the client's answer against every stored hash of its user.
async fn check(
    shared: &Shared,
    user: &str,
    scramble: &[u8],
    answer: &[u8],
) -> Result<Credential, Refusal> {
    let hashes = shared.users.hashes(user).await.map_err(|e| {
        tracing::warn!(%user, error = %e, "cannot check a password");
        Refusal::Unanswered(Err::new(
            1105,
            "HY000",
            format!("tandem proxy cannot check the password: {e}"),
        ))
    })?;
    for text in &hashes {
        let Ok(stored) = auth::parse_stored(text) else {
            continue;
        };
        if let Ok(credential) = auth::verify(stored.as_ref(), scramble, answer) {
            return Ok(credential);
        }
    }
    let using = if answer.is_empty() { "NO" } else { "YES" };
    tracing::info!(%user, "login refused: wrong password or no such user");
    Err(Refusal::Denied(Err::new(
        1045,
        "28000",
        format!("Access denied for user '{user}' (using password: {using})"),
    )))
}

async fn refuse<T>(client: &mut PacketStream, seq: u8, error: Err) -> Result<T, LoginError> {
    let message = error.message.clone();
    client.write(seq, &error.encode()).await?;
    Err(LoginError::Refused(message))
}
