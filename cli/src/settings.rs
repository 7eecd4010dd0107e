//! The functions' settings for the commands that call Salesforce or read the backup bucket: the
//! process environment (the functions' variable names), overridden by a stack's values (`scv doctor
//! --stack`), overridden by `--set NAME=VALUE`.

use std::collections::BTreeMap;

use scv_shared::config::Env;

use crate::CliError;

#[derive(Debug, Clone, Default)]
pub struct Settings {
    overrides: BTreeMap<String, String>,
    /// Read from a CloudFormation stack: over the environment, under `--set`.
    stack: BTreeMap<String, String>,
}

impl Settings {
    /// `--set` pairs over the environment; a pair without `=` is a usage error.
    pub fn new(pairs: &[String]) -> Result<Self, CliError> {
        let mut overrides = BTreeMap::new();
        for pair in pairs {
            let (name, value) = pair
                .split_once('=')
                .filter(|(name, _)| !name.trim().is_empty())
                .ok_or_else(|| CliError::usage(format!("--set {pair:?}: expected NAME=VALUE")))?;
            overrides.insert(name.trim().to_string(), value.to_string());
        }
        Ok(Self { overrides, stack: BTreeMap::new() })
    }

    /// The settings a stack gives (over the environment, under `--set`).
    pub fn with_stack(mut self, variables: BTreeMap<String, String>) -> Self {
        self.stack = variables;
        self
    }
}

impl Env for Settings {
    fn get(&self, name: &str) -> Option<String> {
        self.overrides.get(name).or_else(|| self.stack.get(name)).cloned().or_else(|| std::env::var(name).ok())
    }
}

/// A configuration error as a usage error: it names the variable to set.
pub fn config_error(e: scv_shared::config::ConfigError) -> CliError {
    CliError::usage(format!("{e} (export it, or pass --set NAME=VALUE)"))
}
