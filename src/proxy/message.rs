//! The protocol messages the proxy reads and writes, pure: the server's Handshake v10, the
//! client's HandshakeResponse41, OK/ERR/EOF, and the commands. Every parser takes a payload
//! (see `packet.rs`) and returns `None` for bytes that are not that message; none panics.

use super::packet::{put_lenenc, put_lenenc_bytes, Reader};

/// Capability flags (the protocol's `CLIENT_*`).
pub mod caps {
    pub const LONG_PASSWORD: u32 = 1;
    pub const FOUND_ROWS: u32 = 1 << 1;
    pub const LONG_FLAG: u32 = 1 << 2;
    pub const CONNECT_WITH_DB: u32 = 1 << 3;
    pub const LOCAL_FILES: u32 = 1 << 7;
    pub const IGNORE_SPACE: u32 = 1 << 8;
    pub const PROTOCOL_41: u32 = 1 << 9;
    pub const INTERACTIVE: u32 = 1 << 10;
    pub const SSL: u32 = 1 << 11;
    pub const TRANSACTIONS: u32 = 1 << 13;
    pub const SECURE_CONNECTION: u32 = 1 << 15;
    pub const MULTI_STATEMENTS: u32 = 1 << 16;
    pub const MULTI_RESULTS: u32 = 1 << 17;
    pub const PS_MULTI_RESULTS: u32 = 1 << 18;
    pub const PLUGIN_AUTH: u32 = 1 << 19;
    pub const CONNECT_ATTRS: u32 = 1 << 20;
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 1 << 21;
    pub const SESSION_TRACK: u32 = 1 << 23;
    pub const DEPRECATE_EOF: u32 = 1 << 24;

    /// What the proxy offers clients and asks of backends. Left out on purpose: SSL (not yet),
    /// LOCAL_FILES (a file upload the router cannot see), MULTI_STATEMENTS (one COM_QUERY must
    /// be one statement, or a write could ride on a read to a replica), CONNECT_ATTRS,
    /// SESSION_TRACK and DEPRECATE_EOF (one resultset shape to follow).
    pub const PROXY: u32 = LONG_PASSWORD
        | FOUND_ROWS
        | LONG_FLAG
        | CONNECT_WITH_DB
        | IGNORE_SPACE
        | PROTOCOL_41
        | INTERACTIVE
        | TRANSACTIONS
        | SECURE_CONNECTION
        | MULTI_RESULTS
        | PS_MULTI_RESULTS
        | PLUGIN_AUTH
        | PLUGIN_AUTH_LENENC_CLIENT_DATA;
}

/// Server status flags in OK and EOF.
pub mod status {
    pub const IN_TRANS: u16 = 1;
    pub const AUTOCOMMIT: u16 = 1 << 1;
    pub const MORE_RESULTS_EXISTS: u16 = 1 << 3;
}

/// The one authentication plugin the proxy speaks.
pub const NATIVE_PASSWORD: &str = "mysql_native_password";
/// The scramble (nonce) length of mysql_native_password.
pub const SCRAMBLE_BYTES: usize = 20;

/// Handshake v10, server to client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub server_version: String,
    pub connection_id: u32,
    pub scramble: Vec<u8>,
    pub capabilities: u32,
    pub charset: u8,
    pub status: u16,
    pub auth_plugin: String,
}

impl Handshake {
    pub fn parse(payload: &[u8]) -> Option<Handshake> {
        let mut r = Reader::new(payload);
        if r.u8()? != 10 {
            return None;
        }
        let server_version = String::from_utf8_lossy(r.nul_terminated()?).into_owned();
        let connection_id = r.u32()?;
        let mut scramble = r.take(8)?.to_vec();
        r.u8()?;
        let low = u32::from(r.u16()?);
        let charset = r.u8()?;
        let status = r.u16()?;
        let capabilities = low | u32::from(r.u16()?) << 16;
        let data_len = usize::from(r.u8()?);
        r.take(10)?;
        if capabilities & caps::SECURE_CONNECTION != 0 {
            // The rest of the scramble: max(13, len - 8) bytes, the last a NUL.
            let part = r.take(data_len.saturating_sub(8).max(13))?;
            scramble.extend(part.iter().take_while(|&&b| b != 0));
        }
        let auth_plugin = if capabilities & caps::PLUGIN_AUTH != 0 {
            let rest = r.remaining();
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).into_owned()
        } else {
            NATIVE_PASSWORD.to_string()
        };
        Some(Handshake {
            server_version,
            connection_id,
            scramble,
            capabilities,
            charset,
            status,
            auth_plugin,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![10];
        out.extend_from_slice(self.server_version.as_bytes());
        out.push(0);
        out.extend_from_slice(&self.connection_id.to_le_bytes());
        let (first, second) = self.scramble.split_at(self.scramble.len().min(8));
        out.extend_from_slice(first);
        out.extend(std::iter::repeat_n(0, 8 - first.len()));
        out.push(0);
        out.extend_from_slice(&(self.capabilities as u16).to_le_bytes());
        out.push(self.charset);
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&((self.capabilities >> 16) as u16).to_le_bytes());
        out.push((self.scramble.len() + 1) as u8);
        out.extend_from_slice(&[0; 10]);
        out.extend_from_slice(second);
        out.extend(std::iter::repeat_n(0, 13usize.saturating_sub(second.len())));
        out.extend_from_slice(self.auth_plugin.as_bytes());
        out.push(0);
        out
    }
}

/// HandshakeResponse41, client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    pub capabilities: u32,
    pub max_packet_bytes: u32,
    pub charset: u8,
    pub user: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    pub auth_plugin: Option<String>,
}

impl HandshakeResponse {
    pub fn parse(payload: &[u8]) -> Option<HandshakeResponse> {
        let mut r = Reader::new(payload);
        let capabilities = r.u32()?;
        if capabilities & caps::PROTOCOL_41 == 0 {
            return None;
        }
        let max_packet_bytes = r.u32()?;
        let charset = r.u8()?;
        r.take(23)?;
        let user = String::from_utf8_lossy(r.nul_terminated()?).into_owned();
        let auth_response = if capabilities & caps::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            r.lenenc_bytes()?
        } else if capabilities & caps::SECURE_CONNECTION != 0 {
            let len = usize::from(r.u8()?);
            r.take(len)?
        } else {
            r.nul_terminated()?
        }
        .to_vec();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let database = if capabilities & caps::CONNECT_WITH_DB != 0 {
            r.nul_terminated().map(text).filter(|d| !d.is_empty())
        } else {
            None
        };
        let auth_plugin = if capabilities & caps::PLUGIN_AUTH != 0 {
            r.nul_terminated().map(text)
        } else {
            None
        };
        Some(HandshakeResponse {
            capabilities,
            max_packet_bytes,
            charset,
            user,
            auth_response,
            database,
            auth_plugin,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.capabilities.to_le_bytes());
        out.extend_from_slice(&self.max_packet_bytes.to_le_bytes());
        out.push(self.charset);
        out.extend_from_slice(&[0; 23]);
        out.extend_from_slice(self.user.as_bytes());
        out.push(0);
        if self.capabilities & caps::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            put_lenenc_bytes(&mut out, &self.auth_response);
        } else {
            out.push(self.auth_response.len().min(255) as u8);
            out.extend(self.auth_response.iter().take(255));
        }
        if self.capabilities & caps::CONNECT_WITH_DB != 0 {
            out.extend_from_slice(self.database.as_deref().unwrap_or("").as_bytes());
            out.push(0);
        }
        if self.capabilities & caps::PLUGIN_AUTH != 0 {
            out.extend_from_slice(self.auth_plugin.as_deref().unwrap_or("").as_bytes());
            out.push(0);
        }
        out
    }
}

/// An OK packet (header 0x00, or 0xFE closing a resultset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ok {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
    pub warnings: u16,
}

impl Ok {
    pub fn parse(payload: &[u8]) -> Option<Ok> {
        let mut r = Reader::new(payload);
        if !matches!(r.u8()?, 0x00 | 0xFE) {
            return None;
        }
        Some(Ok {
            affected_rows: r.lenenc()?,
            last_insert_id: r.lenenc()?,
            status: r.u16()?,
            warnings: r.u16()?,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0];
        put_lenenc(&mut out, self.affected_rows);
        put_lenenc(&mut out, self.last_insert_id);
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&self.warnings.to_le_bytes());
        out
    }
}

/// The proxy's answer when the primary is gone (it failed, tandemd says it no longer serves,
/// or no node serves): ER_SERVER_SHUTDOWN, SQLSTATE class 08 (connection exception), which
/// drivers treat as a lost connection. Never a client code (CR_SERVER_LOST 2013,
/// CR_CONN_HOST_ERROR 2003): MariaDB Connector/C (CONC-648, in Debian 12's libmariadb3)
/// refuses a client code from a server as a malformed packet (2027).
pub const PRIMARY_GONE: (u16, &str) = (1053, "08S01");
/// Error codes only a client library may raise: 2000–2999 (CR_*) and MariaDB's 5000–5999.
const CLIENT_ONLY_CODES: [std::ops::RangeInclusive<u16>; 2] = [2000..=2999, 5000..=5999];

/// An ERR packet (header 0xFF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Err {
    pub code: u16,
    pub sql_state: String,
    pub message: String,
}

impl Err {
    /// An error of the proxy's own; `code` must be a server's (a client code is a bug: the
    /// client would read a malformed packet).
    pub fn new(code: u16, sql_state: &str, message: impl Into<String>) -> Err {
        assert!(
            !CLIENT_ONLY_CODES.iter().any(|r| r.contains(&code)),
            "error {code} is a client library's code; a server must not send it"
        );
        Err {
            code,
            sql_state: sql_state.to_string(),
            message: message.into(),
        }
    }

    /// [`PRIMARY_GONE`] with `message`.
    pub fn primary_gone(message: impl Into<String>) -> Err {
        Err::new(PRIMARY_GONE.0, PRIMARY_GONE.1, message)
    }

    pub fn parse(payload: &[u8]) -> Option<Err> {
        let mut r = Reader::new(payload);
        if r.u8()? != 0xFF {
            return None;
        }
        let code = r.u16()?;
        let mut sql_state = String::new();
        if r.remaining().first() == Some(&b'#') {
            r.u8()?;
            sql_state = String::from_utf8_lossy(r.take(5)?).into_owned();
        }
        let message = String::from_utf8_lossy(r.remaining()).into_owned();
        Some(Err {
            code,
            sql_state,
            message,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0xFF];
        out.extend_from_slice(&self.code.to_le_bytes());
        out.push(b'#');
        let state = format!("{:5.5}", self.sql_state);
        out.extend_from_slice(state.as_bytes());
        out.extend_from_slice(self.message.as_bytes());
        out
    }
}

/// An EOF packet's status flags: header 0xFE and shorter than 9 bytes (a longer 0xFE packet
/// is a row whose first value has an 8-byte length).
pub fn eof_status(payload: &[u8]) -> Option<u16> {
    if payload.first() != Some(&0xFE) || payload.len() >= 9 {
        return None;
    }
    let mut r = Reader::new(&payload[1..]);
    r.u16()?;
    r.u16()
}

/// A client command: the first byte of a packet with sequence id 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    Quit,
    InitDb(&'a [u8]),
    Query(&'a [u8]),
    Ping,
    /// COM_STMT_PREPARE: the prepared statement lives on one server.
    StmtPrepare(&'a [u8]),
    /// COM_STMT_EXECUTE and COM_STMT_RESET: answered like a query.
    StmtExecute,
    /// COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA: no answer at all.
    StmtNoReply,
    /// Anything else, by its command byte: refused.
    Other(u8),
}

impl Command<'_> {
    pub fn parse(payload: &[u8]) -> Option<Command<'_>> {
        let (&code, rest) = payload.split_first()?;
        Some(match code {
            0x01 => Command::Quit,
            0x02 => Command::InitDb(rest),
            0x03 => Command::Query(rest),
            0x0E => Command::Ping,
            0x16 => Command::StmtPrepare(rest),
            0x17 | 0x1A => Command::StmtExecute,
            0x18 | 0x19 => Command::StmtNoReply,
            other => Command::Other(other),
        })
    }
}
