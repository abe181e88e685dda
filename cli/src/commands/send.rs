use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use hookgate_shared::clock;
use hookgate_shared::model::SourceName;
use hookgate_shared::secrets::{SecretRef, SecretResolver};
use hookgate_shared::verify::verifier_for;

use crate::args::{Cli, SendArgs};
use crate::backend;

pub async fn run(cli: &Cli, a: &SendArgs) -> anyhow::Result<ExitCode> {
    let loaded = backend::load_config(cli.config.as_deref())?;
    let name = SourceName::parse(&a.source).with_context(|| format!("source `{}`", a.source))?;
    let Some(source) = loaded.config.source(&name) else {
        bail!("no source named `{name}` in {}", loaded.origin);
    };
    let verifier = verifier_for(&source.provider, &source.options)
        .with_context(|| format!("unknown provider `{}`", source.provider))?;
    // Asymmetric kinds verify with a public key: signing needs the private one.
    let signing_key = source.options.get("signing_key").and_then(|v| v.as_str());
    let secret = match (&a.secret, signing_key) {
        (Some(s), _) => s.clone(),
        (None, Some(r)) => SecretResolver::local()
            .resolve(&SecretRef::parse(r))
            .await?
            .expose()
            .to_owned(),
        (None, None) if verifier.needs_signing_key() => bail!(
            "provider `{}` verifies with a public key; to sign, set the source's \
             options.signing_key (a private key or a reference to one) or pass --secret",
            source.provider
        ),
        (None, None) => {
            let first = source.secrets.first().context("the source has no secret")?;
            SecretResolver::local()
                .resolve(&first.reference)
                .await?
                .expose()
                .to_owned()
        }
    };
    let delivery_id = a
        .delivery_id
        .clone()
        .unwrap_or_else(hookgate_shared::model::random_uuid);
    let (sample_type, sample_body) =
        hookgate_shared::samples::sample(&source.provider, &delivery_id);
    let body = match &a.file {
        None => sample_body,
        Some(p) if p.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            buf
        }
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
    };
    let event_type = a.event_type.clone().unwrap_or(sample_type);
    let url = a
        .url
        .clone()
        .unwrap_or_else(|| format!("http://127.0.0.1:3000/webhooks/{name}"));
    // The URL the provider signs: the source's public URL (plus our query), when it has one.
    let signed_url = match &source.public_url {
        Some(base) => match url.split_once('?') {
            Some((_, q)) => format!("{base}?{q}"),
            None => base.clone(),
        },
        None => url.clone(),
    };
    let now = clock::now_ms();
    let body = verifier.prepare_body(&secret, &body, now, &delivery_id);
    let headers = verifier.sign(&secret, &body, &signed_url, now, &delivery_id, &event_type);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let mut req = client.post(&url).body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let res = req
        .send()
        .await
        .with_context(|| format!("cannot reach {url} (is `hookgate serve` running?)"))?;
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    println!("{} {}", status.as_u16(), text.trim());
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(4)
    })
}
