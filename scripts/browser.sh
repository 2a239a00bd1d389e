#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/browser.py: the report pages and the
# MLflow UI opened headless). Without it those tests skip, except in CI, where they fail.
#   bash scripts/browser.sh             # best effort: a failure is a note, not an error
#   bash scripts/browser.sh --required  # CI: a failure is an error
set -uo pipefail
command -v chromium >/dev/null && exit 0
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
if command -v apt-get >/dev/null && $sudo apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; then
    exit 0
fi
if [ "${1:-}" = "--required" ]; then echo "error: could not install chromium" >&2; exit 1; fi
echo "note: no chromium (apt-get install chromium); the browser tests will be skipped" >&2
