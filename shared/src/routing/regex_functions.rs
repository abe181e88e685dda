//! RFC 9535's `match()` and `search()` JSONPath functions, on `regex-lite`.
//!
//! `serde_json_path` ships them on the `regex` crate, whose Unicode tables and automata cost
//! each Lambda bootstrap about 0.5 MB; `regex-lite` is already linked (the AWS SDK's endpoint
//! rules use it). It compiles each pattern once per thread (the built-in compiled it on every
//! evaluation, i.e. for every event). Semantics follow RFC 9535 §2.4.6-7 with I-Regexp (RFC 9485):
//! `match` must match the whole string, `search` any substring, `.` matches neither `\n` nor
//! `\r`, and a pattern that does not compile, or an argument that is not a string, gives false.
//! Not supported by `regex-lite`: Unicode property classes (`\p{…}`); such a pattern gives false.

use std::cell::RefCell;
use std::collections::HashMap;

use regex_lite::Regex;
use serde_json::Value;
use serde_json_path::functions::{LogicalType, ValueType};

/// Patterns kept per thread; when full the cache starts over (patterns come from the config, so
/// this is only reached by patterns taken from payloads).
const CACHED_PATTERNS: usize = 256;

thread_local! {
    static COMPILED: RefCell<HashMap<(bool, String), Option<Regex>>> =
        RefCell::new(HashMap::new());
}

fn is_match(value: &ValueType, pattern: &ValueType, whole: bool) -> LogicalType {
    let (Some(Value::String(s)), Some(Value::String(p))) = (value.as_value(), pattern.as_value())
    else {
        return LogicalType::False;
    };
    let compile = || {
        let anchored = if whole {
            format!("(?R)^(?:{p})$")
        } else {
            format!("(?R)(?:{p})")
        };
        Regex::new(&anchored).ok()
    };
    let found = COMPILED.with(|cell| match cell.try_borrow_mut() {
        Ok(mut cache) => {
            let key = (whole, p.clone());
            if let Some(re) = cache.get(&key) {
                return re.as_ref().map(|re| re.is_match(s));
            }
            if cache.len() >= CACHED_PATTERNS {
                cache.clear();
            }
            let re = compile();
            let found = re.as_ref().map(|re| re.is_match(s));
            cache.insert(key, re);
            found
        }
        // Re-entered on this thread (cannot happen today): compile without the cache.
        Err(_) => compile().map(|re| re.is_match(s)),
    });
    found.unwrap_or(false).into()
}

#[serde_json_path::function(name = "match")]
fn match_whole(value: ValueType, pattern: ValueType) -> LogicalType {
    is_match(&value, &pattern, true)
}

#[serde_json_path::function(name = "search")]
fn search_within(value: ValueType, pattern: ValueType) -> LogicalType {
    is_match(&value, &pattern, false)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use crate::routing::Condition;

    fn holds(expr: &str, payload: serde_json::Value) -> bool {
        Condition::parse(expr).unwrap().matches(&payload)
    }

    #[test]
    fn match_is_anchored_and_search_is_not() {
        let p = json!({"ref": "refs/heads/release-1.2", "n": 3});
        assert!(holds(r#"match($.ref, "refs/heads/release-.*")"#, p.clone()));
        assert!(!holds(r#"match($.ref, "release-.*")"#, p.clone()));
        assert!(holds(r#"search($.ref, "release-[0-9]")"#, p.clone()));
        assert!(!holds(r#"search($.ref, "^release")"#, p.clone()));
        // An alternation stays inside the anchors.
        assert!(!holds(r#"match($.ref, "x|refs")"#, p.clone()));
        assert!(holds(r#"match($.ref, "x|refs/.*")"#, p.clone()));
        // Negation, and the functions inside a larger expression.
        assert!(holds(r#"!match($.ref, "refs/tags/.*") && $.n > 2"#, p));
        // The README's example.
        let readme = r#"match($.ref, "refs/heads/release-.*") && !search($.head_commit.message, "(?i)\\[skip ci\\]")"#;
        let push = |m: &str| json!({"ref": "refs/heads/release-2", "head_commit": {"message": m}});
        assert!(holds(readme, push("fix: a bug")));
        assert!(!holds(readme, push("docs [SKIP CI]")));
        assert!(holds(readme, push("skip ci without brackets")));
    }

    #[test]
    fn i_regexp_dot_and_flags() {
        // RFC 9485: `.` matches neither \n nor \r.
        assert!(!holds(r#"match($.m, "a.b")"#, json!({"m": "a\nb"})));
        assert!(!holds(r#"match($.m, "a.b")"#, json!({"m": "a\rb"})));
        assert!(holds(r#"match($.m, "a.b")"#, json!({"m": "a€b"})));
        assert!(holds(
            r#"search($.m, "(?i)HOTFIX")"#,
            json!({"m": "a hotfix"})
        ));
    }

    #[test]
    fn no_string_or_no_pattern_is_false() {
        let p = json!({"n": 3, "s": "abc", "pat": "a.c"});
        assert!(!holds(r#"match($.n, "3")"#, p.clone()));
        assert!(!holds(r#"search($.missing, "a")"#, p.clone()));
        // A pattern that does not compile is false at evaluation, for every event alike.
        assert!(!holds(r#"search($.s, "(")"#, p.clone()));
        assert!(!holds(r#"search($.s, "\\p{L}")"#, p.clone()));
        // The pattern may come from the payload.
        assert!(holds(r#"match($.s, $.pat)"#, p.clone()));
        // Wrong arity or argument types are config errors.
        assert!(Condition::parse(r#"match($.s)"#).is_err());
        assert!(Condition::parse(r#"search($.s, "a", "b")"#).is_err());
    }

    #[test]
    fn many_patterns_stay_correct_past_the_cache_bound() {
        for i in 0..(super::CACHED_PATTERNS * 2 + 3) {
            let payload = json!({"s": format!("id-{i}"), "pat": format!("id-{i}")});
            assert!(holds(r#"match($.s, $.pat)"#, payload), "{i}");
        }
    }
}
