//! Semantic checks that the TOML grammar cannot express. Each refusal is one sentence that
//! says what is wrong and how to fix it; the caller adds file:line:column.

use super::error::{Locator, Problem};
use super::model::{Config, Node};
use super::words::Storage;
use std::collections::HashMap;
use std::ops::Range;
use toml::Spanned;

mod drbd;

/// The two nodes of an active/passive pair; DRBD 8.4 supports exactly two.
pub const NODE_COUNT: usize = 2;

/// Heartbeats lost before the peer counts as silent; fewer makes one dropped packet a failover.
const MIN_HEARTBEATS_PER_TIMEOUT: u64 = 3;

/// A hook needs time to fork and exec; under this every run would be killed.
const MIN_HOOK_TIMEOUT_MS: u64 = 10;
/// Hooks run one at a time: one slower than this holds back every later event.
const MAX_HOOK_TIMEOUT_MS: u64 = 60_000;

/// Collects every problem rather than stopping at the first: an operator fixes them in one go.
pub struct Checker<'a> {
    loc: Locator<'a>,
    problems: Vec<Problem>,
}

impl<'a> Checker<'a> {
    pub fn new(text: &'a str) -> Self {
        Self {
            loc: Locator::new(text),
            problems: Vec::new(),
        }
    }

    pub(super) fn refuse(&mut self, span: Range<usize>, message: String) {
        self.problems.push(self.loc.problem(span, message));
    }

    pub(super) fn line_column(&self, offset: usize) -> (usize, usize) {
        self.loc.line_column(offset)
    }

    pub fn run(mut self, config: &Config) -> Vec<Problem> {
        self.names(config);
        self.storage(config);
        self.nodes(config);
        self.addresses(config);
        self.drbd(config);
        self.paths(config);
        self.services(config);
        self.timings(config);
        self.power_status(config);
        self.observability(config);
        self.replication(config);
        self.proxy(config);
        self.problems.sort_by_key(|p| (p.line, p.column));
        self.problems
    }

    /// `[hooks]`: a runnable argv and a timeout that can be met.
    fn observability(&mut self, config: &Config) {
        let Some(hooks) = &config.hooks else { return };
        let command = &hooks.command;
        match command.get_ref().first() {
            None => self.refuse(
                command.span(),
                "[hooks] command is empty; give the program and its arguments, \
                 e.g. command = [\"/usr/local/bin/tandem-alert\"], or remove [hooks]"
                    .to_string(),
            ),
            Some(program) if !std::path::Path::new(program).is_absolute() => self.refuse(
                command.span(),
                format!(
                    "[hooks] command \"{program}\" must be an absolute path (it is run \
                     without a shell or PATH lookup), e.g. \"/usr/local/bin/{program}\""
                ),
            ),
            Some(_) => {}
        }
        let timeout = &hooks.timeout_ms;
        if !(MIN_HOOK_TIMEOUT_MS..=MAX_HOOK_TIMEOUT_MS).contains(timeout.get_ref()) {
            self.refuse(
                timeout.span(),
                format!(
                    "[hooks] timeout_ms = {} is outside {MIN_HOOK_TIMEOUT_MS}..={MAX_HOOK_TIMEOUT_MS}; \
                     a hook is killed after it, so give it a few seconds (default 5000)",
                    timeout.get_ref()
                ),
            );
        }
    }

    fn names(&mut self, config: &Config) {
        let cluster = &config.cluster;
        if !is_simple_name(cluster.get_ref()) {
            self.refuse(
                cluster.span(),
                format!(
                    "cluster name \"{}\" must be 1-64 letters, digits, '-' or '_'; \
                     pick a short name such as \"prod-db\"",
                    cluster.get_ref()
                ),
            );
        }
        let Some(drbd) = &config.drbd else { return };
        let resource = &drbd.resource;
        if !is_simple_name(resource.get_ref()) {
            self.refuse(
                resource.span(),
                format!(
                    "DRBD resource name \"{}\" must be 1-64 letters, digits, '-' or '_'; \
                     use a name such as \"r0\"",
                    resource.get_ref()
                ),
            );
        }
    }

    fn storage(&mut self, config: &Config) {
        let storage = &config.storage;
        match (storage.get_ref(), &config.drbd) {
            (Storage::Drbd, None) => self.refuse(
                storage.span(),
                "storage = \"drbd\" needs a [drbd] table; add one (see resources/tandem.toml), \
                 or set storage = \"shared-disk\" for a SAN LUN"
                    .to_string(),
            ),
            (Storage::SharedDisk, Some(drbd)) => self.refuse(
                drbd.resource.span(),
                "[drbd] is set but storage = \"shared-disk\" does not use DRBD; remove [drbd], \
                 or set storage = \"drbd\""
                    .to_string(),
            ),
            (Storage::SharedDisk, None) if config.filesystem.device.is_none() => self.refuse(
                storage.span(),
                "storage = \"shared-disk\" needs [filesystem] device, the shared LUN's path, \
                 e.g. device = \"/dev/disk/by-id/wwn-0x5000c500a1b2c3d4\""
                    .to_string(),
            ),
            _ => {}
        }
    }

    fn nodes(&mut self, config: &Config) {
        let nodes = &config.node;
        if nodes.len() != NODE_COUNT {
            let span = nodes.last().map_or(0..0, |n| n.span());
            let found = nodes.len();
            self.refuse(
                span,
                format!(
                    "exactly {NODE_COUNT} [[node]] tables are needed, found {found}; \
                     describe both machines, each with name, peer_addresses, \
                     replication_address and backing_disk"
                ),
            );
        }
        let mut seen: HashMap<&str, Range<usize>> = HashMap::new();
        for node in nodes.iter().map(Spanned::get_ref) {
            let name = &node.name;
            if !is_host_name(name.get_ref()) {
                self.refuse(
                    name.span(),
                    format!(
                        "node name \"{}\" is not a host name; use the machine's `uname -n`",
                        name.get_ref()
                    ),
                );
            }
            if let Some(first) = seen.insert(name.get_ref(), name.span()) {
                let (line, _) = self.loc.line_column(first.start);
                self.refuse(
                    name.span(),
                    format!(
                        "node name \"{}\" is used twice (first on line {line}); \
                         each node needs its own `uname -n`",
                        name.get_ref()
                    ),
                );
            }
            if *config.storage.get_ref() == Storage::Drbd && node.backing_disk.is_none() {
                self.refuse(
                    name.span(),
                    format!(
                        "node \"{}\" has no backing_disk; storage = \"drbd\" needs the block \
                         device under DRBD on each node, e.g. backing_disk = \"/dev/vdb\"",
                        name.get_ref()
                    ),
                );
            }
            if node.peer_addresses.is_empty() {
                self.refuse(
                    name.span(),
                    format!(
                        "node \"{}\" has no peer_addresses; add at least one, \
                         e.g. peer_addresses = [\"10.0.0.1:7800\"]",
                        name.get_ref()
                    ),
                );
            }
        }
    }

    fn addresses(&mut self, config: &Config) {
        let mut seen: HashMap<std::net::SocketAddr, Range<usize>> = HashMap::new();
        for node in config.node.iter().map(Spanned::get_ref) {
            for addr in node_addresses(node) {
                if let Some(first) = seen.insert(addr.get_ref().0, addr.span()) {
                    let (line, column) = self.loc.line_column(first.start);
                    self.refuse(
                        addr.span(),
                        format!(
                            "address {} is used twice (first at line {line}, column {column}); \
                             give every peer-link and replication endpoint its own address:port",
                            addr.get_ref()
                        ),
                    );
                }
            }
        }
    }

    fn paths(&mut self, config: &Config) {
        let mut paths = vec![("helpers_dir", &config.helpers_dir)];
        for node in config.nodes() {
            if let Some(disk) = &node.backing_disk {
                paths.push(("backing_disk", disk));
            }
        }
        for (key, spanned) in paths {
            let path = spanned.get_ref();
            let text = path.to_string_lossy();
            let plain = !text.contains(|c: char| c.is_whitespace() || "\";{}#".contains(c));
            if !path.is_absolute() || !plain {
                self.refuse(
                    spanned.span(),
                    format!(
                        "{key} \"{text}\" must be an absolute path without spaces, quotes, \
                         braces, ';' or '#', because it is written into the DRBD resource file"
                    ),
                );
            }
        }
    }

    fn services(&mut self, config: &Config) {
        let mountpoint = &config.filesystem.mountpoint;
        if !mountpoint.get_ref().is_absolute() {
            self.refuse(
                mountpoint.span(),
                format!(
                    "mountpoint \"{}\" must be an absolute path, e.g. \"/var/lib/mysql-ha\"",
                    mountpoint.get_ref().display()
                ),
            );
        }
        let datadir = &config.mysqld.datadir;
        if !datadir.get_ref().starts_with(mountpoint.get_ref()) {
            self.refuse(
                datadir.span(),
                format!(
                    "datadir \"{}\" is not under the mountpoint \"{}\"; the data would not be \
                     replicated; put it inside the mountpoint",
                    datadir.get_ref().display(),
                    mountpoint.get_ref().display()
                ),
            );
        }
        for timeout in [
            &config.mysqld.start_timeout_ms,
            &config.mysqld.stop_timeout_ms,
        ] {
            if *timeout.get_ref() == 0 {
                self.refuse(
                    timeout.span(),
                    "a mysqld timeout of 0 ms would fail every start or stop; use a few \
                     seconds at least"
                        .to_string(),
                );
            }
        }
        let garp = &config.vip.gratuitous_arp_count;
        if *garp.get_ref() == 0 {
            self.refuse(
                garp.span(),
                "gratuitous_arp_count = 0 leaves clients on the old MAC for 30 s or more; \
                 use 1 to 10"
                    .to_string(),
            );
        }
    }

    /// `power_status_command` only shortens a power fence: it needs one, and a program.
    fn power_status(&mut self, config: &Config) {
        let Some(status) = &config.engine.power_status_command else {
            return;
        };
        if status.get_ref().is_empty() {
            self.refuse(
                status.span(),
                "power_status_command is empty; give the program and its arguments, e.g. \
                 [\"/usr/sbin/fence_ipmilan\", …, \"-o\", \"status\"], or remove the line"
                    .to_string(),
            );
        } else if config.engine.power_fence_command.is_none() {
            self.refuse(
                status.span(),
                "power_status_command without a power_fence_command does nothing: a peer whose \
                 power reads off is still power-fenced before a takeover; add the \
                 power_fence_command or remove this line"
                    .to_string(),
            );
        }
    }

    fn timings(&mut self, config: &Config) {
        let heartbeat = &config.timings.heartbeat_interval_ms;
        let timeout = &config.timings.peer_timeout_ms;
        if *heartbeat.get_ref() == 0 {
            self.refuse(
                heartbeat.span(),
                "heartbeat_interval_ms must be above 0; 200 is a good start".to_string(),
            );
        } else if *timeout.get_ref() < MIN_HEARTBEATS_PER_TIMEOUT * *heartbeat.get_ref() {
            self.refuse(
                timeout.span(),
                format!(
                    "peer_timeout_ms = {} is less than {MIN_HEARTBEATS_PER_TIMEOUT} heartbeats \
                     ({} ms each), so one lost packet would look like a dead peer; raise it to \
                     at least {}",
                    timeout.get_ref(),
                    heartbeat.get_ref(),
                    MIN_HEARTBEATS_PER_TIMEOUT * *heartbeat.get_ref()
                ),
            );
        }
    }
}

fn node_addresses(node: &Node) -> impl Iterator<Item = &Spanned<super::model::Address>> {
    node.peer_addresses
        .iter()
        .chain(std::iter::once(&node.replication_address))
}

pub fn node_names(config: &Config) -> Vec<String> {
    config
        .node
        .iter()
        .map(|n| n.get_ref().name.get_ref().clone())
        .collect()
}

pub(super) fn is_simple_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_host_name(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}
