#!/usr/bin/env bash
# Makes sure Debian's Chromium and ChromeDriver are installed (/usr/bin/chromium,
# /usr/bin/chromedriver) for the admin page's browser test. Idempotent; quick when present.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
# Another apt run (another checkout's test command) may hold the lock: wait for it.
"${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
"${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
/usr/bin/chromium --version
