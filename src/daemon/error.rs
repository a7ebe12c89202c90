//! Why tandemd cannot start or go on: shared by startup (setup.rs) and the peer link.

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("this host is {me:?}, which is not a node in the config ({nodes}); pass --node NAME or fix [[node]] name")]
    NotANode { me: String, nodes: String },
    #[error("cannot open the journal {path}: {error}")]
    Journal { path: String, error: String },
    #[error("cannot {what}: {error}")]
    Io { what: &'static str, error: String },
    #[error("{0}")]
    Peer(String),
}

impl DaemonError {
    pub fn io(what: &'static str) -> impl Fn(std::io::Error) -> DaemonError {
        move |e| DaemonError::Io {
            what,
            error: e.to_string(),
        }
    }
}
