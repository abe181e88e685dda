#!/usr/bin/env bash
# Offline checks of the AWS stack (infra/): cfn-lint, SAM validate --lint, and the pytest suite
# in tests/infra. Fast (well under a minute); no network, no Docker, no AWS credentials.
# The slow builds (scripts/lambda-build.sh, `sam build`) are deliberately not part of it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
if [ ! -x "$venv/bin/cfn-lint" ] || [ ! -x "$venv/bin/sam" ] || [ ! -x "$venv/bin/pytest" ]; then
  bash "$root/scripts/venv.sh"
fi
export PATH="$venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0
# SAM validate wants a region; nothing is called in it.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_REGION="${AWS_REGION:-$AWS_DEFAULT_REGION}"

step() { printf '== %s\n' "$*"; }

start=$SECONDS
step "cfn-lint infra/template.yaml"
cfn-lint infra/template.yaml

step "sam validate --lint"
sam validate --lint -t infra/template.yaml --region us-east-1

step "pytest tests/infra"
python -m pytest -q -p no:cacheprovider tests/infra

step "infra checks passed in $((SECONDS - start))s"
