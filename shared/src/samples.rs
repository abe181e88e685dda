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
        "github" | "gitlab" | "bitbucket" | "generic-hmac" | "basic-auth" | "header-token" => {
            ("push".into(), github_push(delivery_id))
        }
        other => other_sample(other, delivery_id),
    }
}

/// Samples for the other provider kinds, shaped like each provider's own payloads.
fn other_sample(provider: &str, id: &str) -> (String, Vec<u8>) {
    let (kind, body) = match provider {
        "clerk" => (
            "user.created",
            json!({
                "type": "user.created", "object": "event", "timestamp": 1_700_000_000_000_i64,
                "data": {"id": format!("user_{id}"), "email_addresses": [{"email_address": "ada@example.com"}]}
            }),
        ),
        "resend" => (
            "email.delivered",
            json!({
                "type": "email.delivered", "created_at": "2026-11-23T10:00:00.000Z",
                "data": {"email_id": id, "from": "hello@example.com", "to": ["ada@example.com"], "subject": "Welcome"}
            }),
        ),
        "slack" => (
            "app_mention",
            json!({
                "token": "verification-token-unused", "team_id": "T061EG9R6", "api_app_id": "A0PNCHHK2",
                "type": "event_callback", "event_id": format!("Ev{id}"), "event_time": 1_700_000_000,
                "event": {"type": "app_mention", "user": "U061F7AUR", "text": "<@U0LAN0Z89> deploy?",
                          "ts": "1700000000.000200", "channel": "C0LAN2Q65"}
            }),
        ),
        "shopify" => (
            "orders/create",
            json!({
                "id": 820_982_911_946_154_508_i64, "email": "jon@example.com", "total_price": "199.00",
                "currency": "USD", "financial_status": "paid", "line_items": [{"id": 1, "title": "IPod Nano", "quantity": 1}]
            }),
        ),
        "paddle" => (
            "transaction.completed",
            json!({
                "event_id": format!("evt_{id}"), "event_type": "transaction.completed",
                "occurred_at": "2026-11-23T10:00:00.000Z", "notification_id": format!("ntf_{id}"),
                "data": {"id": "txn_01h04vsbhqc62t8hmd4z3b578c", "status": "completed", "currency_code": "USD"}
            }),
        ),
        "linear" => (
            "Issue",
            json!({
                "action": "create", "type": "Issue", "webhookId": id, "webhookTimestamp": 0,
                "data": {"id": "9cfb482a-81e3-4154-b5b9-2c805e70a02d", "title": "Fix login", "priority": 2}
            }),
        ),
        "square" => (
            "payment.updated",
            json!({
                "merchant_id": "6SSW7HV8K2ST5", "type": "payment.updated", "event_id": id,
                "created_at": "2026-11-23T10:00:00.000Z",
                "data": {"type": "payment", "id": "KkAkhdMsgzn59SM8A89WgKwekxLZY",
                         "object": {"payment": {"id": "KkAkhdMsgzn59SM8A89WgKwekxLZY", "status": "COMPLETED"}}}
            }),
        ),
        "zoom" => (
            "meeting.started",
            json!({
                "event": "meeting.started", "event_ts": 1_700_000_000_000_i64,
                "payload": {"account_id": "AAAAAABBBB", "object": {"id": "1234567890", "uuid": id, "topic": "Standup"}}
            }),
        ),
        "discord" => (
            "APPLICATION_AUTHORIZED",
            json!({
                "version": 1, "application_id": "1234560123453231555", "type": 1,
                "event": {"type": "APPLICATION_AUTHORIZED", "timestamp": "2026-11-23T10:00:00.000Z",
                          "data": {"integration_type": 1, "user": {"id": "12345", "username": "ada"}}}
            }),
        ),
        "sendgrid" => (
            "delivered",
            json!([{
                "email": "ada@example.com", "timestamp": 1_700_000_000, "event": "delivered",
                "sg_event_id": id, "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
                "response": "250 OK"
            }]),
        ),
        "mailgun" => (
            "delivered",
            json!({
                "event-data": {"id": id, "event": "delivered", "timestamp": 1_700_000_000.0,
                               "recipient": "ada@example.com", "message": {"headers": {"message-id": "m@example.com"}}}
            }),
        ),
        "pagerduty" => (
            "incident.triggered",
            json!({
                "event": {"id": id, "event_type": "incident.triggered", "resource_type": "incident",
                          "occurred_at": "2026-11-23T10:00:00.000Z",
                          "data": {"id": "PGR0VU2", "type": "incident", "title": "Disk full", "status": "triggered"}}
            }),
        ),
        "intercom" => (
            "conversation.user.created",
            json!({
                "type": "notification_event", "id": format!("notif_{id}"), "topic": "conversation.user.created",
                "app_id": "abc123", "created_at": 1_700_000_000,
                "data": {"item": {"type": "conversation", "id": "147"}}
            }),
        ),
        "twitch" => (
            "channel.follow",
            json!({
                "subscription": {"id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4", "type": "channel.follow",
                                 "version": "2", "status": "enabled"},
                "event": {"user_id": "1337", "user_login": "awesome_user", "broadcaster_user_id": "12826"}
            }),
        ),
        "typeform" => (
            "form_response",
            json!({
                "event_id": id, "event_type": "form_response",
                "form_response": {"form_id": "lT4Z3j", "token": "a3a12ec67a1365927098a606107fac15",
                                  "answers": [{"type": "text", "text": "Lorem ipsum"}]}
            }),
        ),
        "calendly" => (
            "invitee.created",
            json!({
                "event": "invitee.created", "created_at": "2026-11-23T10:00:00.000000Z",
                "payload": {"uri": format!("https://api.calendly.com/scheduled_events/E1/invitees/{id}"),
                            "email": "ada@example.com", "name": "Ada Lovelace", "status": "active"}
            }),
        ),
        "hubspot" => (
            "contact.creation",
            json!([{
                "eventId": 100, "subscriptionId": 12345, "portalId": 62515, "appId": 54321,
                "occurredAt": 1_700_000_000_000_i64, "subscriptionType": "contact.creation",
                "attemptNumber": 0, "objectId": 123, "changeSource": "CRM"
            }]),
        ),
        "vercel" => (
            "deployment.succeeded",
            json!({
                "id": id, "type": "deployment.succeeded", "createdAt": 1_700_000_000_000_i64,
                "payload": {"deployment": {"id": "dpl_2qSFd", "url": "hookgate-abc.vercel.app"}}
            }),
        ),
        "sentry" => (
            "issue",
            json!({
                "action": "created", "installation": {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"},
                "data": {"issue": {"id": "1170820242", "title": "Error: boom", "status": "unresolved"}}
            }),
        ),
        "jira" => (
            "jira:issue_created",
            json!({
                "timestamp": 1_700_000_000_000_i64, "webhookEvent": "jira:issue_created",
                "issue": {"id": "10001", "key": "HG-1", "fields": {"summary": "Webhook test"}}
            }),
        ),
        "twilio" => {
            let body = format!(
                "MessageSid=SM{id}&SmsSid=SM{id}&AccountSid=AC00000000000000000000000000000000&From=%2B15005550006&To=%2B15005550001&MessageStatus=delivered&ApiVersion=2010-04-01"
            );
            return ("delivered".into(), body.into_bytes());
        }
        _ => return ("push".into(), github_push(id)),
    };
    (kind.to_owned(), body.to_string().into_bytes())
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
    fn every_provider_has_a_sample_its_verifier_identifies() {
        for p in crate::verify::PROVIDERS {
            let (kind, body) = super::sample(p, "d-1");
            assert!(!kind.is_empty() && !body.is_empty(), "{p}");
        }
    }

    #[test]
    fn github_push_is_about_two_kilobytes() {
        let n = super::github_push("d1").len();
        assert!((1800..=2600).contains(&n), "{n}");
    }
}
