#!/usr/bin/env bash
# Runs every check and test on a fresh machine, installing what it needs (Python tools into the
# project-local .venv; Debian packages where a test needs them). CI runs exactly this.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export SAM_CLI_TELEMETRY=0
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "toolchain components"
rustup component add clippy rustfmt >/dev/null 2>&1 || true

step "python tools (.venv: moto server, cfn-lint, SAM CLI, cargo-lambda, zig)"
scripts/venv.sh

step "browser for the admin page test (Debian chromium; playwright-core from npm)"
scripts/chromium.sh
(cd tests/browser && npm install --no-audit --no-fund --silent)

step "format"
cargo fmt --all -- --check

step "clippy (-D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "build the hookgate binary used by the end-to-end tests"
cargo build --workspace --all-features --bins

step "tests"
cargo test --workspace --all-features --no-fail-fast

if [ -x scripts/infra-check.sh ]; then
  step "infra checks (cfn-lint, sam validate --lint, template tests)"
  scripts/infra-check.sh
fi
for shot in target/admin-page/*.png; do
  if [ -f "$shot" ]; then echo "admin page screenshot: $shot"; fi
done
step "all checks passed"
