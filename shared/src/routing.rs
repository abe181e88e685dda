//! Routing: `[[routes]]` match a source, event-type patterns (`*` wildcards) and an optional
//! payload condition, and name the handlers to run. Several routes may match one event.
//!
//! Conditions are RFC 9535 JSONPath logical expressions evaluated by `serde_json_path`, with `$`
//! the payload: `$.ref == "refs/heads/main"`, `$.action == "opened" && $.pull_request.draft == false`,
//! `length($.commits) > 0`, `match($.ref, "refs/heads/release-.*")`, `search($.head_commit.message, "(?i)hotfix")`.

mod regex_functions;

use serde_json::Value;
use serde_json_path::JsonPath;
use wildmatch::WildMatch;

use crate::config::RouteConfig;
use crate::model::SourceName;

/// A compiled payload condition.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
    path: JsonPath,
}

impl Condition {
    pub fn parse(expr: &str) -> Result<Self, String> {
        let path = JsonPath::parse(&format!("$[?{expr}]")).map_err(|e| {
            format!(
                "not a JSONPath logical expression ({e}); example: $.ref == \"refs/heads/main\""
            )
        })?;
        Ok(Self {
            source: expr.to_owned(),
            path,
        })
    }

    /// True when the expression holds for `payload`. The filter runs over the payload's members,
    /// so a payload with none (an empty object, a scalar) never matches.
    pub fn matches(&self, payload: &Value) -> bool {
        !self.path.query(payload).is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// An `exec` argument or environment value: a JSONPath into the payload, or a literal.
#[derive(Debug, Clone)]
pub enum ValueSource {
    Path(JsonPath),
    Literal(String),
}

impl ValueSource {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.starts_with('$') {
            JsonPath::parse(raw)
                .map(Self::Path)
                .map_err(|e| format!("`{raw}` is not a JSONPath query ({e})"))
        } else {
            Ok(Self::Literal(raw.to_owned()))
        }
    }

    /// The first node's value: strings as they are, other JSON as JSON text, nothing as "".
    pub fn resolve(&self, payload: Option<&Value>) -> String {
        match self {
            Self::Literal(s) => s.clone(),
            Self::Path(p) => payload
                .and_then(|v| {
                    p.query(v).first().map(|n| match n {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                })
                .unwrap_or_default(),
        }
    }
}

/// Config-time check of an exec argument.
pub fn check_value_path(raw: &str) -> Result<(), String> {
    ValueSource::parse(raw).map(|_| ())
}

#[derive(Debug, Clone)]
struct CompiledRoute {
    source: SourceName,
    events: Vec<WildMatch>,
    when: Option<Condition>,
    handlers: Vec<String>,
}

/// All routes, compiled once at start.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<CompiledRoute>,
}

/// The handlers an event should run, and whether it needed a payload that was not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub handlers: Vec<String>,
}

impl Router {
    pub fn new(routes: &[RouteConfig]) -> Result<Self, String> {
        let routes = routes
            .iter()
            .map(|r| {
                Ok(CompiledRoute {
                    source: r.source.clone(),
                    events: r.events.iter().map(|e| WildMatch::new(e)).collect(),
                    when: r.when.as_deref().map(Condition::parse).transpose()?,
                    handlers: r.handlers.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { routes })
    }

    /// Whether any route for this source looks at the payload (so the processor must parse it).
    pub fn needs_payload(&self, source: &SourceName) -> bool {
        self.routes
            .iter()
            .any(|r| r.source == *source && r.when.is_some())
    }

    /// Handler names, each once, in route order.
    pub fn route(
        &self,
        source: &SourceName,
        event_type: &str,
        payload: Option<&Value>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.routes {
            if r.source != *source || !r.events.iter().any(|p| p.matches(event_type)) {
                continue;
            }
            if let Some(c) = &r.when
                && !payload.is_some_and(|p| c.matches(p))
            {
                continue;
            }
            for h in &r.handlers {
                if !out.contains(h) {
                    out.push(h.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(events: &[&str], when: Option<&str>, handlers: &[&str]) -> RouteConfig {
        RouteConfig {
            source: SourceName::parse("github").unwrap(),
            events: events.iter().map(|s| s.to_string()).collect(),
            when: when.map(str::to_owned),
            handlers: handlers.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn patterns_conditions_and_several_routes() {
        let r = Router::new(&[
            route(
                &["push"],
                Some(r#"$.ref == "refs/heads/main""#),
                &["deploy", "audit"],
            ),
            route(&["invoice.*"], None, &["billing"]),
            route(&["*"], None, &["audit"]),
        ])
        .unwrap();
        let gh = SourceName::parse("github").unwrap();
        let main = json!({"ref": "refs/heads/main"});
        let dev = json!({"ref": "refs/heads/dev"});
        assert_eq!(r.route(&gh, "push", Some(&main)), vec!["deploy", "audit"]);
        assert_eq!(r.route(&gh, "push", Some(&dev)), vec!["audit"]);
        assert_eq!(r.route(&gh, "push", None), vec!["audit"]);
        assert_eq!(r.route(&gh, "invoice.paid", None), vec!["billing", "audit"]);
        assert_eq!(
            r.route(&SourceName::parse("other").unwrap(), "push", None),
            Vec::<String>::new()
        );
        assert!(r.needs_payload(&gh));
    }

    #[test]
    fn richer_conditions() {
        let c =
            Condition::parse(r#"$.action == "opened" && $.pull_request.draft == false"#).unwrap();
        assert!(c.matches(&json!({"action": "opened", "pull_request": {"draft": false}})));
        assert!(!c.matches(&json!({"action": "opened", "pull_request": {"draft": true}})));
        let c = Condition::parse("length($.commits) > 1").unwrap();
        assert!(c.matches(&json!({"commits": [1, 2]})));
        assert!(!c.matches(&json!({"commits": [1]})));
        assert!(Condition::parse("$.ref ==== 1").is_err());
        assert!(Condition::parse("rm -rf /").is_err());
    }

    #[test]
    fn value_sources() {
        let p = json!({"ref": "refs/heads/main", "n": 3, "o": {"a": 1}});
        assert_eq!(
            ValueSource::parse("$.ref").unwrap().resolve(Some(&p)),
            "refs/heads/main"
        );
        assert_eq!(ValueSource::parse("$.n").unwrap().resolve(Some(&p)), "3");
        assert_eq!(
            ValueSource::parse("$.o").unwrap().resolve(Some(&p)),
            r#"{"a":1}"#
        );
        assert_eq!(
            ValueSource::parse("$.missing").unwrap().resolve(Some(&p)),
            ""
        );
        assert_eq!(
            ValueSource::parse("--flag").unwrap().resolve(None),
            "--flag"
        );
        assert!(check_value_path("$[").is_err());
    }
}
