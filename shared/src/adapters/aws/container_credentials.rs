//! Credentials from the container credentials endpoint: what Lambda gives a SnapStart function
//! (and ECS, EKS Pod Identity give containers) in place of keys in the environment.
//!
//! The same protocol and checks as the SDK's ECS provider, without linking aws-config's provider
//! and the SDK orchestrator it runs on (about 0.5 MB of each bootstrap, and 30 page faults of
//! each cold start):
//! - the endpoint is `http://169.254.170.2` + `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, else
//!   `AWS_CONTAINER_CREDENTIALS_FULL_URI`, which must be `https`, or `http` to a loopback address
//!   or one of the container endpoints' link-local addresses (169.254.170.2, 169.254.170.23,
//!   fd00:ec2::23);
//! - the `Authorization` header is the contents of `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`,
//!   read at each fetch (EKS rotates it), else `AWS_CONTAINER_AUTHORIZATION_TOKEN`;
//! - the answer is JSON: `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration` (RFC 3339);
//! - a transport failure or a 5xx is tried again (three attempts in all); a 4xx is not.
//!
//! No network call when the provider is built; the credentials are fetched on first use and
//! cached by the caller ([`super::rest`]) until five minutes before they expire.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpConnector};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

/// Where `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is resolved (ECS's endpoint).
pub const RELATIVE_BASE: &str = "http://169.254.170.2";
const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(100);

/// Why the environment does not name a usable endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerConfigError {
    #[error("{name}={value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// How to ask for the token sent as `Authorization`.
#[derive(Debug, Clone)]
enum Token {
    None,
    Value(String),
    File(String),
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct ContainerCredentials {
    uri: http::Uri,
    token: Token,
    connector: SharedHttpConnector,
}

impl ContainerCredentials {
    /// From the environment (`get` returns a set, non-empty variable), sending through
    /// `connector`. `Ok(None)`: neither URI variable is set.
    pub fn from_vars(
        get: impl Fn(&str) -> Option<String>,
        connector: SharedHttpConnector,
    ) -> Result<Option<Self>, ContainerConfigError> {
        let uri = if let Some(relative) = get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            let full = format!("{RELATIVE_BASE}{relative}");
            full.parse::<http::Uri>()
                .ok()
                .filter(|_| relative.starts_with('/'))
                .ok_or(ContainerConfigError::Invalid {
                    name: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                    value: relative,
                    reason: "not a path (it must start with /)",
                })?
        } else if let Some(full) = get("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            full_uri(&full)?
        } else {
            return Ok(None);
        };
        let token = if let Some(path) = get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            Token::File(path)
        } else if let Some(value) = get("AWS_CONTAINER_AUTHORIZATION_TOKEN") {
            header_value(&value).map_err(|reason| ContainerConfigError::Invalid {
                name: "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                value: "(hidden)".to_owned(),
                reason,
            })?;
            Token::Value(value)
        } else {
            Token::None
        };
        Ok(Some(Self {
            uri,
            token,
            connector,
        }))
    }

    /// The endpoint asked.
    pub fn uri(&self) -> &http::Uri {
        &self.uri
    }

    async fn fetch(&self) -> Result<Credentials, CredentialsError> {
        let token = match &self.token {
            Token::None => None,
            Token::Value(v) => Some(v.clone()),
            Token::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    CredentialsError::invalid_configuration(format!(
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {path}: {e}"
                    ))
                })?;
                Some(text.trim().to_owned())
            }
        };
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(BACKOFF * 2u32.pow(attempt - 1)).await;
            }
            match self.attempt(token.as_deref()).await {
                Ok(c) => return Ok(c),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Again(e)) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| CredentialsError::provider_error("no attempt made")))
    }

    async fn attempt(&self, token: Option<&str>) -> Result<Credentials, Failure> {
        let mut request = http::Request::get(self.uri.clone()).header("accept", "application/json");
        if let Some(token) = token {
            let value = header_value(token).map_err(|reason| {
                Failure::Final(CredentialsError::invalid_configuration(format!(
                    "the container authorization token: {reason}"
                )))
            })?;
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let request = request
            .body(SdkBody::empty())
            .map_err(|e| Failure::Final(CredentialsError::unhandled(e)))
            .and_then(|r| {
                HttpRequest::try_from(r).map_err(|e| Failure::Final(CredentialsError::unhandled(e)))
            })?;
        let response = self
            .connector
            .call(request)
            .await
            .map_err(|e| Failure::Again(CredentialsError::provider_error(e)))?;
        let status = response.status().as_u16();
        let body = ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|e| Failure::Again(CredentialsError::provider_error(e)))?
            .into_bytes();
        if !(200..300).contains(&status) {
            let what = serde_json::from_slice::<ErrorAnswer>(&body)
                .ok()
                .map(|a| format!(": {} {}", a.code, a.message))
                .unwrap_or_default();
            let e = CredentialsError::provider_error(format!(
                "the container credentials endpoint answered HTTP {status}{what}"
            ));
            return Err(if status >= 500 {
                Failure::Again(e)
            } else {
                Failure::Final(e)
            });
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            Failure::Final(CredentialsError::unhandled(format!(
                "the container credentials endpoint's answer is not credentials: {e}"
            )))
        })?;
        let expiry = answer
            .expiration
            .as_deref()
            .map(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .map(SystemTime::from)
                    .map_err(|e| {
                        Failure::Final(CredentialsError::unhandled(format!(
                            "the credentials' Expiration {t:?}: {e}"
                        )))
                    })
            })
            .transpose()?;
        Ok(Credentials::new(
            answer.access_key_id,
            answer.secret_access_key,
            answer.token,
            expiry,
            "ContainerCredentials",
        ))
    }
}

impl ProvideCredentials for ContainerCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.fetch())
    }
}

enum Failure {
    /// Worth another attempt (transport, 5xx).
    Again(CredentialsError),
    Final(CredentialsError),
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorAnswer {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A token usable as a header value: no line breaks or other control characters.
fn header_value(token: &str) -> Result<http::HeaderValue, &'static str> {
    let mut value = http::HeaderValue::from_str(token)
        .map_err(|_| "not a valid header value (line breaks or other control characters)")?;
    value.set_sensitive(true);
    Ok(value)
}

/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`: `https`, or `http` to loopback or a container
/// endpoint's address.
fn full_uri(full: &str) -> Result<http::Uri, ContainerConfigError> {
    let invalid = |reason| ContainerConfigError::Invalid {
        name: "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        value: full.to_owned(),
        reason,
    };
    let uri: http::Uri = full.parse().map_err(|_| invalid("not a URL"))?;
    let host = uri.host().ok_or_else(|| invalid("not a URL with a host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if allowed_http_host(host) => Ok(uri),
        Some("http") => Err(invalid(
            "plain http is allowed only to a loopback address or the container endpoints \
             (169.254.170.2, 169.254.170.23, fd00:ec2::23)",
        )),
        _ => Err(invalid("not an http or https URL")),
    }
}

fn allowed_http_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(ip) = bare.parse::<IpAddr>() else {
        return false;
    };
    ip.is_loopback()
        || [
            IpAddr::from([169, 254, 170, 2]),
            IpAddr::from([169, 254, 170, 23]),
            IpAddr::from([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23]),
        ]
        .contains(&ip)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::adapters::aws::http::{SdkHttpClient, default_timeouts};
    use crate::tls::SdkTrust;

    fn connector() -> SharedHttpConnector {
        SdkHttpClient::new(&default_timeouts(), SdkTrust::Mozilla)
            .unwrap()
            .default_connector()
    }

    fn provider(
        vars: &[(&str, &str)],
    ) -> Result<Option<ContainerCredentials>, ContainerConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ContainerCredentials::from_vars(
            |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            connector(),
        )
    }

    /// An endpoint answering each request with the next of `answers` (the last one repeated),
    /// recording each request's `Authorization` header.
    async fn endpoint(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
        let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let log = seen.clone();
        let answers = Arc::new(answers);
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
            let (log, answers) = (log.clone(), answers.clone());
            async move {
                let mut log = log.lock().unwrap();
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned());
                log.push(auth);
                let (status, body) = answers[(log.len() - 1).min(answers.len() - 1)];
                (axum::http::StatusCode::from_u16(status).unwrap(), body)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/v2/credentials/abc"), seen)
    }

    const GOOD: &str = r#"{"AccessKeyId":"ASIAX","SecretAccessKey":"s3cr3t","Token":"tok","Expiration":"2030-01-02T03:04:05Z","AccountId":"123456789012"}"#;

    #[tokio::test]
    async fn fetches_credentials_with_the_token_and_their_expiry() {
        let (url, seen) = endpoint(vec![(200, GOOD)]).await;
        let p = provider(&[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic abc"),
        ])
        .unwrap()
        .unwrap();
        let c = p.provide_credentials().await.unwrap();
        assert_eq!(
            (c.access_key_id(), c.secret_access_key(), c.session_token()),
            ("ASIAX", "s3cr3t", Some("tok"))
        );
        let expiry = time::OffsetDateTime::from(c.expiry().unwrap());
        assert_eq!(expiry.unix_timestamp(), 1_893_553_445);
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            [Some("Basic abc".to_owned())]
        );
    }

    #[tokio::test]
    async fn the_token_file_is_read_at_each_fetch() {
        let (url, seen) = endpoint(vec![(200, GOOD)]).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "first\n").unwrap();
        let p = provider(&[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                file.to_str().unwrap(),
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored"),
        ])
        .unwrap()
        .unwrap();
        p.provide_credentials().await.unwrap();
        std::fs::write(&file, "second").unwrap();
        p.provide_credentials().await.unwrap();
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            [Some("first".to_owned()), Some("second".to_owned())]
        );
    }

    #[tokio::test]
    async fn a_5xx_is_tried_again_and_a_4xx_is_not() {
        let (url, seen) = endpoint(vec![(500, "{}"), (200, GOOD)]).await;
        let p = provider(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url)])
            .unwrap()
            .unwrap();
        assert_eq!(
            p.provide_credentials().await.unwrap().access_key_id(),
            "ASIAX"
        );
        assert_eq!(seen.lock().unwrap().len(), 2);

        let denied = r#"{"Code":"AccessDenied","Message":"no role"}"#;
        let (url, seen) = endpoint(vec![(403, denied)]).await;
        let p = provider(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url)])
            .unwrap()
            .unwrap();
        let e = p.provide_credentials().await.unwrap_err();
        let shown = format!("{:?}", e);
        assert!(
            shown.contains("403") && shown.contains("AccessDenied"),
            "{shown}"
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_answer_without_keys_is_an_error() {
        let (url, _) = endpoint(vec![(200, r#"{"Code":"x"}"#)]).await;
        let p = provider(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url)])
            .unwrap()
            .unwrap();
        let e = p.provide_credentials().await.unwrap_err();
        assert!(format!("{e:?}").contains("not credentials"), "{e:?}");
    }

    #[test]
    fn which_endpoints_are_allowed() {
        let uri = |v: &str| {
            provider(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", v)])
                .map(|p| p.unwrap().uri().to_string())
        };
        for ok in [
            "http://127.0.0.1:9001/2021-04-23/credentials",
            "http://localhost/creds",
            "http://169.254.170.2/v2/credentials",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "http://[::1]:8080/c",
            "https://creds.example.com/c",
        ] {
            assert!(uri(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://10.0.0.5/creds",
            "http://creds.example.com/c",
            "ftp://127.0.0.1/c",
            "nonsense",
        ] {
            let e = uri(refused).unwrap_err();
            assert!(
                e.to_string().contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
                "{e}"
            );
        }
        // The relative URI wins, on ECS's address.
        let p = provider(&[
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/id",
            ),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.0.0.5/x"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            p.uri().to_string(),
            "http://169.254.170.2/v2/credentials/id"
        );
        assert!(provider(&[]).unwrap().is_none());
        let e = provider(&[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/c"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "a\r\nInjected: 1"),
        ])
        .unwrap_err();
        assert!(
            e.to_string().contains("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            "{e}"
        );
        assert!(
            !e.to_string().contains("Injected"),
            "the token is not shown: {e}"
        );
    }
}
