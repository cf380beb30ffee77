//! The pieces configuration is read with: raw variables parsed by name, the
//! error that names the variable, and secrets that never print themselves.

use std::{collections::HashMap, fmt, str::FromStr};

/// A secret that never prints itself.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret value; call sites are easy to grep for.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A configuration problem: which variable, and why.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

/// The raw variables (environment, `.env`, or a test's map), read by name.
pub(super) struct Vars(pub(super) HashMap<String, String>);

impl Vars {
    /// A set, non-blank value.
    pub(super) fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
    }

    pub(super) fn parse<T: FromStr>(&self, key: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| self.bad(key, format!("`{raw}` is invalid ({e})"))),
        }
    }

    /// A comma-separated list; blank entries dropped.
    pub(super) fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn bad(&self, var: &'static str, reason: String) -> ConfigError {
        ConfigError { var, reason }
    }
}
