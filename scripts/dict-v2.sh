#!/usr/bin/env bash
# Rebuilds shared/src/dict_v2.zdict, the dictionary small bodies are compressed with
# (shared/src/codec.rs): DICT_V1's webhook vocabulary, byte for byte, plus zstd entropy tables
# fitted to real GitHub payloads (those up to 32 KB). Stored bodies depend on the committed file
# byte for byte, so the rebuild goes to the work dir and is compared with it (exit 1 when they
# differ); it is never written over it. Start a DICT_V3 from the rebuilt file.
#
#   scripts/dict-v2.sh OCTOKIT_WEBHOOKS_GIT_DIR    # a clone's .git, or a bare clone
#
# The samples: the payload examples of github.com/octokit/webhooks at commit 3a58428 (MIT), each
# re-encoded compact; the half whose path's SHA-256 is even is fitted on, the other half is held
# out (written beside it, for measuring; see README, Ingest CPU). Needs the network only to get
# that repository.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="${1:?usage: scripts/dict-v2.sh OCTOKIT_WEBHOOKS_GIT_DIR}"
commit=3a58428aa5c399cf5aa12c8663aea1fb1f515254
work="${WORK:-$(mktemp -d)}"
mkdir -p "$work/fit" "$work/held-out"
python3 - "$src" "$commit" "$work" "$root/shared/src/codec.rs" <<'PY'
import hashlib, json, re, subprocess, sys
src, commit, work, codec = sys.argv[1:]
git = ["git", "--git-dir", src]
paths = subprocess.run(git + ["ls-tree", "-r", "--name-only", commit], check=True,
                       capture_output=True, text=True).stdout.split()
fit = held = 0
for i, p in enumerate(paths):
    if "payload-examples" not in p or not p.endswith(".json"):
        continue
    shown = subprocess.run(git + ["show", f"{commit}:{p}"], capture_output=True)
    if shown.returncode != 0:  # a file the mirror lists but does not hold
        continue
    raw = shown.stdout
    try:
        body = json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:
        continue
    if len(body) > 32 * 1024:
        continue
    half = "fit" if int(hashlib.sha256(p.encode()).hexdigest(), 16) % 2 == 0 else "held-out"
    open(f"{work}/{half}/{i:04d}.json", "wb").write(body)
    fit, held = fit + (half == "fit"), held + (half == "held-out")
# DICT_V1: the raw strings of its concat!, in order.
text = open(codec).read()
block = text[text.index("const DICT_V1: &str = concat!("):]
block = block[: block.index("\n);")]
open(f"{work}/dict_v1", "wb").write("".join(re.findall(r'r#"(.*?)"#', block, re.S)).encode())
print(f"{fit} bodies to fit on, {held} held out, in {work}")
PY
cargo run --release --quiet --manifest-path "$root/scripts/zdict/Cargo.toml" -- \
  "$work/dict_v1" "$work/fit" "$work/dict_v2.zdict"
if cmp -s "$work/dict_v2.zdict" "$root/shared/src/dict_v2.zdict"; then
  echo "same bytes as shared/src/dict_v2.zdict"
else
  echo "differs from shared/src/dict_v2.zdict (which stays as it is)" >&2
  exit 1
fi
