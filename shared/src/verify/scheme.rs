//! The HMAC providers, as data: which header carries the tag (and how it is written), which bytes
//! are signed (a template of literal text, timestamp, body, message id, method and URL), the digest
//! and encoding, where the timestamp comes from, and where the delivery id and event type live.
//! `generic-hmac` is the same engine configured from a source's `options`.

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::hmac_util::{self, Algo};
use super::{
    Handshake, Identity, KeyedSecret, Options, SignedHeaders, Src, Verifier, VerifyError,
    VerifyRequest, check_timestamp_ms, extract, first_match, form, hdr, header, json,
    required_header,
};
use crate::model::Millis;

/// How the tag is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    Hex,
    Base64,
}

impl Enc {
    fn encode(self, tag: &[u8]) -> String {
        match self {
            Self::Hex => hex::encode(tag),
            Self::Base64 => B64.encode(tag),
        }
    }
    fn decode(self, s: &str) -> Option<Vec<u8>> {
        match self {
            Self::Hex => hex::decode(s).ok(),
            Self::Base64 => B64.decode(s).ok(),
        }
    }
}

/// How a signed timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsFormat {
    UnixSecs,
    UnixMillis,
    Rfc3339,
}

impl TsFormat {
    fn parse_ms(self, s: &str) -> Option<i64> {
        match self {
            Self::UnixSecs => s.parse::<i64>().ok()?.checked_mul(1000),
            Self::UnixMillis => s.parse().ok(),
            Self::Rfc3339 => crate::clock::parse_rfc3339(s),
        }
    }
    fn render(self, now: Millis) -> String {
        match self {
            Self::UnixSecs => (now / 1000).to_string(),
            Self::UnixMillis => now.to_string(),
            Self::Rfc3339 => crate::clock::rfc3339(now),
        }
    }
}

/// Where the tag header keeps its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigFormat {
    /// `{prefix}{tag}`; with `list`, several comma-separated values, and values without the
    /// prefix (other schemes) are ignored.
    Plain { prefix: String, list: bool },
    /// `t=…,v1=…`: pairs split by `sep`; the timestamp under `ts_key`, tags under `sig_key`.
    Pairs {
        sep: char,
        ts_key: &'static str,
        sig_key: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TsSource {
    Header(String),
    /// In the signature header (`SigFormat::Pairs`).
    InSignature,
    /// A JSON pointer into the (signed) body.
    BodyJson(String),
}

/// One part of the signed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Ts,
    Body,
    /// The message id header (`id_header`).
    Id,
    Method,
    Url,
    /// HubSpot's v3 URI: the URL with a fixed set of percent-escapes decoded.
    HubSpotUrl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretDecoding {
    Raw,
    /// Base64, after an optional `whsec_` prefix.
    Base64,
    Hex,
}

impl SecretDecoding {
    fn key(self, secret: &str) -> Option<Vec<u8>> {
        match self {
            Self::Raw => Some(secret.as_bytes().to_vec()),
            Self::Base64 => B64
                .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
                .ok(),
            Self::Hex => hex::decode(secret).ok(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shake {
    None,
    Slack,
    Zoom,
    Twitch,
}

#[derive(Debug, Clone)]
pub struct HmacScheme {
    provider: &'static str,
    sig_header: String,
    sig: SigFormat,
    algo: Algo,
    enc: Enc,
    ts: Option<(TsSource, TsFormat)>,
    id_header: Option<String>,
    template: Vec<Piece>,
    secret: SecretDecoding,
    id: Vec<Src>,
    kind: Vec<Src>,
    kept: &'static [&'static str],
    shake: Shake,
    content_type: &'static str,
}

fn plain(prefix: &str) -> SigFormat {
    SigFormat::Plain {
        prefix: prefix.to_owned(),
        list: false,
    }
}

fn lit(s: &str) -> Piece {
    Piece::Lit(s.to_owned())
}

impl HmacScheme {
    fn body_hmac(
        provider: &'static str,
        sig_header: &str,
        prefix: &str,
        algo: Algo,
        enc: Enc,
    ) -> Self {
        Self {
            provider,
            sig_header: sig_header.to_owned(),
            sig: plain(prefix),
            algo,
            enc,
            ts: None,
            id_header: None,
            template: vec![Piece::Body],
            secret: SecretDecoding::Raw,
            id: Vec::new(),
            kind: Vec::new(),
            kept: &[],
            shake: Shake::None,
            content_type: "application/json",
        }
    }

    fn ids(mut self, id: Vec<Src>, kind: Vec<Src>) -> Self {
        self.id = id;
        self.kind = kind;
        self
    }

    /// A built-in provider kind that is pure HMAC configuration.
    pub fn named(provider: &str) -> Option<Self> {
        use Algo::{Sha1, Sha256};
        use Enc::{Base64, Hex};
        let s = match provider {
            // X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(app secret, body)).
            "shopify" => Self::body_hmac("shopify", "X-Shopify-Hmac-Sha256", "", Sha256, Base64)
                .ids(
                    vec![hdr("X-Shopify-Webhook-Id"), hdr("X-Shopify-Event-Id")],
                    vec![hdr("X-Shopify-Topic")],
                ),
            // Intercom: X-Hub-Signature: sha1=hex(HMAC-SHA1(client secret, body)).
            "intercom" => Self::body_hmac("intercom", "X-Hub-Signature", "sha1=", Sha1, Hex)
                .ids(vec![json("/id")], vec![json("/topic")]),
            // Typeform: Typeform-Signature: sha256=base64(HMAC-SHA256(secret, body)).
            "typeform" => {
                Self::body_hmac("typeform", "Typeform-Signature", "sha256=", Sha256, Base64)
                    .ids(vec![json("/event_id")], vec![json("/event_type")])
            }
            // Bitbucket Cloud: X-Hub-Signature: sha256=hex(HMAC-SHA256(secret, body)).
            "bitbucket" => Self::body_hmac("bitbucket", "X-Hub-Signature", "sha256=", Sha256, Hex)
                .ids(vec![hdr("X-Request-UUID")], vec![hdr("X-Event-Key")]),
            // Vercel: x-vercel-signature: hex(HMAC-SHA1(secret, body)).
            "vercel" => Self::body_hmac("vercel", "x-vercel-signature", "", Sha1, Hex)
                .ids(vec![json("/id")], vec![json("/type")]),
            // Sentry integration platform: Sentry-Hook-Signature: hex(HMAC-SHA256(client secret, body)).
            "sentry" => Self::body_hmac("sentry", "Sentry-Hook-Signature", "", Sha256, Hex)
                .ids(vec![hdr("Request-ID")], vec![hdr("Sentry-Hook-Resource")]),
            // Jira Cloud (WebSub style): X-Hub-Signature: sha256=hex(HMAC-SHA256(secret, body)).
            "jira" => Self::body_hmac("jira", "X-Hub-Signature", "sha256=", Sha256, Hex).ids(
                vec![hdr("X-Atlassian-Webhook-Identifier")],
                vec![json("/webhookEvent")],
            ),
            // PagerDuty v3: X-PagerDuty-Signature: v1=hex[,v1=hex…] (one per active secret),
            // HMAC-SHA256 keyed with the secret string as is (it looks like base64; it is not decoded).
            "pagerduty" => Self {
                sig: SigFormat::Plain {
                    prefix: "v1=".into(),
                    list: true,
                },
                ..Self::body_hmac("pagerduty", "X-PagerDuty-Signature", "v1=", Sha256, Hex)
            }
            .ids(vec![json("/event/id")], vec![json("/event/event_type")]),
            // Linear: Linear-Signature: hex(HMAC-SHA256(secret, body)); the signed body carries
            // webhookTimestamp (ms).
            "linear" => Self {
                ts: Some((
                    TsSource::BodyJson("/webhookTimestamp".into()),
                    TsFormat::UnixMillis,
                )),
                ..Self::body_hmac("linear", "Linear-Signature", "", Sha256, Hex)
            }
            .ids(
                vec![hdr("Linear-Delivery"), json("/webhookId")],
                vec![hdr("Linear-Event"), json("/type")],
            ),
            // Square: x-square-hmacsha256-signature: base64(HMAC-SHA256(key, notification URL + body)).
            "square" => Self {
                template: vec![Piece::Url, Piece::Body],
                ..Self::body_hmac(
                    "square",
                    "x-square-hmacsha256-signature",
                    "",
                    Sha256,
                    Base64,
                )
            }
            .ids(vec![json("/event_id")], vec![json("/type")]),
            // Slack: X-Slack-Signature: v0=hex(HMAC-SHA256(signing secret, "v0:{ts}:{body}")).
            "slack" => Self {
                ts: Some((
                    TsSource::Header("X-Slack-Request-Timestamp".into()),
                    TsFormat::UnixSecs,
                )),
                template: vec![lit("v0:"), Piece::Ts, lit(":"), Piece::Body],
                shake: Shake::Slack,
                kept: &["x-slack-retry-num"],
                ..Self::body_hmac("slack", "X-Slack-Signature", "v0=", Sha256, Hex)
            }
            .ids(
                vec![json("/event_id"), form("trigger_id")],
                vec![json("/event/type"), json("/type"), form("command")],
            ),
            // Zoom: x-zm-signature: v0=hex(HMAC-SHA256(secret token, "v0:{ts}:{body}")).
            "zoom" => Self {
                ts: Some((
                    TsSource::Header("x-zm-request-timestamp".into()),
                    TsFormat::UnixSecs,
                )),
                template: vec![lit("v0:"), Piece::Ts, lit(":"), Piece::Body],
                shake: Shake::Zoom,
                ..Self::body_hmac("zoom", "x-zm-signature", "v0=", Sha256, Hex)
            }
            .ids(vec![], vec![json("/event")]),
            // Twitch EventSub: sha256=hex(HMAC-SHA256(secret, message id + timestamp + body)).
            "twitch" => Self {
                ts: Some((
                    TsSource::Header("Twitch-Eventsub-Message-Timestamp".into()),
                    TsFormat::Rfc3339,
                )),
                id_header: Some("Twitch-Eventsub-Message-Id".into()),
                template: vec![Piece::Id, Piece::Ts, Piece::Body],
                shake: Shake::Twitch,
                kept: &[
                    "twitch-eventsub-message-type",
                    "twitch-eventsub-subscription-type",
                ],
                ..Self::body_hmac(
                    "twitch",
                    "Twitch-Eventsub-Message-Signature",
                    "sha256=",
                    Sha256,
                    Hex,
                )
            }
            .ids(
                vec![hdr("Twitch-Eventsub-Message-Id")],
                vec![hdr("Twitch-Eventsub-Subscription-Type")],
            ),
            // HubSpot v3: base64(HMAC-SHA256(client secret, method + URI + body + timestamp(ms))).
            "hubspot" => Self {
                ts: Some((
                    TsSource::Header("X-HubSpot-Request-Timestamp".into()),
                    TsFormat::UnixMillis,
                )),
                template: vec![Piece::Method, Piece::HubSpotUrl, Piece::Body, Piece::Ts],
                ..Self::body_hmac("hubspot", "X-HubSpot-Signature-v3", "", Sha256, Base64)
            }
            .ids(
                vec![json("/0/eventId"), json("/eventId")],
                vec![json("/0/subscriptionType"), json("/subscriptionType")],
            ),
            // Paddle Billing: Paddle-Signature: ts=…;h1=hex(HMAC-SHA256(secret, "{ts}:{body}")).
            "paddle" => Self {
                sig: SigFormat::Pairs {
                    sep: ';',
                    ts_key: "ts",
                    sig_key: "h1",
                },
                ts: Some((TsSource::InSignature, TsFormat::UnixSecs)),
                template: vec![Piece::Ts, lit(":"), Piece::Body],
                ..Self::body_hmac("paddle", "Paddle-Signature", "", Sha256, Hex)
            }
            .ids(vec![json("/event_id")], vec![json("/event_type")]),
            // Calendly: Calendly-Webhook-Signature: t=…,v1=hex(HMAC-SHA256(key, "{t}.{body}")).
            "calendly" => Self {
                sig: SigFormat::Pairs {
                    sep: ',',
                    ts_key: "t",
                    sig_key: "v1",
                },
                ts: Some((TsSource::InSignature, TsFormat::UnixSecs)),
                template: vec![Piece::Ts, lit("."), Piece::Body],
                ..Self::body_hmac("calendly", "Calendly-Webhook-Signature", "", Sha256, Hex)
            }
            .ids(vec![json("/payload/uri")], vec![json("/event")]),
            _ => return None,
        };
        Some(s)
    }

    /// `generic-hmac`, from a source's options:
    /// `header` (required), `algorithm` (sha1 | sha256 | sha512; sha256), `encoding` (hex | base64;
    /// hex), `prefix` (""), `template` ("{body}"; also `{timestamp}`, `{id}`, `{method}`, `{url}`),
    /// `timestamp_header` and `timestamp_format` (unix | unix_ms | rfc3339), `id_header`,
    /// `event_header`, `event_json` (a JSON pointer), `secret_encoding` (raw | base64 | hex; raw).
    pub fn generic(o: &mut Options<'_>) -> Result<Self, String> {
        let header = o
            .str("header")?
            .ok_or("generic-hmac needs options.header (the signature header's name)")?;
        http::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| format!("options.header `{header}` is not a header name"))?;
        let algo = match o.str("algorithm")? {
            None => Algo::Sha256,
            Some(a) => Algo::parse(a).ok_or("options.algorithm must be sha1, sha256 or sha512")?,
        };
        let enc = match o.str("encoding")? {
            None | Some("hex") => Enc::Hex,
            Some("base64") => Enc::Base64,
            Some(_) => return Err("options.encoding must be hex or base64".into()),
        };
        let secret = match o.str("secret_encoding")? {
            None | Some("raw") => SecretDecoding::Raw,
            Some("base64") => SecretDecoding::Base64,
            Some("hex") => SecretDecoding::Hex,
            Some(_) => return Err("options.secret_encoding must be raw, base64 or hex".into()),
        };
        let template = parse_template(o.str("template")?.unwrap_or("{body}"))?;
        let ts_header = o.str("timestamp_header")?;
        let ts_format = match o.str("timestamp_format")? {
            None | Some("unix") => TsFormat::UnixSecs,
            Some("unix_ms") => TsFormat::UnixMillis,
            Some("rfc3339") => TsFormat::Rfc3339,
            Some(_) => {
                return Err("options.timestamp_format must be unix, unix_ms or rfc3339".into());
            }
        };
        let uses_ts = template.contains(&Piece::Ts);
        if uses_ts != ts_header.is_some() {
            return Err(
                "options.template uses {timestamp} exactly when options.timestamp_header is set"
                    .into(),
            );
        }
        let id_header = o.str("id_header")?;
        if template.contains(&Piece::Id) && id_header.is_none() {
            return Err("options.template uses {id}: set options.id_header".into());
        }
        let mut kind = Vec::new();
        if let Some(h) = o.str("event_header")? {
            kind.push(hdr(h));
        }
        if let Some(p) = o.str("event_json")? {
            kind.push(json(p));
        }
        Ok(Self {
            provider: "generic-hmac",
            sig_header: header.to_owned(),
            sig: plain(o.str("prefix")?.unwrap_or("")),
            algo,
            enc,
            ts: ts_header.map(|h| (TsSource::Header(h.to_owned()), ts_format)),
            id_header: id_header.map(str::to_owned),
            template,
            secret,
            id: id_header.map(hdr).into_iter().collect(),
            kind,
            kept: &[],
            shake: Shake::None,
            content_type: "application/json",
        })
    }

    fn malformed(&self, reason: &str) -> VerifyError {
        VerifyError::MalformedHeader {
            header: self.sig_header.clone(),
            reason: reason.into(),
        }
    }

    /// The tags in the signature header, and the timestamp it carries (`Pairs`).
    fn parse_sig<'a>(&self, raw: &'a str) -> Result<(Vec<Vec<u8>>, Option<&'a str>), VerifyError> {
        parse_sig(&self.sig, self.enc, raw).map_err(|r| self.malformed(r))
    }

    fn content<'a>(
        &self,
        req: &VerifyRequest<'a>,
        ts: Option<&'a str>,
        id: Option<&'a str>,
    ) -> Vec<Cow<'a, [u8]>> {
        self.template
            .iter()
            .map(|p| match p {
                Piece::Lit(s) => Cow::Owned(s.as_bytes().to_vec()),
                Piece::Ts => Cow::Borrowed(ts.unwrap_or("").as_bytes()),
                Piece::Body => Cow::Borrowed(req.body),
                Piece::Id => Cow::Borrowed(id.unwrap_or("").as_bytes()),
                Piece::Method => Cow::Borrowed(req.method.as_bytes()),
                Piece::Url => Cow::Borrowed(req.url.as_bytes()),
                Piece::HubSpotUrl => Cow::Owned(hubspot_uri(req.url).into_bytes()),
            })
            .collect()
    }
}

/// Parses a signature header per `fmt`. Errors are short reasons.
pub fn parse_sig<'a>(
    fmt: &SigFormat,
    enc: Enc,
    raw: &'a str,
) -> Result<(Vec<Vec<u8>>, Option<&'a str>), &'static str> {
    match fmt {
        SigFormat::Plain { prefix, list } => {
            let values: Vec<&str> = if *list {
                raw.split(',').map(str::trim).collect()
            } else {
                vec![raw]
            };
            let mut tags = Vec::new();
            for v in values {
                match (v.strip_prefix(prefix.as_str()), *list) {
                    // In a list, a value that does not decode is skipped, as the SDKs do.
                    (Some(t), true) => tags.extend(enc.decode(t)),
                    (Some(t), false) => {
                        tags.push(enc.decode(t).ok_or("signature is not validly encoded")?);
                    }
                    (None, true) => {} // another scheme's value
                    (None, false) => return Err("signature lacks its expected prefix"),
                }
            }
            if tags.is_empty() {
                return Err("no validly encoded signature with the expected prefix");
            }
            Ok((tags, None))
        }
        SigFormat::Pairs {
            sep,
            ts_key,
            sig_key,
        } => {
            let mut ts = None;
            let mut tags = Vec::new();
            for part in raw.split(*sep) {
                let (k, v) = part
                    .trim()
                    .split_once('=')
                    .ok_or("expected key=value pairs")?;
                if k == *ts_key {
                    if ts.is_some() {
                        return Err("more than one timestamp");
                    }
                    ts = Some(v);
                } else if k == *sig_key {
                    // A tag that does not decode is skipped (Paddle's SDK tests send `h1=dummy`).
                    tags.extend(enc.decode(v));
                }
            }
            let ts = ts.ok_or("no timestamp")?;
            if tags.is_empty() {
                return Err("no validly encoded signature");
            }
            Ok((tags, Some(ts)))
        }
    }
}

/// HubSpot v3 signs the URI with these escapes decoded (their docs' list).
fn hubspot_uri(url: &str) -> String {
    const MAP: &[(&str, &str)] = &[
        ("%3A", ":"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%40", "@"),
        ("%21", "!"),
        ("%24", "$"),
        ("%27", "'"),
        ("%28", "("),
        ("%29", ")"),
        ("%2A", "*"),
        ("%2C", ","),
        ("%3B", ";"),
    ];
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3).unwrap_or(&rest[i..]);
        match MAP.iter().find(|(e, _)| e.eq_ignore_ascii_case(esc)) {
            Some((_, c)) => {
                out.push_str(c);
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse_template(t: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find('{') {
        if i > 0 {
            out.push(lit(&rest[..i]));
        }
        let after = &rest[i + 1..];
        let end = after
            .find('}')
            .ok_or("options.template has an unclosed `{`")?;
        out.push(match &after[..end] {
            "timestamp" => Piece::Ts,
            "body" => Piece::Body,
            "id" => Piece::Id,
            "method" => Piece::Method,
            "url" => Piece::Url,
            other => {
                return Err(format!(
                    "options.template: unknown placeholder `{{{other}}}` (use timestamp, body, id, method, url)"
                ));
            }
        });
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(lit(rest));
    }
    if !out.contains(&Piece::Body) {
        return Err("options.template must include {body}".into());
    }
    Ok(out)
}

impl Verifier for HmacScheme {
    fn provider(&self) -> &'static str {
        self.provider
    }

    fn expected_headers(&self) -> Vec<String> {
        let mut v = vec![self.sig_header.clone()];
        if let Some((TsSource::Header(h), _)) = &self.ts {
            v.push(h.clone());
        }
        if let Some(h) = &self.id_header {
            v.push(h.clone());
        }
        for s in self.id.iter().chain(&self.kind) {
            if let Src::Header(h) = s
                && !v.iter().any(|x| x.eq_ignore_ascii_case(h))
            {
                v.push(h.clone());
            }
        }
        v
    }

    fn describe(&self) -> String {
        let content: String = self
            .template
            .iter()
            .map(|p| match p {
                Piece::Lit(s) => s.as_str(),
                Piece::Ts => "{timestamp}",
                Piece::Body => "{body}",
                Piece::Id => "{id}",
                Piece::Method => "{method}",
                Piece::Url | Piece::HubSpotUrl => "{url}",
            })
            .collect();
        format!(
            "HMAC-{} ({}) over `{content}`",
            self.algo.name().to_uppercase(),
            match self.enc {
                Enc::Hex => "hex",
                Enc::Base64 => "base64",
            }
        )
    }

    fn verify(
        &self,
        req: &VerifyRequest<'_>,
        secrets: &[KeyedSecret],
        tolerance: Duration,
    ) -> Result<String, VerifyError> {
        let raw = required_header(req.headers, &self.sig_header)?;
        let (tags, sig_ts) = self.parse_sig(raw)?;
        let (ts, fmt) = match &self.ts {
            None => (None, None),
            Some((TsSource::Header(h), f)) => (Some(required_header(req.headers, h)?), Some(*f)),
            Some((TsSource::InSignature, f)) => (sig_ts, Some(*f)),
            Some((TsSource::BodyJson(_), f)) => (None, Some(*f)),
        };
        let id = match &self.id_header {
            Some(h) => Some(required_header(req.headers, h)?),
            None => None,
        };
        let parts = self.content(req, ts, id);
        let parts: Vec<&[u8]> = parts.iter().map(AsRef::as_ref).collect();
        let label = first_match(secrets, |s| {
            self.secret.key(s).is_some_and(|key| {
                tags.iter()
                    .any(|t| hmac_util::verify(self.algo, &key, &parts, t))
            })
        })?;
        // The timestamp is checked after the signature, so a stale genuine retry is told apart.
        let ts_ms = match (&self.ts, fmt) {
            (Some((TsSource::BodyJson(ptr), _)), Some(f)) => {
                let v: Option<serde_json::Value> = serde_json::from_slice(req.body).ok();
                let t = v
                    .as_ref()
                    .and_then(|v| v.pointer(ptr))
                    .and_then(|t| match t {
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        serde_json::Value::String(s) => Some(s.clone()),
                        _ => None,
                    });
                let t = t.ok_or_else(|| {
                    VerifyError::MissingField(ptr.trim_start_matches('/').to_owned())
                })?;
                Some(f.parse_ms(&t).ok_or_else(|| {
                    VerifyError::MissingField(ptr.trim_start_matches('/').to_owned())
                })?)
            }
            (Some((src, _)), Some(f)) => {
                let name = match src {
                    TsSource::Header(h) => h.clone(),
                    _ => self.sig_header.clone(),
                };
                Some(
                    f.parse_ms(ts.unwrap_or(""))
                        .ok_or(VerifyError::MalformedHeader {
                            header: name,
                            reason: "timestamp is not in the expected format".into(),
                        })?,
                )
            }
            _ => None,
        };
        if let Some(t) = ts_ms {
            check_timestamp_ms(t, req.now, tolerance, &label)?;
        }
        Ok(label)
    }

    fn identify(&self, req: &VerifyRequest<'_>) -> Identity {
        Identity {
            delivery_id: extract(req, &self.id),
            event_type: extract(req, &self.kind),
        }
    }

    fn prepare_body(&self, _secret: &str, body: &[u8], now: Millis, _delivery_id: &str) -> Vec<u8> {
        // Linear signs a timestamp inside the body: a sample gets the current one.
        if let Some((TsSource::BodyJson(ptr), f)) = &self.ts
            && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body)
            && let Some(obj) = v.as_object_mut()
        {
            let key = ptr.trim_start_matches('/').to_owned();
            let value = match f {
                TsFormat::UnixMillis => serde_json::Value::from(now),
                TsFormat::UnixSecs => serde_json::Value::from(now / 1000),
                TsFormat::Rfc3339 => serde_json::Value::from(crate::clock::rfc3339(now)),
            };
            obj.insert(key, value);
            return v.to_string().into_bytes();
        }
        body.to_vec()
    }

    fn sign(
        &self,
        secret: &str,
        body: &[u8],
        url: &str,
        now: Millis,
        delivery_id: &str,
        event_type: &str,
    ) -> SignedHeaders {
        let ts_string = self.ts.as_ref().map(|(_, f)| f.render(now));
        let req_headers = http::HeaderMap::new();
        let req = VerifyRequest {
            method: "POST",
            url,
            headers: &req_headers,
            body,
            now,
        };
        let parts = self.content(&req, ts_string.as_deref(), Some(delivery_id));
        let parts: Vec<&[u8]> = parts.iter().map(AsRef::as_ref).collect();
        let key = self
            .secret
            .key(secret)
            .unwrap_or_else(|| secret.as_bytes().to_vec());
        let tag = self
            .enc
            .encode(&hmac_util::compute(self.algo, &key, &parts));
        let mut out: SignedHeaders = Vec::new();
        let sig_value = match &self.sig {
            SigFormat::Plain { prefix, .. } => format!("{prefix}{tag}"),
            SigFormat::Pairs {
                sep,
                ts_key,
                sig_key,
            } => format!(
                "{ts_key}={}{sep}{sig_key}={tag}",
                ts_string.as_deref().unwrap_or("")
            ),
        };
        out.push((self.sig_header.clone(), sig_value));
        if let (Some((TsSource::Header(h), _)), Some(t)) = (&self.ts, &ts_string) {
            out.push((h.clone(), t.clone()));
        }
        if let Some(h) = &self.id_header {
            out.push((h.clone(), delivery_id.to_owned()));
        }
        for (srcs, value) in [(&self.id, delivery_id), (&self.kind, event_type)] {
            if let Some(Src::Header(h)) = srcs.first()
                && !out.iter().any(|(k, _)| k.eq_ignore_ascii_case(h))
            {
                out.push((h.clone(), value.to_owned()));
            }
        }
        if self.shake == Shake::Twitch {
            out.push(("Twitch-Eventsub-Message-Type".into(), "notification".into()));
        }
        out.push(("Content-Type".into(), self.content_type.into()));
        out
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        self.kept
    }

    fn handshake(&self, req: &VerifyRequest<'_>, secret: &KeyedSecret) -> Option<Handshake> {
        let body = || serde_json::from_slice::<serde_json::Value>(req.body).ok();
        match self.shake {
            Shake::None => None,
            // https://api.slack.com/events/url_verification: answer with the challenge.
            Shake::Slack => {
                let v = body()?;
                (v.get("type")?.as_str()? == "url_verification").then_some(())?;
                let challenge = v.get("challenge")?.as_str()?;
                Some(Handshake::json(
                    &serde_json::json!({ "challenge": challenge }),
                ))
            }
            // Zoom endpoint.url_validation: plainToken and hex(HMAC-SHA256(secret token, plainToken)).
            Shake::Zoom => {
                let v = body()?;
                (v.get("event")?.as_str()? == "endpoint.url_validation").then_some(())?;
                let plain = v.pointer("/payload/plainToken")?.as_str()?;
                let enc = hex::encode(hmac_util::sha256(
                    secret.value.expose().as_bytes(),
                    &[plain.as_bytes()],
                ));
                Some(Handshake::json(
                    &serde_json::json!({ "plainToken": plain, "encryptedToken": enc }),
                ))
            }
            // Twitch: answer webhook_callback_verification with the raw challenge, text/plain.
            Shake::Twitch => {
                let kind = header(req.headers, "twitch-eventsub-message-type").ok()??;
                (kind == "webhook_callback_verification").then_some(())?;
                let v = body()?;
                let challenge = v.get("challenge")?.as_str()?;
                Some(Handshake {
                    status: 200,
                    content_type: "text/plain",
                    body: challenge.as_bytes().to_vec(),
                })
            }
        }
    }
}
