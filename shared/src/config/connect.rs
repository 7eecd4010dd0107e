//! The Amazon Connect instance.

use super::{Env, Var, optional};

pub const CONNECT_INSTANCE_ID: &str = "CONNECT_INSTANCE_ID";

pub const VARS: &[Var] =
    &[Var { name: CONNECT_INSTANCE_ID, meaning: "Amazon Connect instance id, for DescribeContact (optional)" }];

/// The Amazon Connect instance, when configured.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectConfig {
    /// `CONNECT_INSTANCE_ID`.
    pub instance_id: Option<String>,
}

impl ConnectConfig {
    pub fn from_env(env: &dyn Env) -> Self {
        Self { instance_id: optional(env, CONNECT_INSTANCE_ID) }
    }
}
