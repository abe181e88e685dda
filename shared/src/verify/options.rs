//! A source's `options` table, read by the verifier that needs them; unknown keys are errors.

use std::collections::{BTreeMap, BTreeSet};

pub struct Options<'a> {
    raw: &'a BTreeMap<String, toml::Value>,
    used: BTreeSet<&'a str>,
}

impl<'a> Options<'a> {
    /// `always` names keys that are valid for every provider (read elsewhere).
    pub fn new(raw: &'a BTreeMap<String, toml::Value>, always: &[&str]) -> Self {
        let used = raw
            .keys()
            .map(String::as_str)
            .filter(|k| always.contains(k))
            .collect();
        Self { raw, used }
    }

    fn take(&mut self, key: &str) -> Option<&'a toml::Value> {
        let (k, v) = self.raw.get_key_value(key)?;
        self.used.insert(k.as_str());
        Some(v)
    }

    pub fn str(&mut self, key: &str) -> Result<Option<&'a str>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("options.{key} must be a string")),
        }
    }

    pub fn bool(&mut self, key: &str) -> Result<Option<bool>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(_) => Err(format!("options.{key} must be true or false")),
        }
    }

    /// Every key was read by someone.
    pub fn finish(self) -> Result<(), String> {
        let unknown: Vec<_> = self
            .raw
            .keys()
            .filter(|k| !self.used.contains(k.as_str()))
            .map(|k| format!("`{k}`"))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "unknown option(s) for this provider: {}",
                unknown.join(", ")
            ))
        }
    }
}
