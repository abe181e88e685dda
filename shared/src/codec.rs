//! Body encoding for storage: zstd when it saves space, the raw bytes otherwise.
//!
//! The stored form is one tag byte followed by the payload, so a reader never guesses.
//!
//! Small webhook bodies leave a general-purpose compressor little to learn from (a 2 KB GitHub
//! push shrinks only ~2.4× with zstd alone), so small bodies are compressed against a built-in
//! dictionary of webhook vocabulary (keys, URL templates, envelopes of the common providers):
//! that roughly halves them again. Since [`ZSTD_DICT_V2`] the dictionary also carries zstd
//! entropy tables fitted to real GitHub payloads, so the compressor no longer builds and writes
//! its own tables for every body: about 0.6× the CPU and 0.94× the bytes of [`ZSTD_DICT_V1`]
//! (README, Ingest CPU). Each dictionary is versioned by its tag and never changes;
//! bodies stored under an older tag still decode. Ingest CPU matters too
//! (`scripts/bench-ingest.sh`): one compression pass per body, with compression contexts reused
//! per thread.

use std::cell::RefCell;

use bytes::Bytes;
use zstd::bulk::{Compressor, Decompressor};

const RAW: u8 = 0;
const ZSTD: u8 = 1;
/// zstd with [`DICT_V1`] as a raw-content dictionary (what bodies up to 8 KB were stored with
/// before [`ZSTD_DICT_V2`]; read, no longer written).
const ZSTD_DICT_V1: u8 = 2;
/// zstd with [`DICT_V2`]: [`DICT_V1`]'s content plus fitted entropy tables.
const ZSTD_DICT_V2: u8 = 3;
/// zstd level: low levels are several times faster than HMAC-bound ingest needs and still shrink
/// JSON by 3-5×.
const LEVEL: i32 = 1;
/// Below this size compression rarely pays for its frame header.
const MIN_TO_COMPRESS: usize = 64;
/// Up to this size a body is compressed with the built-in dictionary, above it without: the
/// dictionary is what gets a typical 2 KB delivery into one DynamoDB write unit, while in a large
/// body its head start is small beside what the body itself teaches the compressor. One pass
/// either way (trying both and keeping the smaller cost twice the CPU for a few bytes). With
/// [`DICT_V2`], real GitHub payloads of 8-32 KB came out a third smaller for the CPU of no
/// dictionary, but the benchmark's 16 KB push took 1.4-2× the CPU (README, Ingest CPU): the limit
/// stays where it was.
const DICT_UP_TO: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("stored body cannot be decoded: {0}")]
pub struct CodecError(String);

thread_local! {
    // Compression contexts are reused: a fresh context allocates and clears its tables, and a
    // fresh dictionary context digests the whole dictionary, which for webhook-sized bodies costs
    // more than the compression itself. One of each per thread (ingest is single-threaded on
    // Lambda; the local stack has one per runtime worker).
    static PLAIN: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static WITH_DICT: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
}

/// Compresses with this thread's context (made on first use), or `None` if zstd fails.
fn compress_with(
    slot: &'static std::thread::LocalKey<RefCell<Option<Compressor<'static>>>>,
    dictionary: &[u8],
    body: &[u8],
) -> Option<Vec<u8>> {
    slot.with(|cell| {
        let mut cell = cell.try_borrow_mut().ok()?;
        if cell.is_none() {
            *cell = Some(Compressor::with_dictionary(LEVEL, dictionary).ok()?);
        }
        let out = cell.as_mut()?.compress(body).ok();
        if out.is_none() {
            // A failed job leaves the context unusable for the next one: start over.
            *cell = None;
        }
        out
    })
}

/// Encodes a body for storage: zstd (with [`DICT_V2`] up to `DICT_UP_TO`) when that is smaller,
/// else the raw bytes.
pub fn encode_body(body: &[u8]) -> Vec<u8> {
    if body.len() >= MIN_TO_COMPRESS {
        let compressed = if body.len() <= DICT_UP_TO {
            compress_with(&WITH_DICT, DICT_V2, body).map(|z| (ZSTD_DICT_V2, z))
        } else {
            compress_with(&PLAIN, &[], body).map(|z| (ZSTD, z))
        };
        if let Some((tag, mut z)) = compressed
            && z.len() + 1 < body.len()
        {
            z.insert(0, tag);
            return z;
        }
    }
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(RAW);
    out.extend_from_slice(body);
    out
}

thread_local! {
    // Likewise for reading (the processor decodes every event of a batch).
    static UNPLAIN: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
    static UNDICT: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
    static UNDICT2: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

fn decompress_with(
    slot: &'static std::thread::LocalKey<RefCell<Option<Decompressor<'static>>>>,
    dictionary: &[u8],
    frame: &[u8],
    max_len: usize,
) -> Result<Bytes, CodecError> {
    slot.with(|cell| {
        let mut fresh;
        let mut cached = cell.try_borrow_mut().ok();
        let d = match cached.as_deref_mut() {
            Some(Some(d)) => d,
            Some(empty) => empty.insert(
                Decompressor::with_dictionary(dictionary).map_err(|e| CodecError(e.to_string()))?,
            ),
            // Re-entered on this thread (cannot happen today): use a context of its own.
            None => {
                fresh = Decompressor::with_dictionary(dictionary)
                    .map_err(|e| CodecError(e.to_string()))?;
                &mut fresh
            }
        };
        d.decompress(frame, max_len)
            .map(Bytes::from)
            .map_err(|e| CodecError(e.to_string()))
    })
}

/// Decodes what [`encode_body`] produced.
pub fn decode_body(stored: &[u8], max_len: usize) -> Result<Bytes, CodecError> {
    match stored.split_first() {
        None => Ok(Bytes::new()),
        Some((&RAW, rest)) => Ok(Bytes::copy_from_slice(rest)),
        Some((&ZSTD, rest)) => decompress_with(&UNPLAIN, &[], rest, max_len),
        Some((&ZSTD_DICT_V1, rest)) => decompress_with(&UNDICT, DICT_V1.as_bytes(), rest, max_len),
        Some((&ZSTD_DICT_V2, rest)) => decompress_with(&UNDICT2, DICT_V2, rest, max_len),
        Some((tag, _)) => Err(CodecError(format!("unknown body encoding tag {tag}"))),
    }
}

/// [`ZSTD_DICT_V2`]'s dictionary, made by `scripts/dict-v2.sh`: zstd's dictionary format
/// (magic, id, entropy tables) ending with [`DICT_V1`] byte for byte, its tables fitted at
/// [`LEVEL`] to half of the payload examples of `octokit/webhooks` (the other half held out for
/// measuring). Stored bodies depend on it byte for byte: NEVER edit or replace it (a unit test
/// pins its SHA-256; the script only compares its rebuild); add a `DICT_V3` with a new tag
/// instead.
static DICT_V2: &[u8] = include_bytes!("dict_v2.zdict");

/// Webhook vocabulary for [`ZSTD_DICT_V1`], and the content of [`DICT_V2`]: the shapes (keys,
/// URL templates, fixed values, in the providers' own order) of Stripe events, GitHub users,
/// repositories, pull requests, issues and pushes, with no values of any real delivery. zstd
/// finds matches cheapest near the end, so the most frequent shapes come last. Stored bodies (and
/// [`DICT_V2`]) depend on it byte for byte: NEVER edit it; add a `DICT_V3` with a new tag
/// instead.
const DICT_V1: &str = concat!(
    r#"{"id":"evt_","object":"event","api_version":"2024-06-20","created":1700000000,"data":{"object":{"id":"pi_","object":"payment_intent","amount":1000,"amount_received":1000,"currency":"usd","customer":"cus_","description":null,"invoice":null,"latest_charge":"ch_","livemode":false,"metadata":{},"payment_method":"pm_","status":"succeeded"},"previous_attributes":{}},"livemode":false,"pending_webhooks":1,"request":{"id":"req_","idempotency_key":""},"type":"payment_intent.succeeded"}"#,
    r#"{"type":"message.created","timestamp":"2024-01-01T00:00:00.000Z","data":{"id":"","object":"","created_at":"","updated_at":""}}"#,
    r#"{"action":"opened","number":1,"pull_request":{"url":"https://api.github.com/repos//pulls/","id":1,"node_id":"PR_kwDO","html_url":"https://github.com//pull/","diff_url":"https://github.com//pull/.diff","patch_url":"https://github.com//pull/.patch","issue_url":"https://api.github.com/repos//issues/","number":1,"state":"open","locked":false,"title":"","user":{},"body":null,"created_at":"","updated_at":"","closed_at":null,"merged_at":null,"merge_commit_sha":null,"assignee":null,"assignees":[],"requested_reviewers":[],"requested_teams":[],"labels":[],"milestone":null,"draft":false,"commits_url":"https://api.github.com/repos//pulls//commits","review_comments_url":"https://api.github.com/repos//pulls//comments","review_comment_url":"https://api.github.com/repos//pulls/comments{/number}","comments_url":"https://api.github.com/repos//issues//comments","statuses_url":"https://api.github.com/repos//statuses/","head":{"label":"","ref":"","sha":"","user":{},"repo":{}},"base":{"label":"","ref":"main","sha":"","user":{},"repo":{}},"author_association":"MEMBER","auto_merge":null,"active_lock_reason":null,"merged":false,"mergeable":null,"rebaseable":null,"mergeable_state":"unknown","merged_by":null,"comments":0,"review_comments":0,"maintainer_can_modify":false,"commits":1,"additions":1,"deletions":0,"changed_files":1},"issue":{"url":"https://api.github.com/repos//issues/","repository_url":"https://api.github.com/repos/","labels_url":"https://api.github.com/repos//issues//labels{/name}","comments_url":"https://api.github.com/repos//issues//comments","events_url":"https://api.github.com/repos//issues//events","html_url":"https://github.com//issues/","id":1,"node_id":"I_kwDO","number":1,"title":"","user":{},"labels":[],"state":"open","locked":false,"assignee":null,"assignees":[],"milestone":null,"comments":0,"created_at":"","updated_at":"","closed_at":null,"author_association":"NONE","active_lock_reason":null,"body":null,"reactions":{"url":"","total_count":0,"+1":0,"-1":0,"laugh":0,"hooray":0,"confused":0,"heart":0,"rocket":0,"eyes":0},"timeline_url":"","performed_via_github_app":null,"state_reason":null},"installation":{"id":1,"node_id":"MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u"}}"#,
    r#"{"login":"","id":1,"node_id":"MDQ6VXNlcj","avatar_url":"https://avatars.githubusercontent.com/u/?v=4","gravatar_id":"","url":"https://api.github.com/users/","html_url":"https://github.com/","followers_url":"https://api.github.com/users//followers","following_url":"https://api.github.com/users//following{/other_user}","gists_url":"https://api.github.com/users//gists{/gist_id}","starred_url":"https://api.github.com/users//starred{/owner}{/repo}","subscriptions_url":"https://api.github.com/users//subscriptions","organizations_url":"https://api.github.com/users//orgs","repos_url":"https://api.github.com/users//repos","events_url":"https://api.github.com/users//events{/privacy}","received_events_url":"https://api.github.com/users//received_events","type":"User","user_view_type":"public","site_admin":false}"#,
    r#"{"ref":"refs/heads/main","before":"","after":"","repository":{"id":1,"node_id":"R_kgDO","name":"","full_name":"","private":false,"owner":{"name":"","email":"","login":"","id":1,"node_id":"","avatar_url":"https://avatars.githubusercontent.com/u/?v=4","gravatar_id":"","url":"https://api.github.com/users/","html_url":"https://github.com/","type":"Organization","user_view_type":"public","site_admin":false},"html_url":"https://github.com/","description":"","fork":false,"url":"https://api.github.com/repos/","forks_url":"https://api.github.com/repos//forks","keys_url":"https://api.github.com/repos//keys{/key_id}","collaborators_url":"https://api.github.com/repos//collaborators{/collaborator}","teams_url":"https://api.github.com/repos//teams","hooks_url":"https://api.github.com/repos//hooks","issue_events_url":"https://api.github.com/repos//issues/events{/number}","events_url":"https://api.github.com/repos//events","assignees_url":"https://api.github.com/repos//assignees{/user}","branches_url":"https://api.github.com/repos//branches{/branch}","tags_url":"https://api.github.com/repos//tags","blobs_url":"https://api.github.com/repos//git/blobs{/sha}","git_tags_url":"https://api.github.com/repos//git/tags{/sha}","git_refs_url":"https://api.github.com/repos//git/refs{/sha}","trees_url":"https://api.github.com/repos//git/trees{/sha}","statuses_url":"https://api.github.com/repos//statuses/{sha}","languages_url":"https://api.github.com/repos//languages","stargazers_url":"https://api.github.com/repos//stargazers","contributors_url":"https://api.github.com/repos//contributors","subscribers_url":"https://api.github.com/repos//subscribers","subscription_url":"https://api.github.com/repos//subscription","commits_url":"https://api.github.com/repos//commits{/sha}","git_commits_url":"https://api.github.com/repos//git/commits{/sha}","comments_url":"https://api.github.com/repos//comments{/number}","issue_comment_url":"https://api.github.com/repos//issues/comments{/number}","contents_url":"https://api.github.com/repos//contents/{+path}","compare_url":"https://api.github.com/repos//compare/{base}...{head}","merges_url":"https://api.github.com/repos//merges","archive_url":"https://api.github.com/repos//{archive_format}{/ref}","downloads_url":"https://api.github.com/repos//downloads","issues_url":"https://api.github.com/repos//issues{/number}","pulls_url":"https://api.github.com/repos//pulls{/number}","milestones_url":"https://api.github.com/repos//milestones{/number}","notifications_url":"https://api.github.com/repos//notifications{?since,all,participating}","labels_url":"https://api.github.com/repos//labels{/name}","releases_url":"https://api.github.com/repos//releases{/id}","deployments_url":"https://api.github.com/repos//deployments","created_at":1700000000,"updated_at":"2024-01-01T00:00:00Z","pushed_at":1700000000,"git_url":"git://github.com/.git","ssh_url":"git@github.com:.git","clone_url":"https://github.com/.git","svn_url":"https://github.com/","homepage":null,"size":0,"stargazers_count":0,"watchers_count":0,"language":null,"has_issues":true,"has_projects":true,"has_downloads":true,"has_wiki":true,"has_pages":false,"has_discussions":false,"forks_count":0,"mirror_url":null,"archived":false,"disabled":false,"open_issues_count":0,"license":null,"allow_forking":true,"is_template":false,"web_commit_signoff_required":false,"topics":[],"visibility":"public","forks":0,"open_issues":0,"watchers":0,"default_branch":"main","stargazers":0,"master_branch":"main","organization":""},"pusher":{"name":"","email":""},"organization":{"login":"","id":1,"node_id":"","url":"https://api.github.com/orgs/","repos_url":"https://api.github.com/orgs//repos","events_url":"https://api.github.com/orgs//events","hooks_url":"https://api.github.com/orgs//hooks","issues_url":"https://api.github.com/orgs//issues","members_url":"https://api.github.com/orgs//members{/member}","public_members_url":"https://api.github.com/orgs//public_members{/member}","avatar_url":"https://avatars.githubusercontent.com/u/?v=4","description":""},"sender":{"login":"","id":1,"node_id":"MDQ6VXNlcj","avatar_url":"https://avatars.githubusercontent.com/u/?v=4","gravatar_id":"","url":"https://api.github.com/users/","html_url":"https://github.com/","type":"User","user_view_type":"public","site_admin":false},"created":false,"deleted":false,"forced":false,"base_ref":null,"compare":"https://github.com//compare/...","commits":[{"id":"","tree_id":"","distinct":true,"message":"","timestamp":"","url":"https://github.com//commit/","author":{"name":"","email":"","username":""},"committer":{"name":"GitHub","email":"noreply@github.com","username":"web-flow"},"added":[],"removed":[],"modified":[]}],"head_commit":{"id":"","tree_id":"","distinct":true,"message":"","timestamp":"","url":"https://github.com//commit/","author":{"name":"","email":"","username":""},"committer":{"name":"GitHub","email":"noreply@github.com","username":"web-flow"},"added":[],"removed":[],"modified":[]}}"#,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_small_large_and_incompressible() {
        let json =
            br#"{"ref":"refs/heads/main","repository":{"full_name":"octo/hello"}}"#.repeat(40);
        let enc = encode_body(&json);
        assert!(enc[0] == ZSTD || enc[0] == ZSTD_DICT_V2);
        assert!(enc.len() < json.len() / 3);
        assert_eq!(decode_body(&enc, json.len()).unwrap(), json);

        let tiny = b"{}";
        assert_eq!(decode_body(&encode_body(tiny), 10).unwrap(), &tiny[..]);

        let noise: Vec<u8> = (0..2000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert_eq!(decode_body(&encode_body(&noise), 4096).unwrap(), noise);
        assert!(decode_body(&[9, 1, 2], 10).is_err());

        // Webhook-shaped JSON takes the dictionary and round-trips; truncated input is an error.
        let hook = br#"{"ref":"refs/heads/dev","before":"0f1e2d","repository":{"id":7,"name":"x","full_name":"a/x","private":true,"html_url":"https://github.com/a/x","url":"https://api.github.com/repos/a/x"},"pusher":{"name":"a","email":"a@example.com"}}"#;
        let enc = encode_body(hook);
        assert_eq!(enc[0], ZSTD_DICT_V2);
        assert!(enc.len() < zstd::bulk::compress(hook, LEVEL).unwrap().len());
        assert_eq!(decode_body(&enc, hook.len()).unwrap(), &hook[..]);
        assert!(decode_body(&enc[..enc.len() / 2], hook.len()).is_err());
    }

    #[test]
    fn reused_contexts_round_trip_every_size_in_any_order() {
        // Bodies over DICT_UP_TO are compressed without the dictionary; the thread's contexts
        // are reused between calls of every kind, so interleave them.
        let hook = br#"{"ref":"refs/heads/dev","repository":{"id":7,"full_name":"a/x"},"pusher":{"name":"a"}}"#;
        for n in [1, 40, 200, 3, 1000, 2] {
            let body = hook.repeat(n);
            let enc = encode_body(&body);
            assert_eq!(
                enc[0],
                if body.len() > DICT_UP_TO {
                    ZSTD
                } else {
                    ZSTD_DICT_V2
                }
            );
            assert!(enc.len() < body.len());
            assert_eq!(decode_body(&enc, body.len()).unwrap(), body);
        }
    }

    /// What a body was stored as under [`ZSTD_DICT_V1`], before [`ZSTD_DICT_V2`].
    fn encode_v1(body: &[u8]) -> Vec<u8> {
        let mut z = Compressor::with_dictionary(LEVEL, DICT_V1.as_bytes())
            .unwrap()
            .compress(body)
            .unwrap();
        z.insert(0, ZSTD_DICT_V1);
        z
    }

    #[test]
    fn bodies_stored_with_the_first_dictionary_still_decode() {
        let push = crate::samples::github_push("d-v1");
        let stored = encode_v1(&push);
        assert_eq!(decode_body(&stored, push.len()).unwrap(), push);
        // Interleaved with the current dictionary on the same thread: each has its own context.
        let now = encode_body(&push);
        assert_eq!(now[0], ZSTD_DICT_V2);
        assert_eq!(decode_body(&now, push.len()).unwrap(), push);
        assert_eq!(decode_body(&stored, push.len()).unwrap(), push);
        // The tag decides: a V2 frame names its dictionary and starts from its tables, which the
        // first dictionary does not have.
        let mut mislabelled = now.clone();
        mislabelled[0] = ZSTD_DICT_V1;
        assert!(decode_body(&mislabelled, push.len()).is_err());
    }

    #[test]
    fn the_second_dictionary_is_the_first_one_plus_entropy_tables_and_never_changes() {
        use sha2::Digest;
        assert_eq!(
            DICT_V2[..4],
            0xEC30_A437_u32.to_le_bytes(),
            "zstd dictionary magic"
        );
        assert!(DICT_V2.ends_with(DICT_V1.as_bytes()));
        let digest: String = sha2::Sha256::digest(DICT_V2)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            digest, "f736d7ad6f643d5713cc4264aa66e3ba88ad529554a68e05a5fabc2d0772ef70",
            "stored bodies depend on dict_v2.zdict byte for byte: add a DICT_V3 instead"
        );
    }

    #[test]
    fn the_fitted_tables_make_a_push_smaller_than_the_first_dictionary_did() {
        let push = crate::samples::github_push("d-size");
        let (v1, v2) = (encode_v1(&push), encode_body(&push));
        assert!(v2.len() < v1.len(), "{} against {}", v2.len(), v1.len());
        // And it beats no dictionary on a push of the largest size that takes one.
        let mut big = Vec::new();
        for i in 0.. {
            let next = crate::samples::github_push(&format!("d-{i}"));
            if big.len() + next.len() > DICT_UP_TO {
                break;
            }
            big.extend_from_slice(&next);
        }
        let enc = encode_body(&big);
        assert_eq!(enc[0], ZSTD_DICT_V2);
        assert!(enc.len() < zstd::bulk::compress(&big, LEVEL).unwrap().len());
        assert_eq!(decode_body(&enc, big.len()).unwrap(), big);
    }
}
