//! Where a server's answer to one command ends, pure: the proxy relays the answer packet by
//! packet and feeds each to [`Response::feed`], which says when the last one went by and
//! with which server status (in a transaction or not). Only the shapes the proxy lets through
//! exist here: OK, ERR, text and binary resultsets (with EOF packets: the proxy never offers
//! DEPRECATE_EOF), more results, and COM_STMT_PREPARE's answer.

use super::message::{eof_status, status, Err, Ok};
use super::packet::Reader;
use std::collections::VecDeque;

/// A column count above this is not a resultset header (MariaDB allows 4096 columns).
const MAX_COLUMNS: u64 = 65_535;

/// What the command expects back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// OK, ERR or resultsets (COM_QUERY, COM_INIT_DB, COM_PING, COM_STMT_EXECUTE …).
    Results,
    /// COM_STMT_PREPARE's answer: its OK, parameter and column definitions.
    Prepare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Start,
    Defs(u64),
    Eof,
    Rows,
}

/// How the answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The server status of the last OK or EOF; `None` after an ERR.
    pub status: Option<u16>,
    pub error: Option<Err>,
}

impl Outcome {
    pub fn in_transaction(&self) -> Option<bool> {
        self.status.map(|s| s & status::IN_TRANS != 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    More,
    Done(Outcome),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("the server sent a packet that does not fit its answer ({what})")]
    Unexpected { what: &'static str },
}

/// Follows one answer.
#[derive(Debug, Clone)]
pub struct Response {
    expect: Expect,
    steps: VecDeque<Step>,
}

impl Response {
    pub fn new(expect: Expect) -> Response {
        Response {
            expect,
            steps: VecDeque::from([Step::Start]),
        }
    }

    /// Takes the next packet of the answer.
    pub fn feed(&mut self, payload: &[u8]) -> Result<Progress, ResponseError> {
        let unexpected = |what| ResponseError::Unexpected { what };
        let step = self.steps.pop_front().ok_or(unexpected("after the end"))?;
        if payload.first() == Some(&0xFF) {
            let error = Err::parse(payload).ok_or(unexpected("a short ERR"))?;
            return Ok(done(None, Some(error)));
        }
        match step {
            Step::Start => self.start(payload),
            Step::Defs(left) => {
                if left > 1 {
                    self.steps.push_front(Step::Defs(left - 1));
                }
                Ok(self.more_or_done())
            }
            Step::Eof => {
                eof_status(payload).ok_or(unexpected("not an EOF after definitions"))?;
                Ok(self.more_or_done())
            }
            Step::Rows => match eof_status(payload) {
                Some(s) => Ok(self.end_of_result(s)),
                None => {
                    self.steps.push_front(Step::Rows);
                    Ok(Progress::More)
                }
            },
        }
    }

    fn start(&mut self, payload: &[u8]) -> Result<Progress, ResponseError> {
        let unexpected = |what| ResponseError::Unexpected { what };
        match (self.expect, payload.first()) {
            (Expect::Prepare, Some(0x00)) => {
                let mut r = Reader::new(&payload[1..]);
                let prepared = (r.u32(), r.u16(), r.u16());
                let (Some(_), Some(columns), Some(params)) = prepared else {
                    return Err(unexpected("a short prepare OK"));
                };
                for count in [params, columns] {
                    if count > 0 {
                        self.steps.push_back(Step::Defs(u64::from(count)));
                        self.steps.push_back(Step::Eof);
                    }
                }
                Ok(self.more_or_done())
            }
            (Expect::Results, Some(0x00)) => {
                let ok = Ok::parse(payload).ok_or(unexpected("a short OK"))?;
                Ok(self.end_of_result(ok.status))
            }
            (_, Some(0xFB)) => Err(unexpected("a LOCAL INFILE request")),
            (Expect::Results, Some(_)) => {
                let columns = Reader::new(payload).lenenc();
                match columns {
                    Some(n @ 1..=MAX_COLUMNS) => {
                        self.steps.extend([Step::Defs(n), Step::Eof, Step::Rows]);
                        Ok(Progress::More)
                    }
                    _ => Err(unexpected("not a column count")),
                }
            }
            (_, _) => Err(unexpected("an empty or unknown first packet")),
        }
    }

    fn more_or_done(&self) -> Progress {
        if self.steps.is_empty() {
            // A prepare's answer carries no server status.
            done(None, None)
        } else {
            Progress::More
        }
    }

    fn end_of_result(&mut self, server_status: u16) -> Progress {
        if server_status & status::MORE_RESULTS_EXISTS != 0 {
            self.steps.push_back(Step::Start);
            Progress::More
        } else {
            done(Some(server_status), None)
        }
    }
}

fn done(status: Option<u16>, error: Option<Err>) -> Progress {
    Progress::Done(Outcome { status, error })
}
