//! Where one statement goes, pure. A session reads from a replica only when nothing ties it
//! to the primary: no transaction open (the primary's own server status says so after every
//! answer), autocommit on, no session state that lives only on the primary (temporary
//! tables, prepared statements, user variables, SET, locks). The first matching rule of the
//! operator's table decides next; then the statement's own words.
//!
//! ```text
//! pinned? ─► primary      in a transaction / autocommit off? ─► primary
//! rule table (first match) ─► primary | replica (a replica rule routes only a plain read)
//! SELECT without locking, INTO, user variables or session functions ─► replica
//! everything else ─► primary (CREATE TEMPORARY, PREPARE, LOCK, SET, @var also pin the session)
//! ```

use super::message::status;
use regex::Regex;
use std::borrow::Cow;

/// Where a statement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Primary,
    Replica,
}

/// What a statement is, for routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A plain read: may run on a replica.
    Read,
    /// A read that must see the primary (locking, session functions, INTO): no data change.
    PrimaryRead,
    /// May change data: runs on the primary; the session's next read waits for its GTID.
    Write,
    /// Leaves state on the primary's session: runs there, and the session stays there.
    Pin,
    /// `USE db`: runs on the primary, then on each replica connection before its next read.
    Use(String),
    /// Not relayed at all: `KILL` names a connection id, and the ids a client sees are the
    /// proxy's, not the server's; relayed, it would kill some other client's connection.
    Refused,
}

/// One classification with its reason, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: Kind,
    pub reason: &'static str,
}

/// Functions whose result depends on this session's earlier statements on the primary, or
/// that take locks there.
const PRIMARY_FUNCTIONS: [&str; 12] = [
    "LAST_INSERT_ID",
    "FOUND_ROWS",
    "ROW_COUNT",
    "NEXTVAL",
    "LASTVAL",
    "SETVAL",
    "MASTER_POS_WAIT",
    "MASTER_GTID_WAIT",
    "GET_LOCK",
    "RELEASE_LOCK",
    "RELEASE_ALL_LOCKS",
    "IS_USED_LOCK",
];
/// System variables that describe this session's last write on the primary.
const PRIMARY_VARIABLES: [&str; 3] = ["@@LAST_INSERT_ID", "@@IDENTITY", "@@LAST_GTID"];
/// Lock functions pin the session: the lock belongs to the primary connection.
const LOCK_FUNCTIONS: [&str; 3] = ["GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS"];

/// The longest keyword matched as a statement's first word (`DEALLOCATE`), in bytes.
const FIRST_KEYWORD_BYTES: usize = 10;
/// Tokens a statement usually has; its token list is allocated once with room for this many.
const USUAL_TOKENS: usize = 32;

/// The statement's words as slices of it, outside comments, string literals and quoted
/// identifiers (a literal becomes `?`, a quoted identifier `` ` ``); punctuation is one token
/// per byte. Nothing is copied or upper-cased: the keywords are ASCII and are compared
/// without regard to case. A byte above 0x7F is part of a word, as in MariaDB's own lexer
/// (an unquoted identifier may hold any character from U+0080 on).
pub fn tokens(sql: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::with_capacity(USUAL_TOKENS);
    let mut i = 0;
    while i < sql.len() {
        let c = sql[i];
        let next = sql.get(i + 1).copied();
        if c.is_ascii_whitespace() || c == 0x0B {
            i += 1;
        } else if c == b'#' || (c == b'-' && next == Some(b'-')) {
            i = skip_until(sql, i, b"\n");
        } else if c == b'/' && next == Some(b'*') {
            if matches!(sql.get(i + 2), Some(b'!' | b'M')) {
                // An executable comment runs as SQL: keep its words.
                out.push(b"/*!");
            }
            i = skip_until(sql, i + 2, b"*/");
        } else if c == b'\'' || c == b'"' || c == b'`' {
            i = skip_quoted(sql, i);
            out.push(if c == b'`' { b"`" } else { b"?" });
        } else if is_word(c) {
            let start = i;
            while i < sql.len() && is_word(sql[i]) {
                i += 1;
            }
            out.push(&sql[start..i]);
        } else {
            out.push(&sql[i..i + 1]);
            i += 1;
        }
    }
    out
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'@' || c == b'$' || c >= 0x80
}

/// The index just past `end` (or the end of input), searching from `from`.
fn skip_until(sql: &[u8], from: usize, end: &[u8]) -> usize {
    let rest = sql.get(from..).unwrap_or(&[]);
    match rest.windows(end.len()).position(|w| w == end) {
        Some(at) => from + at + end.len(),
        None => sql.len(),
    }
}

/// The index just past the closing quote; a doubled quote or a backslash escapes.
fn skip_quoted(sql: &[u8], from: usize) -> usize {
    let quote = sql[from];
    let mut i = from + 1;
    while i < sql.len() {
        if sql[i] == b'\\' && quote != b'`' {
            i += 2;
        } else if sql[i] == quote {
            if sql.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    sql.len()
}

/// `token` is the ASCII keyword `keyword` (upper-case), in any case.
fn is(token: &[u8], keyword: &str) -> bool {
    token.eq_ignore_ascii_case(keyword.as_bytes())
}

/// Classifies one statement by its words.
pub fn classify(sql: &str) -> Classified {
    let words = tokens(sql.as_bytes());
    let c = |kind, reason| Classified { kind, reason };
    let word = |i: usize| words.get(i).copied().unwrap_or(b"");
    let semicolon = words.iter().position(|t| *t == b";");
    if semicolon.is_some_and(|at| at + 1 < words.len()) {
        return c(Kind::Write, "more than one statement");
    }
    if words.iter().any(|t| *t == b"/*!") {
        return c(Kind::Write, "an executable comment");
    }
    if words
        .iter()
        .any(|t| t.first() == Some(&b'@') && t.get(1) != Some(&b'@'))
    {
        return c(Kind::Pin, "user variables live in the primary's session");
    }
    let mut first = [0u8; FIRST_KEYWORD_BYTES];
    let head = match first.get_mut(..word(0).len()) {
        Some(head) => {
            head.copy_from_slice(word(0));
            head.make_ascii_uppercase();
            &*head
        }
        None => b"",
    };
    match head {
        b"SELECT" => classify_select(&words),
        b"SET" => c(Kind::Pin, "SET changes the session"),
        b"USE" => c(
            Kind::Use(use_target(sql)),
            "USE changes the default database",
        ),
        b"PREPARE" | b"EXECUTE" | b"DEALLOCATE" => {
            c(Kind::Pin, "prepared statements live in the session")
        }
        b"LOCK" => c(Kind::Pin, "LOCK TABLES holds locks in the session"),
        b"CREATE" if is(word(1), "TEMPORARY") || is(word(2), "TEMPORARY") => {
            c(Kind::Pin, "temporary tables live in the session")
        }
        b"BEGIN" | b"START" | b"XA" => c(Kind::Write, "a transaction starts"),
        b"KILL" => c(
            Kind::Refused,
            "KILL through the proxy would name the wrong connection",
        ),
        b"SHOW" | b"DESCRIBE" | b"DESC" | b"EXPLAIN" | b"HELP" => {
            c(Kind::PrimaryRead, "SHOW and EXPLAIN describe the primary")
        }
        _ => c(Kind::Write, "a statement that may change data"),
    }
}

fn classify_select(words: &[&[u8]]) -> Classified {
    let c = |kind, reason| Classified { kind, reason };
    let pair = |a: &str, b: &str| words.windows(2).any(|w| is(w[0], a) && is(w[1], b));
    let function = |name: &str| pair(name, "(");
    if LOCK_FUNCTIONS.iter().any(|f| function(f)) {
        return c(Kind::Pin, "a lock function holds a lock in the session");
    }
    if pair("FOR", "UPDATE") || pair("SHARE", "MODE") {
        return c(Kind::PrimaryRead, "a locking read");
    }
    if words.iter().any(|t| is(t, "INTO")) {
        return c(Kind::Write, "SELECT … INTO");
    }
    if PRIMARY_FUNCTIONS.iter().any(|f| function(f))
        || words
            .iter()
            .any(|t| PRIMARY_VARIABLES.iter().any(|v| is(t, v)))
        || words.iter().any(|t| is(t, "SQL_CALC_FOUND_ROWS"))
    {
        return c(Kind::PrimaryRead, "a function of the primary session");
    }
    c(Kind::Read, "a plain read")
}

/// The database a `USE` names: the second word, without quotes or a trailing `;`.
fn use_target(sql: &str) -> String {
    let rest = sql.trim_start();
    let rest = rest.get(3..).unwrap_or("").trim();
    let rest = rest.trim_end_matches(';').trim();
    rest.trim_matches('`').to_string()
}

/// One rule of the operator's table: statements matching `pattern` go to `target`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub pattern: Regex,
    pub target: Target,
}

/// The routing state of one client session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// Why the session stays on the primary for good, once it does.
    pub pinned: Option<&'static str>,
    /// A transaction is open, or autocommit is off: as the primary's last status said.
    pub in_transaction: bool,
}

/// Where one statement goes, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub target: Target,
    pub kind: Kind,
    /// Borrowed but for a rule's reason: routing allocates nothing for most statements.
    pub reason: Cow<'static, str>,
}

impl Session {
    /// Routes `sql`; a statement that pins the session pins it here.
    pub fn route(&mut self, sql: &str, rules: &[Rule]) -> Route {
        let classified = classify(sql);
        let route = |target, reason: Cow<'static, str>| Route {
            target,
            kind: classified.kind.clone(),
            reason,
        };
        if classified.kind == Kind::Refused {
            return route(Target::Primary, classified.reason.into());
        }
        if classified.kind == Kind::Pin && self.pinned.is_none() {
            self.pinned = Some(classified.reason);
        }
        if let Some(why) = self.pinned {
            return route(Target::Primary, format!("session pinned: {why}").into());
        }
        if self.in_transaction {
            return route(Target::Primary, "in a transaction".into());
        }
        if let Some((n, rule)) = rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.pattern.is_match(sql))
        {
            let target = match rule.target {
                Target::Replica if classified.kind != Kind::Read => Target::Primary,
                target => target,
            };
            return route(
                target,
                format!("rule {} ({})", n + 1, rule.pattern.as_str()).into(),
            );
        }
        let target = match classified.kind {
            Kind::Read => Target::Replica,
            _ => Target::Primary,
        };
        route(target, classified.reason.into())
    }

    /// Takes the server status of the primary's last answer.
    pub fn primary_status(&mut self, server_status: u16) {
        self.in_transaction =
            server_status & status::IN_TRANS != 0 || server_status & status::AUTOCOMMIT == 0;
    }

    /// Pins for prepared statements sent with COM_STMT_PREPARE.
    pub fn pin(&mut self, why: &'static str) {
        self.pinned.get_or_insert(why);
    }
}
