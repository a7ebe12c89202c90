//! `tandem.toml`: loading, validation with sentence errors at file:line:column, and rendering
//! of the DRBD resource file.
//!
//! ```text
//! text ──toml+serde──► Config ──validate()──► Config (trusted) ──render──► DRBD .res
//!                                                    └─► Settings (plain, for runtime)
//! ```
//! Both steps report through [`ConfigError`], whose lines read
//! `/etc/tandem/tandem.toml:12:12: protocol "D" is not valid; use one of "A", "B" or "C" …`.

mod address;
pub mod credentials;
mod error;
mod model;
pub mod policy;
pub mod proxy;
pub mod reload;
pub mod render;
pub mod replica;
mod settings;
mod validate;
mod words;

pub use error::{did_you_mean, ConfigError, Problem};
pub use model::{
    Address, Config, Drbd, Engine, Filesystem, Hooks, Metrics, Mysqld, Node, Timings, Vip,
    VipAddress, DEFAULT_USERMODE_HELPER,
};
pub use proxy::{Proxy, ProxyRule};
pub use replica::{Replica, Replication};
pub use settings::{
    FilesystemSettings, HookSettings, MysqldSettings, NodeSettings, Settings, VipSettings,
};
pub use validate::NODE_COUNT;
pub use words::{AfterSb0Pri, AfterSb1Pri, AfterSb2Pri, Fencing, Protocol, Storage};

use std::path::{Path, PathBuf};

/// Where the daemon and CLI look unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/tandem/tandem.toml";

/// A config file larger than this is certainly a mistake (a wrong path, a binary).
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

impl Config {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let read_error = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_error)?.len();
        if size > MAX_CONFIG_BYTES {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: vec![Problem {
                    line: 1,
                    column: 1,
                    message: format!(
                        "the file is {size} bytes, more than a config can be \
                         ({MAX_CONFIG_BYTES}); check the --config path"
                    ),
                }],
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        Self::parse(&text, path)
    }

    /// Only `[engine] control_socket` of the file at `path` (its default if the file cannot
    /// be read or parsed), without validating the rest: DRBD's handlers (`tandem helper`)
    /// and the CLI need nothing else, and a full validation would sit on the failover's
    /// critical path (DRBD waits for the fence-peer handler before it promotes).
    pub fn control_socket_of(path: &Path) -> PathBuf {
        Self::helper_view_of(path).0
    }

    /// What DRBD's usermode helper (`tandem-drbd-helper`) needs of the file at `path`:
    /// `[engine] control_socket` (or its default) and `[drbd] resource` (`None` if the file
    /// cannot be read or parsed, or has no DRBD resource). Like [`Config::control_socket_of`],
    /// it validates nothing else: the helper runs on the failover's critical path.
    pub fn helper_view_of(path: &Path) -> (PathBuf, Option<String>) {
        #[derive(serde::Deserialize)]
        struct File {
            #[serde(default)]
            engine: Option<EngineSocket>,
            #[serde(default)]
            drbd: Option<DrbdResource>,
        }
        #[derive(serde::Deserialize)]
        struct EngineSocket {
            control_socket: Option<PathBuf>,
        }
        #[derive(serde::Deserialize)]
        struct DrbdResource {
            resource: Option<String>,
        }
        let text = std::fs::metadata(path)
            .ok()
            .filter(|meta| meta.len() <= MAX_CONFIG_BYTES)
            .and_then(|_| std::fs::read_to_string(path).ok());
        let file = text.and_then(|text| toml::from_str::<File>(&text).ok());
        let (engine, drbd) = file.map_or((None, None), |file| (file.engine, file.drbd));
        let socket = engine
            .and_then(|engine| engine.control_socket)
            .unwrap_or_else(model::default_control_socket);
        (socket, drbd.and_then(|drbd| drbd.resource))
    }

    /// Parses and validates `text`; `path` only names the file in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |problems| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        };
        let locator = error::Locator::new(text);
        let config: Config = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let table = locator.table_at(span.start);
            let message = error::rewrite_serde_message(e.message(), &table);
            invalid(vec![locator.problem(span, message)])
        })?;
        let mut config = config;
        let problems = validate::Checker::new(text).run(&config);
        if problems.is_empty() {
            config.settings = Settings::new(&config);
            Ok(config)
        } else {
            Err(invalid(problems))
        }
    }

    /// The DRBD fencing policy in force: the configured one, else resource-and-stonith with
    /// a power fence (I/O freezes until the peer is outdated or powered off), else
    /// resource-only. Protocol A cannot freeze I/O, so it gets resource-only.
    pub fn fencing(&self) -> Fencing {
        let configured = self.drbd.as_ref().and_then(|d| d.fencing.as_ref());
        if let Some(fencing) = configured {
            return fencing.get_ref().clone();
        }
        let protocol_a = self
            .drbd
            .as_ref()
            .is_some_and(|d| *d.protocol.get_ref() == Protocol::A);
        if self.engine.power_fence_command.is_some() && !protocol_a {
            Fencing::ResourceAndStonith
        } else {
            Fencing::ResourceOnly
        }
    }

    /// The node whose name is `host_name` (`uname -n`).
    pub fn node_named(&self, host_name: &str) -> Option<&Node> {
        self.nodes().find(|n| n.name.get_ref() == host_name)
    }

    /// The node that is not `host_name`.
    pub fn peer_of(&self, host_name: &str) -> Option<&Node> {
        self.nodes().find(|n| n.name.get_ref() != host_name)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.node.iter().map(toml::Spanned::get_ref)
    }

    pub fn node_names(&self) -> Vec<String> {
        validate::node_names(self)
    }

    /// The device the filesystem lives on: the configured one, or the DRBD device.
    /// validate() guarantees one of the two exists.
    pub fn filesystem_device(&self) -> PathBuf {
        match (&self.filesystem.device, &self.drbd) {
            (Some(device), _) => device.clone(),
            (None, Some(drbd)) => drbd.device.get_ref().clone(),
            (None, None) => PathBuf::new(),
        }
    }

    /// The DRBD resource name, when tandem drives DRBD.
    pub fn drbd_resource(&self) -> Option<&str> {
        self.drbd.as_ref().map(|d| d.resource.get_ref().as_str())
    }
}
