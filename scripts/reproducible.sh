#!/usr/bin/env bash
# Checks that `make build` is reproducible: two builds of cmd/latch, from
# two copies of the source at different paths, each with an empty build
# cache, must give byte-identical binaries (-trimpath drops the paths; the
# version comes from git describe, the same for both). Prints the digest.
set -euo pipefail

root=$(git rev-parse --show-toplevel)
version=${VERSION:-$(git -C "$root" describe --tags --always --dirty)}
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

for i in 1 2; do
	mkdir -p "$work/src$i/tree-$i" "$work/cache$i"
	# The working tree as it is (tracked and untracked files, not ignored).
	git -C "$root" ls-files -z --cached --others --exclude-standard |
		(cd "$root" && xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$work/src$i/tree-$i"
	(cd "$work/src$i/tree-$i" && GOCACHE="$work/cache$i" GOFLAGS=-mod=readonly \
		go build -trimpath -ldflags "-X main.version=$version" -o "$work/latch-$i" ./cmd/latch)
done
a=$(sha256sum "$work/latch-1" | cut -d' ' -f1)
b=$(sha256sum "$work/latch-2" | cut -d' ' -f1)
echo "build 1: $a"
echo "build 2: $b"
if [ "$a" != "$b" ]; then
	echo "reproducible: the two builds differ" >&2
	exit 1
fi
echo "reproducible: identical (version $version, $(go version | cut -d' ' -f3))"
