#!/usr/bin/env bash
# The browser test tier (*.browser.test.ts) drives Debian's Chromium with playwright-core
# (Playwright's own browser download cannot work offline). Installs it when it is missing; where
# that is impossible the tier is skipped and says why, so this script never fails the run.
set -uo pipefail

for candidate in "${CLAW_CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    echo "chromium: $candidate ($("$candidate" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
  fi
done

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium: not found, installing Debian's chromium package (about a minute)"
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
    echo "chromium: installed $(/usr/bin/chromium --version 2>/dev/null)"
    exit 0
  fi
  echo "chromium: apt-get install chromium failed; the browser tests will be skipped" >&2
  exit 0
fi
echo "chromium: not found and not installable here (needs apt-get as root); the browser tests will be skipped" >&2
exit 0
