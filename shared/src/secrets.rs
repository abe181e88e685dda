//! Secret references (`env:NAME`, `secretsmanager:ID[#json-key]`, or a literal) and their
//! resolution, cached. A secret's value never reaches a log or a `Debug` output.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize, Serializer};
use tokio::sync::RwLock;

/// Where a secret comes from.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    Env(String),
    /// A Secrets Manager id (name or ARN), and optionally a key of its JSON value.
    SecretsManager {
        id: String,
        key: Option<String>,
    },
    /// A value written in the config file: for local and test configs only.
    Literal(String),
}

impl SecretRef {
    pub fn parse(raw: &str) -> Self {
        if let Some(name) = raw.strip_prefix("env:") {
            Self::Env(name.to_owned())
        } else if let Some(rest) = raw.strip_prefix("secretsmanager:") {
            match rest.rsplit_once('#') {
                Some((id, key)) => Self::SecretsManager {
                    id: id.to_owned(),
                    key: Some(key.to_owned()),
                },
                None => Self::SecretsManager {
                    id: rest.to_owned(),
                    key: None,
                },
            }
        } else {
            Self::Literal(raw.to_owned())
        }
    }

    pub fn check_syntax(&self) -> Result<(), String> {
        match self {
            Self::Env(n) if n.is_empty() || n.contains(['=', '\0']) => {
                Err("env: reference needs a variable name".into())
            }
            Self::SecretsManager { id, .. } if id.is_empty() => {
                Err("secretsmanager: reference needs a secret name or ARN".into())
            }
            Self::Literal(v) if v.is_empty() => Err("secret must not be empty".into()),
            _ => Ok(()),
        }
    }

    /// A form safe to print: references as written, literals masked.
    pub fn redacted(&self) -> String {
        match self {
            Self::Env(n) => format!("env:{n}"),
            Self::SecretsManager { id, key: Some(k) } => format!("secretsmanager:{id}#{k}"),
            Self::SecretsManager { id, key: None } => format!("secretsmanager:{id}"),
            Self::Literal(_) => "<literal, redacted>".to_owned(),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Self::parse(&raw))
    }
}

/// A resolved secret value. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Arc<str>);

impl SecretValue {
    pub fn new(v: impl Into<Arc<str>>) -> Self {
        Self(v.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable `{0}` is not set")]
    MissingEnv(String),
    #[error(
        "secret `{0}` cannot be read: no secrets backend is configured for secretsmanager: references"
    )]
    NoBackend(String),
    #[error("secret `{id}` cannot be read: {message}")]
    Backend { id: String, message: String },
    #[error("secret `{id}` has no JSON key `{key}`")]
    MissingKey { id: String, key: String },
}

/// A remote secret store (Secrets Manager on AWS).
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The secret's string value.
    async fn fetch(&self, id: &str) -> Result<String, String>;
}

/// Resolves references, caching remote values for `ttl` (rotation takes effect after it).
pub struct SecretResolver {
    remote: Option<Arc<dyn SecretStore>>,
    ttl: Duration,
    cache: RwLock<HashMap<String, (String, Instant)>>,
}

impl SecretResolver {
    pub fn new(remote: Option<Arc<dyn SecretStore>>, ttl: Duration) -> Self {
        Self {
            remote,
            ttl,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Env and literal references only.
    pub fn local() -> Self {
        Self::new(None, Duration::from_secs(300))
    }

    pub async fn resolve(&self, r: &SecretRef) -> Result<SecretValue, SecretError> {
        match r {
            SecretRef::Literal(v) => Ok(SecretValue::new(v.as_str())),
            SecretRef::Env(name) => std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .map(SecretValue::new)
                .ok_or_else(|| SecretError::MissingEnv(name.clone())),
            SecretRef::SecretsManager { id, key } => {
                let raw = self.remote_value(id).await?;
                match key {
                    None => Ok(SecretValue::new(raw)),
                    Some(k) => serde_json::from_str::<serde_json::Value>(&raw)
                        .ok()
                        .and_then(|v| v.get(k).and_then(|x| x.as_str().map(str::to_owned)))
                        .map(SecretValue::new)
                        .ok_or_else(|| SecretError::MissingKey {
                            id: id.clone(),
                            key: k.clone(),
                        }),
                }
            }
        }
    }

    async fn remote_value(&self, id: &str) -> Result<String, SecretError> {
        if let Some((v, at)) = self.cache.read().await.get(id)
            && at.elapsed() < self.ttl
        {
            return Ok(v.clone());
        }
        let remote = self
            .remote
            .as_ref()
            .ok_or_else(|| SecretError::NoBackend(id.to_owned()))?;
        let v = remote
            .fetch(id)
            .await
            .map_err(|message| SecretError::Backend {
                id: id.to_owned(),
                message,
            })?;
        self.cache
            .write()
            .await
            .insert(id.to_owned(), (v.clone(), Instant::now()));
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize);
    #[async_trait]
    impl SecretStore for Counting {
        async fn fetch(&self, id: &str) -> Result<String, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if id == "hookgate" {
                Ok(r#"{"github":"gh-secret"}"#.into())
            } else {
                Err("not found".into())
            }
        }
    }

    #[tokio::test]
    async fn resolves_and_caches_and_never_debug_prints() {
        let store = Arc::new(Counting(AtomicUsize::new(0)));
        let r = SecretResolver::new(Some(store.clone()), Duration::from_secs(60));
        let sm = SecretRef::parse("secretsmanager:hookgate#github");
        assert_eq!(r.resolve(&sm).await.unwrap().expose(), "gh-secret");
        assert_eq!(r.resolve(&sm).await.unwrap().expose(), "gh-secret");
        assert_eq!(store.0.load(Ordering::SeqCst), 1);
        assert!(matches!(
            r.resolve(&SecretRef::parse("secretsmanager:hookgate#nope"))
                .await,
            Err(SecretError::MissingKey { .. })
        ));
        assert!(
            r.resolve(&SecretRef::parse("secretsmanager:other"))
                .await
                .is_err()
        );
        let lit = SecretRef::parse("s3cr3t");
        assert_eq!(format!("{lit:?}"), "<literal, redacted>");
        let v = r.resolve(&lit).await.unwrap();
        assert!(!format!("{v:?}").contains("s3cr3t"));
        assert!(matches!(
            r.resolve(&SecretRef::parse("env:HOOKGATE_TEST_SURELY_UNSET"))
                .await,
            Err(SecretError::MissingEnv(_))
        ));
    }
}
