#!/usr/bin/env bash
# Makes sure the tools of the browser/ tests are installed: Debian's
# chromium package (chromedp drives it; nothing is downloaded at test time)
# and npm (the tests install the axe-core package with it), and jq (the
# guides' commands in docs/guides_test.go read JSON with it). Used by
# `make test`. Outside CI, where installing packages is the machine owner's
# call, it only warns; with CI=true it installs what is missing, and a failed
# install fails the build (browser/ then fails too, never skips).
set -euo pipefail

missing=()
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "${LATCH_CHROMIUM:-}" ] || missing+=(chromium)
command -v npm >/dev/null || missing+=(npm)
command -v jq >/dev/null || missing+=(jq) # the guides' commands (docs/guides_test.go) read JSON with it
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "${CI:-}" != "true" ]; then
	echo "browser tests: ${missing[*]} not installed; those tests will be skipped (apt-get install -y ${missing[*]})" >&2
	exit 0
fi
echo "browser tests: installing ${missing[*]} (Debian packages)" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "${LATCH_CHROMIUM:-}" ] ||
	{ echo "browser tests: the install did not provide chromium" >&2; exit 1; }
command -v npm >/dev/null || { echo "browser tests: the install did not provide npm" >&2; exit 1; }
command -v jq >/dev/null || { echo "docs tests: the install did not provide jq" >&2; exit 1; }
