#!/usr/bin/env bash
# The Express reference peer (Express 5 + express-session + jsonwebtoken)
# next to the bare net/http server in one window, as bench/wrk.sh measures
# latch: the Express rows of the articles' comparison in BENCHMARKS.md.
#
#   EXPRESS_PEER=DIR bench/express.sh [ROUNDS] [DURATION]      defaults: 6 3s
#
# The peer is not part of this repository: EXPRESS_PEER names its
# directory (the one holding server.js and package-lock.json; in CI's
# checkout layout, the shared peers/express). It is copied to a temporary
# directory and installed there with
# `npm ci` (Node 20 or later, the npm registry); its Redis sessions go to
# LATCH_BENCH_REDIS (default redis://127.0.0.1:6379/14) and are deleted
# afterwards. Every server runs pinned to CPU 0 (the bare one with
# GOMAXPROCS=1, node is single-threaded), wrk -t1 -c64 to CPU 1. Each round
# runs three pairs, the order within a pair alternating between rounds:
# the bare server and Express's GET /dashboard with a MemoryStore session
# cookie, with a Redis session cookie, and with an HS256 bearer token (the
# bare server gets the same headers). Prints req/s per run and the median
# per-pair ratio. Needs wrk, curl, node, npm, redis-cli.
set -euo pipefail
rounds=${1:-6}
dur=${2:-3s}
peer=${EXPRESS_PEER:-}
if [ -z "$peer" ] || [ ! -f "$peer/server.js" ] || [ ! -f "$peer/package-lock.json" ]; then
	echo "bench/express.sh: set EXPRESS_PEER to the Express reference peer's directory" \
		"(with server.js and package-lock.json); got '${peer}'" >&2
	exit 2
fi
peer=$(cd "$peer" && pwd) # relative to the caller's directory
cd "$(dirname "$0")/.."
redis=${LATCH_BENCH_REDIS:-redis://127.0.0.1:6379/14}
. bench/lib.sh
on_exit "redis-cli -u '$redis' --scan --pattern 'sess:*' | xargs -r redis-cli -u '$redis' del >/dev/null 2>&1"

cp -r "$peer" "$tmp/express"
rm -rf "$tmp/express/node_modules"
(cd "$tmp/express" && npm ci --silent --no-audit --no-fund >/dev/null)
go build -o "$tmp/hello" ./bench/hello

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start NAME CMD...: runs CMD pinned to CPU 0, logging to $tmp/NAME.log.
start() {
	local name=$1; shift
	taskset -c 0 "$@" >"$tmp/$name.log" 2>&1 &
	pids+=($!)
}

# wait_http URL: waits until URL answers at all.
wait_http() {
	for _ in $(seq 100); do
		curl -s -o /dev/null "$1" && return
		sleep 0.1
	done
	echo "$1 did not come up" >&2
	exit 1
}

GOMAXPROCS=1 start hello "$tmp/hello"
hello=$(addr hello)
pm=$(freeport)
PORT=$pm STORE=memory start memory node "$tmp/express/server.js"
pr=$(freeport)
PORT=$pr STORE=redis REDIS_URL=$redis start redis node "$tmp/express/server.js"
wait_http "http://127.0.0.1:$pm/dashboard"
wait_http "http://127.0.0.1:$pr/dashboard"

email="bench-$RANDOM$RANDOM@example.com"
pw="bench-$RANDOM-$RANDOM-pass"
# login PORT [MODE]: signs up (once per server) and logs in; prints the
# session cookie or, with MODE token, the access token.
login() {
	curl -sf -XPOST "http://127.0.0.1:$1/signup" -H 'content-type: application/json' \
		-d "{\"email\":\"$email\",\"password\":\"$pw\"}" >/dev/null || true
	if [ "${2:-}" = token ]; then
		curl -sf -XPOST "http://127.0.0.1:$1/login" -H 'content-type: application/json' \
			-d "{\"email\":\"$email\",\"password\":\"$pw\",\"mode\":\"token\"}" |
			sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p'
	else
		curl -sf -D - -o /dev/null -XPOST "http://127.0.0.1:$1/login" -H 'content-type: application/json' \
			-d "{\"email\":\"$email\",\"password\":\"$pw\"}" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(sid=[^;]*\).*/\1/p'
	fi
}
cm=$(login "$pm")
cr=$(login "$pr")
tok=$(login "$pm" token)
[ -n "$cm" ] && [ -n "$cr" ] && [ -n "$tok" ] || { echo "login failed" >&2; exit 1; }
for h in "Cookie: $cm|$pm" "Cookie: $cr|$pr" "Authorization: Bearer $tok|$pm"; do
	curl -sf -H "${h%|*}" "http://127.0.0.1:${h#*|}/dashboard" >/dev/null || { echo "dashboard refused ${h%%:*}" >&2; exit 1; }
done

# run URL HEADER: one wrk run; prints req/s.
run() {
	local out
	out=$(taskset -c 1 wrk -t1 -c64 -d"$dur" -H "$2" "$1")
	if echo "$out" | grep -q 'Non-2xx'; then
		echo "$1: non-2xx answers:" >&2; echo "$out" >&2; exit 1
	fi
	echo "$out" | awk '/Requests\/sec/ {print $2}'
}

# pair I NAME URL HEADER: bare and NAME back to back (order by round);
# prints both and appends the ratio to $tmp/r-NAME.
pair() {
	local i=$1 name=$2 url=$3 hdr=$4 b e
	if ((i % 2)); then
		b=$(run "http://$hello/" "$hdr"); e=$(run "$url" "$hdr")
	else
		e=$(run "$url" "$hdr"); b=$(run "http://$hello/" "$hdr")
	fi
	printf '%-6s %-40s %10s %10s\n' "$i" "$name" "$b" "$e"
	awk -v a="$e" -v b="$b" 'BEGIN {print a/b}' >>"$tmp/r-$name"
}

median() { sort -g | awk '{a[NR]=$1} END {printf "%.3f\n", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf '%-6s %-40s %10s %10s\n' round "Express config" "bare req/s" "Express"
for i in $(seq "$rounds"); do
	pair "$i" session-memory "http://127.0.0.1:$pm/dashboard" "Cookie: $cm"
	pair "$i" session-redis "http://127.0.0.1:$pr/dashboard" "Cookie: $cr"
	pair "$i" jwt-hs256 "http://127.0.0.1:$pm/dashboard" "Authorization: Bearer $tok"
done
echo "median ratio to bare net/http over $rounds pairs:"
for n in session-memory session-redis jwt-hs256; do
	printf '  %-16s %s\n' "$n" "$(median <"$tmp/r-$n")"
done
echo "Express RSS after the runs (MemoryStore / Redis): $(ps -o rss= -p "${pids[1]}") / $(ps -o rss= -p "${pids[2]}") KiB"
