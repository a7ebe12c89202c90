//! One backend connection: logs in as the client's user with SHA1(password) (`auth.rs`),
//! relays one command's answer to the client, and runs the proxy's own small queries
//! (`@@last_gtid`, `MASTER_GTID_WAIT`).

use super::io::{IoError, PacketStream, RelayError};
use crate::proxy::auth::{self, Credential};
use crate::proxy::message::{caps, Err, Handshake, HandshakeResponse, SCRAMBLE_BYTES};
use crate::proxy::message::{eof_status, NATIVE_PASSWORD};
use crate::proxy::packet::{Reader, MAX_PACKET_BYTES};
use crate::proxy::response::{Expect, Outcome, Progress, Response};
use std::time::Duration;
use tokio::net::TcpStream;

/// Connecting and logging in to a backend takes at most this; a dead VIP or replica answers
/// the client with an error after it rather than hanging the client.
pub const BACKEND_CONNECT_TIMEOUT_MS: u64 = 3_000;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot reach {address}: {error}")]
    Connect { address: String, error: String },
    #[error("{address} refused the login: {} ({})", .error.message, .error.code)]
    Refused { address: String, error: Err },
    #[error("{address} speaks no protocol the proxy follows: {what}")]
    Protocol { address: String, what: String },
    #[error("{address}: {error}")]
    Io { address: String, error: IoError },
    #[error("the client went away: {0}")]
    Client(IoError),
    #[error("tandemd says the primary no longer serves: {0}")]
    PrimaryLost(String),
}

/// Who logs in, as the client asked.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    pub credential: Credential,
    pub charset: u8,
    pub capabilities: u32,
}

/// A logged-in backend connection.
pub struct Backend {
    io: PacketStream,
    pub address: String,
    /// The default database, as last set on this connection.
    pub schema: Option<String>,
}

impl Backend {
    /// Connects and logs in, within [`BACKEND_CONNECT_TIMEOUT_MS`].
    pub async fn connect(
        address: &str,
        login: &Login,
        schema: Option<&str>,
    ) -> Result<Backend, BackendError> {
        let limit = Duration::from_millis(BACKEND_CONNECT_TIMEOUT_MS);
        match tokio::time::timeout(limit, Self::connect_now(address, login, schema)).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::Connect {
                address: address.to_string(),
                error: format!("no login within {BACKEND_CONNECT_TIMEOUT_MS} ms"),
            }),
        }
    }

    async fn connect_now(
        address: &str,
        login: &Login,
        schema: Option<&str>,
    ) -> Result<Backend, BackendError> {
        let stream = TcpStream::connect(address)
            .await
            .map_err(|e| BackendError::Connect {
                address: address.to_string(),
                error: e.to_string(),
            })?;
        let mut backend = Backend {
            io: PacketStream::new(stream),
            address: address.to_string(),
            schema: schema.map(str::to_string),
        };
        backend.login(login).await?;
        Ok(backend)
    }

    fn protocol(&self, what: impl Into<String>) -> BackendError {
        BackendError::Protocol {
            address: self.address.clone(),
            what: what.into(),
        }
    }

    fn io(&self, error: IoError) -> BackendError {
        BackendError::Io {
            address: self.address.clone(),
            error,
        }
    }

    async fn login(&mut self, login: &Login) -> Result<(), BackendError> {
        let greeting = self.io.read().await.map_err(|e| self.io(e))?;
        if let Some(error) = Err::parse(&greeting.payload) {
            return Err(self.refused(error));
        }
        let handshake =
            Handshake::parse(&greeting.payload).ok_or_else(|| self.protocol("no handshake v10"))?;
        let mut capabilities = login.capabilities & handshake.capabilities & caps::PROXY;
        capabilities |= caps::PROTOCOL_41 | caps::SECURE_CONNECTION | caps::PLUGIN_AUTH;
        if self.schema.is_none() {
            capabilities &= !caps::CONNECT_WITH_DB;
        }
        let scramble = handshake.scramble.get(..SCRAMBLE_BYTES).unwrap_or(&[]);
        let response = HandshakeResponse {
            capabilities,
            max_packet_bytes: MAX_PACKET_BYTES as u32,
            charset: login.charset,
            user: login.user.clone(),
            auth_response: auth::reply(&login.credential, scramble),
            database: self.schema.clone(),
            auth_plugin: Some(NATIVE_PASSWORD.to_string()),
        };
        let mut seq = greeting.next_seq();
        self.io
            .write(seq, &response.encode())
            .await
            .map_err(|e| self.io(e))?;
        loop {
            let answer = self.io.read().await.map_err(|e| self.io(e))?;
            match answer.payload.first() {
                Some(0x00) => return Ok(()),
                Some(0xFF) => {
                    let error = Err::parse(&answer.payload)
                        .ok_or_else(|| self.protocol("a short ERR at login"))?;
                    return Err(self.refused(error));
                }
                Some(0xFE) => {
                    // Auth switch: only to mysql_native_password with a new scramble.
                    let mut r = Reader::new(&answer.payload[1..]);
                    let plugin = r.nul_terminated().unwrap_or(&[]);
                    if plugin != NATIVE_PASSWORD.as_bytes() {
                        let name = String::from_utf8_lossy(plugin);
                        return Err(self.protocol(format!("asks for auth plugin {name}")));
                    }
                    let data = r.remaining();
                    let scramble = data.get(..SCRAMBLE_BYTES).unwrap_or(data);
                    seq = answer.next_seq();
                    let reply = auth::reply(&login.credential, scramble);
                    self.io.write(seq, &reply).await.map_err(|e| self.io(e))?;
                }
                _ => return Err(self.protocol("an unknown answer to the login")),
            }
        }
    }

    fn refused(&self, error: Err) -> BackendError {
        BackendError::Refused {
            address: self.address.clone(),
            error,
        }
    }

    /// Sends a command that gets no answer (COM_STMT_CLOSE, COM_QUIT).
    pub async fn send(&mut self, command: &[u8]) -> Result<(), BackendError> {
        self.io.write(0, command).await.map_err(|e| self.io(e))
    }

    /// Sends `command` and relays its answer to `client`. `Err((error, relayed))` says
    /// whether any of the answer reached the client (if not, the command may go elsewhere).
    pub async fn relay(
        &mut self,
        client: &mut PacketStream,
        command: &[u8],
        expect: Expect,
    ) -> Result<Outcome, (BackendError, bool)> {
        self.send(command).await.map_err(|e| (e, false))?;
        let mut response = Response::new(expect);
        let sent = client.packets_sent();
        match self.io.relay_answer(client, &mut response).await {
            Ok(outcome) => Ok(outcome),
            Err(error) => {
                let relayed = client.packets_sent() != sent;
                Err(match error {
                    RelayError::Backend(e) => (self.io(e), relayed),
                    RelayError::Protocol(e) => (self.protocol(e.to_string()), relayed),
                    RelayError::Client(e) => (BackendError::Client(e), true),
                })
            }
        }
    }

    /// Runs one statement of the proxy's own and returns the first column of its first row
    /// (`None` for NULL or no row).
    pub async fn scalar(&mut self, sql: &str) -> Result<Option<String>, BackendError> {
        let mut command = vec![0x03];
        command.extend_from_slice(sql.as_bytes());
        self.send(&command).await?;
        let mut response = Response::new(Expect::Results);
        let mut eofs = 0;
        let mut value = None;
        loop {
            let packet = self.io.read().await.map_err(|e| self.io(e))?;
            let progress = response
                .feed(&packet.payload)
                .map_err(|e| self.protocol(e.to_string()))?;
            if eof_status(&packet.payload).is_some() {
                eofs += 1;
            } else if eofs == 1 && value.is_none() {
                let cell = Reader::new(&packet.payload).lenenc_bytes();
                value = Some(cell.map(|b| String::from_utf8_lossy(b).into_owned()));
            }
            if let Progress::Done(outcome) = progress {
                if let Some(error) = outcome.error {
                    return Err(self.protocol(format!("`{sql}` failed: {}", error.message)));
                }
                return Ok(value.flatten());
            }
        }
    }

    /// `COM_INIT_DB`: makes `schema` the default database.
    pub async fn use_schema(&mut self, schema: &str) -> Result<(), BackendError> {
        let mut command = vec![0x02];
        command.extend_from_slice(schema.as_bytes());
        self.send(&command).await?;
        let answer = self.io.read().await.map_err(|e| self.io(e))?;
        if let Some(error) = Err::parse(&answer.payload) {
            return Err(self.refused(error));
        }
        self.schema = Some(schema.to_string());
        Ok(())
    }
}
