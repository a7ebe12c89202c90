//! `SIGHUP`: re-read the config file; take over its safe keys, refuse the ones that need a
//! restart (config/reload.rs says which), and keep running on the old config when the file
//! is invalid. Never fatal.

use super::{setup, Daemon};
use crate::config::{reload, Config};
use crate::control::ReloadReport;
use std::sync::Arc;

impl Daemon {
    pub(super) fn reload(&mut self) {
        tracing::info!(path = %self.config_path.display(), "SIGHUP: reloading the config");
        let mut report = match Config::load(&self.config_path) {
            Ok(new) => self.apply(&new),
            Err(error) => {
                let invalid = error.lines();
                for line in &invalid {
                    tracing::error!("reload: {line}");
                }
                tracing::error!("reload refused: the config file is invalid; running on as before");
                ReloadReport {
                    invalid,
                    ..ReloadReport::default()
                }
            }
        };
        report.unix_ms = setup::now_ms();
        self.last_reload = Some(report);
    }

    fn apply(&mut self, new: &Config) -> ReloadReport {
        let reload = reload::compare(&self.config, new);
        let mut refused = reload.refused;
        for sentence in &refused {
            tracing::warn!("reload refused: {sentence}");
        }
        let mut applied: Vec<String> = reload.applied.iter().map(|k| k.to_string()).collect();
        if applied.is_empty() {
            if refused.is_empty() {
                tracing::info!("reload: nothing changed");
            }
        } else {
            match setup::core_config(&reload.config.settings, &self.core.config().me) {
                Ok(core_config) => {
                    self.core.reconfigure(core_config);
                    let config = Arc::new(reload.config);
                    self.effects.config = config.clone();
                    self.config = config;
                    tracing::info!(keys = %applied.join(", "), "reload applied");
                }
                Err(error) => {
                    // Cannot happen: node names are restart-only. Refuse rather than crash.
                    let sentence = format!("the reloaded config cannot run here: {error}");
                    tracing::error!("reload refused: {sentence}");
                    refused.push(sentence);
                    applied.clear();
                }
            }
        }
        ReloadReport {
            unix_ms: 0,
            applied,
            refused,
            invalid: Vec::new(),
        }
    }
}
