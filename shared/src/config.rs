//! `hookgate.toml`: loading and validation. Every problem is reported with its key and line, all at
//! once, so an operator fixes a file in one pass.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::model::SourceName;
use crate::secrets::SecretRef;

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigProblem {
    /// Dotted key path, e.g. `routes[2].handlers`.
    pub key: String,
    /// 1-based line in the file, where known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: `{}`: {}", self.key, self.message),
            None => write!(f, "`{}`: {}", self.key, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {message}")]
    Read { path: String, message: String },
    #[error("{}", render_problems(.origin, .problems))]
    Invalid {
        origin: String,
        problems: Vec<ConfigProblem>,
    },
}

impl ConfigError {
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            Self::Read { .. } => &[],
            Self::Invalid { problems, .. } => problems,
        }
    }
}

fn render_problems(origin: &str, problems: &[ConfigProblem]) -> String {
    let mut out = format!("{origin} is not a valid hookgate config:");
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The validated configuration.

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub ingest: IngestConfig,
    pub queue: QueueConfig,
    pub retry: RetryConfig,
    pub sweep: SweepConfig,
    pub sources: Vec<SourceConfig>,
    pub routes: Vec<RouteConfig>,
    pub handlers: BTreeMap<String, HandlerConfig>,
}

impl Config {
    pub fn source(&self, name: &SourceName) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == *name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest accepted body in bytes (413 above it).
    pub max_body_bytes: usize,
    /// How long an event (and so its dedupe key) is kept.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Request headers stored with the event for handlers (lowercase names), besides the
    /// provider's own id/type headers.
    pub keep_headers: Vec<String>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            retention: Duration::from_secs(30 * 24 * 3600),
            keep_headers: vec!["content-type".into(), "user-agent".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Receives before a message goes to the dead-letter queue (and its event is `dead`).
    pub max_receive_count: u32,
    #[serde(with = "humantime_serde")]
    pub visibility_timeout: Duration,
    /// Messages per processor batch (1-10).
    pub batch_size: u32,
    /// Handlers run at once within a batch.
    pub handler_concurrency: usize,
    /// Local stack: processor loops polling the queue at once. Each loop deletes its batch's
    /// messages one by one, each delete waiting for a durable commit, so the queue drains at about
    /// `pollers × batch_size` messages per few commits; more loops share commits (group commit).
    pub pollers: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_receive_count: 5,
            visibility_timeout: Duration::from_secs(30),
            batch_size: 10,
            handler_concurrency: 10,
            // scripts/load.sh: 2 drained at a quarter of the ingest rate; 8 at 0.94-0.97 of it,
            // the queue 1 200-2 600 messages behind when the load ended; 16 at 1.00, the queue
            // empty at the end, with the same req/s and CPU per event (more loops share commits).
            pollers: 16,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepConfig {
    /// Local stack: how often the sweep runs (on AWS the schedule in the template decides).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// An event still `received` after this long was never enqueued (or its message was lost).
    #[serde(with = "humantime_serde")]
    pub older_than: Duration,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            older_than: Duration::from_secs(120),
        }
    }
}

/// One labelled secret of a source.
#[derive(Debug, Clone, Serialize)]
pub struct SecretConfig {
    pub label: String,
    #[serde(rename = "secret")]
    pub reference: SecretRef,
    /// Not accepted after this instant (epoch ms), for rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceConfig {
    pub name: SourceName,
    pub provider: String,
    pub secrets: Vec<SecretConfig>,
    /// Allowed clock skew, both directions, where the provider signs a timestamp.
    #[serde(with = "humantime_serde")]
    pub tolerance: Duration,
    /// Provider-specific options (header names, algorithms, …), passed to the verifier.
    pub options: BTreeMap<String, toml::Value>,
    /// Networks allowed to post to this source (CIDRs or single addresses); empty = any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_ips: Vec<ipnet::IpNet>,
    /// The URL the provider posts to (and signs, for Twilio, Square, HubSpot, generic `{url}`),
    /// without the query string; the request's query is appended. Unset: the URL as received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteConfig {
    pub source: SourceName,
    /// Event-type patterns; `*` matches any run of characters.
    pub events: Vec<String>,
    /// RFC 9535 JSONPath logical expression over the payload, e.g. `$.ref == "refs/heads/main"`.
    pub when: Option<String>,
    pub handlers: Vec<String>,
}

/// `[handlers.NAME]`, by `kind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HandlerConfig {
    Log {
        #[serde(default)]
        level: LogLevel,
    },
    Forward {
        url: String,
        /// Standard Webhooks secret (`whsec_…`, or a reference) used to re-sign the request.
        #[serde(default)]
        secret: Option<SecretRef>,
        #[serde(default = "default_forward_timeout", with = "humantime_serde")]
        timeout: Duration,
        /// Extra request headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
    Exec {
        command: Vec<String>,
        /// Extra arguments: a JSONPath (`$.ref`) is replaced by that payload value, else literal.
        #[serde(default)]
        args: Vec<String>,
        /// Environment variables, same rules as `args`.
        #[serde(default)]
        env: BTreeMap<String, String>,
        #[serde(default = "default_exec_timeout", with = "humantime_serde")]
        timeout: Duration,
        #[serde(default)]
        working_dir: Option<String>,
    },
    Eventbridge {
        /// Bus name or ARN.
        bus: String,
        /// EventBridge `Source`; defaults to `hookgate.<source>`.
        #[serde(default)]
        source: Option<String>,
    },
    Lambda {
        /// Function name or ARN.
        function: String,
    },
}

impl HandlerConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Log { .. } => "log",
            Self::Forward { .. } => "forward",
            Self::Exec { .. } => "exec",
            Self::Eventbridge { .. } => "eventbridge",
            Self::Lambda { .. } => "lambda",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    #[default]
    Info,
    Debug,
    Warn,
}

fn default_forward_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_exec_timeout() -> Duration {
    Duration::from_secs(60)
}

// ---------------------------------------------------------------------------------------------
// The file as written (spans kept for error lines).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    ingest: IngestConfig,
    #[serde(default)]
    queue: QueueConfig,
    #[serde(default)]
    retry: RetryConfig,
    #[serde(default)]
    sweep: SweepConfig,
    #[serde(default)]
    sources: Vec<Spanned<RawSource>>,
    #[serde(default)]
    routes: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    handlers: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Spanned<String>,
    provider: Spanned<String>,
    #[serde(default)]
    secrets: Option<Spanned<Vec<RawSecret>>>,
    #[serde(default, with = "humantime_serde")]
    tolerance: Option<Duration>,
    #[serde(default)]
    options: BTreeMap<String, toml::Value>,
    #[serde(default)]
    allow_ips: Vec<String>,
    #[serde(default)]
    public_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawSecret {
    Plain(String),
    Labelled {
        label: String,
        secret: String,
        #[serde(default)]
        expires: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    source: Spanned<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    when: Option<Spanned<String>>,
    handlers: Spanned<Vec<String>>,
}

/// Default timestamp tolerance where a provider signs a timestamp.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `origin` names it in errors. `${NAME}` is replaced by the
    /// environment variable's value first (an unset one is a problem on its line).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let expanded = expand_env(text).map_err(|problems| ConfigError::Invalid {
            origin: origin.to_owned(),
            problems,
        })?;
        let text = expanded.as_str();
        let lines = LineIndex::new(text);
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            origin: origin.to_owned(),
            problems: vec![ConfigProblem {
                key: parse_error_key(e.message()),
                line: e.span().map(|s| lines.line(s.start)),
                message: e.message().trim().to_owned(),
            }],
        })?;
        let mut v = Validator {
            lines: &lines,
            problems: Vec::new(),
        };
        let cfg = v.validate(raw);
        if v.problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError::Invalid {
                origin: origin.to_owned(),
                problems: v.problems,
            })
        }
    }
}

/// Replaces `${NAME}` (NAME of `A-Z`, `0-9`, `_`) with the environment variable's value.
fn expand_env(text: &str) -> Result<String, Vec<ConfigProblem>> {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut rest = text;
    // One scan of the whole text, from one `$` to the next (a byte search, where a two-byte
    // pattern would set up a substring searcher at each call); a reference does not span lines.
    while let Some(start) = rest.find('$') {
        if rest.as_bytes().get(start + 1) != Some(&b'{') {
            out.push_str(&rest[..start + 1]);
            rest = &rest[start + 1..];
            continue;
        }
        let after = &rest[start + 2..];
        let line_end = after.find('\n').unwrap_or(after.len());
        let name = after[..line_end].find('}').map(|end| &after[..end]);
        let Some(name) = name.filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
        }) else {
            // Not a variable reference: left as written.
            out.push_str(&rest[..start + 2]);
            rest = after;
            continue;
        };
        out.push_str(&rest[..start]);
        match std::env::var(name) {
            Ok(v) => out.push_str(&v),
            Err(_) => {
                let at = text.len() - rest.len() + start;
                problems.push(ConfigProblem {
                    key: format!("${{{name}}}"),
                    line: Some(text[..at].matches('\n').count() + 1),
                    message: format!("environment variable `{name}` is not set"),
                });
            }
        }
        rest = &after[name.len() + 1..];
    }
    out.push_str(rest);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// A CIDR, or a single address as a /32 or /128.
fn parse_net(raw: &str) -> Option<ipnet::IpNet> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| raw.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

fn parse_error_key(message: &str) -> String {
    // toml names the offending field in back-ticks ("unknown field `foo`"); use it when present.
    message
        .split('`')
        .nth(1)
        .map(str::to_owned)
        .unwrap_or_else(|| "(document)".to_owned())
}

/// Line numbers for error messages, counted only when a problem is reported: a valid config (what
/// every cold start parses) never pays for a scan of its lines.
struct LineIndex<'a> {
    text: &'a str,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        Self { text }
    }
    /// The 1-based line holding byte `offset` (the last line past the end).
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

struct Validator<'a> {
    lines: &'a LineIndex<'a>,
    problems: Vec<ConfigProblem>,
}

impl Validator<'_> {
    fn problem(
        &mut self,
        key: impl Into<String>,
        offset: Option<usize>,
        message: impl Into<String>,
    ) {
        self.problems.push(ConfigProblem {
            key: key.into(),
            line: offset.map(|o| self.lines.line(o)),
            message: message.into(),
        });
    }

    fn validate(&mut self, raw: RawConfig) -> Config {
        self.check_settings(&raw);
        let handlers = self.handlers(&raw.handlers);
        let sources = self.sources(&raw.sources);
        let routes = self.routes(&raw.routes, &sources, &raw.handlers);
        Config {
            ingest: raw.ingest,
            queue: raw.queue,
            retry: raw.retry,
            sweep: raw.sweep,
            sources,
            routes,
            handlers,
        }
    }

    fn check_settings(&mut self, raw: &RawConfig) {
        let q = &raw.queue;
        if !(1..=1000).contains(&q.max_receive_count) {
            self.problem(
                "queue.max_receive_count",
                None,
                "must be between 1 and 1000 (SQS's range)",
            );
        }
        if q.visibility_timeout.is_zero() || q.visibility_timeout > Duration::from_secs(12 * 3600) {
            self.problem(
                "queue.visibility_timeout",
                None,
                "must be more than 0 and at most 12h",
            );
        }
        if !(1..=10).contains(&q.batch_size) {
            self.problem("queue.batch_size", None, "must be between 1 and 10");
        }
        if q.handler_concurrency == 0 || q.pollers == 0 {
            self.problem(
                "queue",
                None,
                "handler_concurrency and pollers must be at least 1",
            );
        }
        let r = &raw.retry;
        if r.backoff_base.is_zero() || r.backoff_base > r.backoff_max {
            self.problem(
                "retry.backoff_base",
                None,
                "must be more than 0 and at most retry.backoff_max",
            );
        }
        if r.backoff_max > Duration::from_secs(12 * 3600) {
            self.problem(
                "retry.backoff_max",
                None,
                "must be at most 12h (the longest SQS visibility timeout)",
            );
        }
        if raw.ingest.max_body_bytes == 0 {
            self.problem("ingest.max_body_bytes", None, "must be more than 0");
        }
        if raw.ingest.retention < Duration::from_secs(3600) {
            self.problem(
                "ingest.retention",
                None,
                "must be at least 1h (it is also the dedupe window)",
            );
        }
    }

    fn handlers(
        &mut self,
        raw: &BTreeMap<String, Spanned<toml::Value>>,
    ) -> BTreeMap<String, HandlerConfig> {
        let mut out = BTreeMap::new();
        for (name, value) in raw {
            let key = format!("handlers.{name}");
            let at = Some(value.span().start);
            match HandlerConfig::deserialize(value.get_ref().clone()) {
                Ok(h) => {
                    self.check_handler(&key, at, &h);
                    out.insert(name.clone(), h);
                }
                Err(e) => self.problem(key, at, e.message().trim().to_owned()),
            }
        }
        out
    }

    fn check_handler(&mut self, key: &str, at: Option<usize>, h: &HandlerConfig) {
        match h {
            HandlerConfig::Forward {
                url,
                secret,
                timeout,
                ..
            } => {
                match url::Url::parse(url) {
                    Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                    _ => self.problem(format!("{key}.url"), at, "must be an http(s) URL"),
                }
                if let Some(s) = secret
                    && let Err(m) = s.check_syntax()
                {
                    self.problem(format!("{key}.secret"), at, m);
                }
                if timeout.is_zero() {
                    self.problem(format!("{key}.timeout"), at, "must be more than 0");
                }
            }
            HandlerConfig::Exec {
                command,
                args,
                env,
                timeout,
                ..
            } => {
                if command.is_empty() || command[0].is_empty() {
                    self.problem(format!("{key}.command"), at, "must name a program");
                }
                for (i, a) in args.iter().enumerate() {
                    if let Err(m) = crate::routing::check_value_path(a) {
                        self.problem(format!("{key}.args[{i}]"), at, m);
                    }
                }
                for (k, a) in env {
                    if let Err(m) = crate::routing::check_value_path(a) {
                        self.problem(format!("{key}.env.{k}"), at, m);
                    }
                }
                if timeout.is_zero() {
                    self.problem(format!("{key}.timeout"), at, "must be more than 0");
                }
            }
            HandlerConfig::Eventbridge { bus, .. } if bus.is_empty() => {
                self.problem(format!("{key}.bus"), at, "must name an event bus");
            }
            HandlerConfig::Lambda { function } if function.is_empty() => {
                self.problem(format!("{key}.function"), at, "must name a function");
            }
            _ => {}
        }
    }

    fn sources(&mut self, raw: &[Spanned<RawSource>]) -> Vec<SourceConfig> {
        let mut out: Vec<SourceConfig> = Vec::new();
        for (i, s) in raw.iter().enumerate() {
            let s = s.get_ref();
            let key = format!("sources[{i}]");
            let name = match SourceName::parse(s.name.get_ref()) {
                Ok(n) => n,
                Err(e) => {
                    self.problem(
                        format!("{key}.name"),
                        Some(s.name.span().start),
                        e.to_string(),
                    );
                    continue;
                }
            };
            if out.iter().any(|o| o.name == name) {
                self.problem(
                    format!("{key}.name"),
                    Some(s.name.span().start),
                    format!("source `{name}` is defined twice"),
                );
            }
            let provider = s.provider.get_ref().clone();
            if !crate::verify::is_known_provider(&provider) {
                self.problem(
                    format!("{key}.provider"),
                    Some(s.provider.span().start),
                    format!(
                        "unknown provider `{provider}`; known: {}",
                        crate::verify::provider_names().join(", ")
                    ),
                );
            } else if let Err(m) = crate::verify::build_verifier(&provider, &s.options) {
                self.problem(format!("{key}.options"), Some(s.provider.span().start), m);
            }
            let mut allow_ips = Vec::new();
            for (j, raw) in s.allow_ips.iter().enumerate() {
                match parse_net(raw) {
                    Some(n) => allow_ips.push(n),
                    None => self.problem(
                        format!("{key}.allow_ips[{j}]"),
                        Some(s.name.span().start),
                        format!("`{raw}` is not a CIDR (`192.30.252.0/22`) or an IP address"),
                    ),
                }
            }
            if let Some(u) = &s.public_url {
                match url::Url::parse(u) {
                    Ok(p)
                        if (p.scheme() == "http" || p.scheme() == "https")
                            && p.query().is_none() => {}
                    _ => self.problem(
                        format!("{key}.public_url"),
                        Some(s.name.span().start),
                        "must be an http(s) URL without a query string",
                    ),
                }
            }
            let secrets = match &s.secrets {
                Some(raw) => self.secrets(&key, raw),
                None => Vec::new(),
            };
            if secrets.is_empty() {
                self.problem(
                    format!("{key}.secrets"),
                    Some(s.name.span().start),
                    "at least one secret is required",
                );
            }
            out.push(SourceConfig {
                name,
                provider,
                secrets,
                tolerance: s.tolerance.unwrap_or(DEFAULT_TOLERANCE),
                options: s.options.clone(),
                allow_ips,
                public_url: s.public_url.clone(),
            });
        }
        out
    }

    fn secrets(&mut self, key: &str, raw: &Spanned<Vec<RawSecret>>) -> Vec<SecretConfig> {
        let at = Some(raw.span().start);
        let mut out = Vec::new();
        for (i, s) in raw.get_ref().iter().enumerate() {
            let (label, reference, expires) = match s {
                RawSecret::Plain(r) => (format!("secret-{}", i + 1), r, None),
                RawSecret::Labelled {
                    label,
                    secret,
                    expires,
                } => (label.clone(), secret, expires.as_deref()),
            };
            let reference = SecretRef::parse(reference);
            if let Err(m) = reference.check_syntax() {
                self.problem(format!("{key}.secrets[{i}]"), at, m);
            }
            let expires_at = match expires {
                None => None,
                Some(t) => match crate::clock::parse_rfc3339(t) {
                    Some(ms) => Some(ms),
                    None => {
                        self.problem(
                            format!("{key}.secrets[{i}].expires"),
                            at,
                            "must be an RFC 3339 instant",
                        );
                        None
                    }
                },
            };
            if out.iter().any(|o: &SecretConfig| o.label == label) {
                self.problem(
                    format!("{key}.secrets[{i}].label"),
                    at,
                    format!("label `{label}` is used twice"),
                );
            }
            out.push(SecretConfig {
                label,
                reference,
                expires_at,
            });
        }
        out
    }

    fn routes(
        &mut self,
        raw: &[Spanned<RawRoute>],
        sources: &[SourceConfig],
        handlers: &BTreeMap<String, Spanned<toml::Value>>,
    ) -> Vec<RouteConfig> {
        let mut out = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            let r = r.get_ref();
            let key = format!("routes[{i}]");
            let src_at = Some(r.source.span().start);
            let source = match SourceName::parse(r.source.get_ref()) {
                Ok(n) => n,
                Err(e) => {
                    self.problem(format!("{key}.source"), src_at, e.to_string());
                    continue;
                }
            };
            if !sources.iter().any(|s| s.name == source) {
                self.problem(
                    format!("{key}.source"),
                    src_at,
                    format!("no source named `{source}`"),
                );
            }
            let events = r.events.clone().unwrap_or_else(|| vec!["*".to_owned()]);
            if events.is_empty() || events.iter().any(String::is_empty) {
                self.problem(
                    format!("{key}.events"),
                    src_at,
                    "event patterns must not be empty",
                );
            }
            if let Some(w) = &r.when
                && let Err(m) = crate::routing::Condition::parse(w.get_ref())
            {
                self.problem(format!("{key}.when"), Some(w.span().start), m);
            }
            let h_at = Some(r.handlers.span().start);
            if r.handlers.get_ref().is_empty() {
                self.problem(
                    format!("{key}.handlers"),
                    h_at,
                    "at least one handler is required",
                );
            }
            for h in r.handlers.get_ref() {
                if !handlers.contains_key(h) {
                    self.problem(
                        format!("{key}.handlers"),
                        h_at,
                        format!("no handler named `{h}` (define [handlers.{h}])"),
                    );
                }
            }
            out.push(RouteConfig {
                source,
                events,
                when: r.when.as_ref().map(|w| w.get_ref().clone()),
                handlers: r.handlers.get_ref().clone(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[queue]
max_receive_count = 5
visibility_timeout = "30s"
[retry]
backoff_base = "2s"
backoff_max = "15m"

[[sources]]
name = "github"
provider = "github"
secrets = ["env:GITHUB_WEBHOOK_SECRET", { label = "old", secret = "dev-secret", expires = "2030-01-01T00:00:00Z" }]

[[routes]]
source = "github"
events = ["push"]
when = '$.ref == "refs/heads/main"'
handlers = ["deploy"]

[handlers.deploy]
kind = "exec"
command = ["./scripts/deploy.sh"]
args = ["$.ref", "$.after"]
timeout = "60s"
"#;

    /// The README's configuration reference: a valid config, whose `[ingest]`, `[queue]`,
    /// `[retry]` and `[sweep]` values are the defaults (so the page shows what an empty section
    /// gives).
    #[test]
    fn readme_configuration_reference_is_valid_and_shows_the_defaults() {
        let readme = include_str!("../../README.md");
        let (_, after) = readme
            .split_once("## Configuration: `hookgate.toml`\n\n```toml\n")
            .unwrap();
        let (block, _) = after.split_once("\n```").unwrap();
        let cfg = Config::parse(block, "README.md").unwrap();
        assert_eq!(json(&cfg.ingest), json(&IngestConfig::default()));
        assert_eq!(json(&cfg.queue), json(&QueueConfig::default()));
        assert_eq!(json(&cfg.retry), json(&RetryConfig::default()));
        assert_eq!(json(&cfg.sweep), json(&SweepConfig::default()));
    }

    fn json(v: &impl Serialize) -> serde_json::Value {
        serde_json::to_value(v).unwrap()
    }

    #[test]
    fn parses_the_documented_example() {
        let c = Config::parse(GOOD, "test").unwrap();
        assert_eq!(c.queue.max_receive_count, 5);
        assert_eq!(c.retry.backoff_max, Duration::from_secs(900));
        assert_eq!(c.sources[0].secrets.len(), 2);
        assert_eq!(c.sources[0].secrets[1].label, "old");
        assert_eq!(c.sources[0].tolerance, DEFAULT_TOLERANCE);
        assert_eq!(c.routes[0].events, vec!["push"]);
        assert!(matches!(c.handlers["deploy"], HandlerConfig::Exec { .. }));
    }

    #[test]
    fn reports_every_problem_with_key_and_line() {
        let bad = GOOD
            .replace("provider = \"github\"", "provider = \"gitbub\"")
            .replace(
                "handlers = [\"deploy\"]",
                "handlers = [\"deploy\", \"nope\"]",
            )
            .replace(
                "when = '$.ref == \"refs/heads/main\"'",
                "when = '$.ref ==== 1'",
            );
        let err = Config::parse(&bad, "hookgate.toml").unwrap_err();
        let p = err.problems();
        let keys: Vec<_> = p.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert!(
            keys.contains(&("sources[0].provider", Some(11))),
            "{keys:?}"
        );
        assert!(keys.contains(&("routes[0].when", Some(17))), "{keys:?}");
        assert!(keys.contains(&("routes[0].handlers", Some(18))), "{keys:?}");
        assert!(err.to_string().contains("line 11"));
    }

    #[test]
    fn expands_environment_variables() {
        // PATH is set in every test environment; HOOKGATE_SURELY_UNSET_VAR is not.
        let text = "[[sources]]\nname = \"g\"\nprovider = \"github\"\nsecrets = [\"secretsmanager:${PATH}#g\"]\n";
        let c = Config::parse(text, "x").unwrap();
        let path = std::env::var("PATH").unwrap();
        assert_eq!(
            c.sources[0].secrets[0].reference,
            SecretRef::parse(&format!("secretsmanager:{path}#g"))
        );
        let err =
            Config::parse(&text.replace("PATH", "HOOKGATE_SURELY_UNSET_VAR"), "x").unwrap_err();
        assert_eq!(err.problems()[0].line, Some(4));
        assert!(err.to_string().contains("HOOKGATE_SURELY_UNSET_VAR"));
        // Not a variable reference: left as written.
        assert_eq!(
            expand_env("a ${lower} b $ {X}").unwrap(),
            "a ${lower} b $ {X}"
        );
        // A reference does not span lines; several on one line; an invalid one before a valid one.
        assert_eq!(
            expand_env("x = \"${PATH\"\ny = \"}\"\n").unwrap(),
            "x = \"${PATH\"\ny = \"}\"\n"
        );
        assert_eq!(
            expand_env("${PATH}:${PATH} ${a ${PATH}").unwrap(),
            format!("{path}:{path} ${{a {path}")
        );
        // Each missing variable is reported on its own line.
        let err = expand_env("a\n${HOOKGATE_UNSET_A}\nb ${HOOKGATE_UNSET_B} ${HOOKGATE_UNSET_A}")
            .unwrap_err();
        let lines: Vec<Option<usize>> = err.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(2), Some(3), Some(3)]);
    }

    #[test]
    fn allowlist_public_url_and_provider_options() {
        let text = r#"
[[sources]]
name = "twilio"
provider = "twilio"
secrets = ["tok"]
allow_ips = ["54.172.60.0/23", "10.0.0.1", "2001:db8::/32"]
public_url = "https://hooks.example.com/webhooks/twilio"

[[sources]]
name = "g"
provider = "generic-hmac"
secrets = ["s"]
options = { header = "X-Sig", algorithm = "sha512", template = "{timestamp}.{body}", timestamp_header = "X-Ts" }
"#;
        let c = Config::parse(text, "x").unwrap();
        assert_eq!(c.sources[0].allow_ips.len(), 3);
        assert!(
            c.sources[0]
                .allow_ips
                .iter()
                .any(|n| n.contains(&"10.0.0.1".parse::<std::net::IpAddr>().unwrap()))
        );
        assert_eq!(
            c.sources[0].public_url.as_deref(),
            Some("https://hooks.example.com/webhooks/twilio")
        );
        let bad = text
            .replace("\"10.0.0.1\"", "\"10.0.0.300\"")
            .replace("/webhooks/twilio\"", "/webhooks/twilio?x=1\"")
            .replace("sha512", "md5");
        let err = Config::parse(&bad, "x").unwrap_err();
        let keys: Vec<_> = err.problems().iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"sources[0].allow_ips[1]"), "{keys:?}");
        assert!(keys.contains(&"sources[0].public_url"), "{keys:?}");
        assert!(keys.contains(&"sources[1].options"), "{keys:?}");
    }

    #[test]
    fn unknown_keys_and_syntax_errors_name_the_line() {
        let err = Config::parse("[queue]\nmax_recieve_count = 3\n", "x").unwrap_err();
        let p = &err.problems()[0];
        assert_eq!(p.line, Some(2));
        assert_eq!(p.key, "max_recieve_count");
        let err = Config::parse("[queue\n", "x").unwrap_err();
        assert_eq!(err.problems()[0].line, Some(1));
        let err = Config::parse("[handlers.x]\nkind = \"teleport\"\n", "x").unwrap_err();
        assert_eq!(err.problems()[0].key, "handlers.x");
    }
}
