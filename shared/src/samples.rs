//! Realistic sample payloads per provider kind, for `hookgate send`, the tour, tests and benchmarks.

use serde_json::json;

/// A sample delivery: event type and JSON body.
pub fn sample(provider: &str, delivery_id: &str) -> (String, Vec<u8>) {
    match provider {
        "stripe" => {
            let body = json!({
                "id": delivery_id,
                "object": "event",
                "api_version": "2024-06-20",
                "created": 1_700_000_000,
                "type": "invoice.paid",
                "livemode": false,
                "pending_webhooks": 1,
                "request": {"id": null, "idempotency_key": null},
                "data": {"object": {
                    "id": "in_1OaBcD2eZvKYlo2C", "object": "invoice", "amount_due": 2000, "amount_paid": 2000,
                    "currency": "usd", "customer": "cus_PqRsTuVwXyZ", "status": "paid",
                    "lines": {"object": "list", "data": [{"id": "il_1", "amount": 2000, "description": "Pro plan"}]}
                }}
            });
            ("invoice.paid".into(), body.to_string().into_bytes())
        }
        "standard-webhooks" | "svix" => {
            let body = json!({
                "type": "user.created",
                "timestamp": "2026-11-23T10:00:00Z",
                "data": {"id": delivery_id, "email": "ada@example.com", "name": "Ada Lovelace", "plan": "team"}
            });
            ("user.created".into(), body.to_string().into_bytes())
        }
        _ => ("push".into(), github_push(delivery_id)),
    }
}

/// A GitHub `push` payload of about 2 KB, shaped like the real thing.
pub fn github_push(delivery_id: &str) -> Vec<u8> {
    let repo = json!({
        "id": 1_296_269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "hello-world",
        "full_name": "octocat/hello-world", "private": false,
        "owner": {"name": "octocat", "email": "octocat@github.com", "login": "octocat", "id": 583_231,
                  "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
                  "html_url": "https://github.com/octocat", "type": "User", "site_admin": false},
        "html_url": "https://github.com/octocat/hello-world", "description": "My first repository",
        "fork": false, "url": "https://github.com/octocat/hello-world",
        "created_at": 1_296_068_472, "updated_at": "2026-11-20T10:00:00Z", "pushed_at": 1_732_356_000,
        "git_url": "git://github.com/octocat/hello-world.git", "ssh_url": "git@github.com:octocat/hello-world.git",
        "clone_url": "https://github.com/octocat/hello-world.git", "homepage": null, "size": 108,
        "stargazers_count": 80, "watchers_count": 80, "language": "Rust", "default_branch": "main",
        "master_branch": "main"
    });
    let commit = |id: &str, msg: &str| {
        json!({
            "id": id, "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433", "distinct": true, "message": msg,
            "timestamp": "2026-11-23T10:00:00+00:00", "url": format!("https://github.com/octocat/hello-world/commit/{id}"),
            "author": {"name": "Mona Lisa", "email": "mona@github.com", "username": "monalisa"},
            "committer": {"name": "Mona Lisa", "email": "mona@github.com", "username": "monalisa"},
            "added": [], "removed": [], "modified": ["README.md"]
        })
    };
    let body = json!({
        "ref": "refs/heads/main",
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "repository": repo,
        "pusher": {"name": "monalisa", "email": "mona@github.com"},
        "sender": {"login": "monalisa", "id": 2, "type": "User", "site_admin": false},
        "created": false, "deleted": false, "forced": false, "base_ref": null,
        "compare": "https://github.com/octocat/hello-world/compare/6113728f27ae...0d1a26e67d8f",
        "commits": [commit("0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "Update README.md")],
        "head_commit": commit("0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "Update README.md"),
        "hook_delivery": delivery_id
    });
    body.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn github_push_is_about_two_kilobytes() {
        let n = super::github_push("d1").len();
        assert!((1800..=2600).contains(&n), "{n}");
    }
}
