#!/usr/bin/env bash
# latch's memory under whoami load: RSS after start, after a signup and two
# logins, after 10 s of wrk on whoami by bearer token and then by session
# cookie, with the collector's heap goal beside it, and the peak.
#
#   bench/rss.sh [ROUNDS]            default 2
#   GOGC=100 bench/rss.sh            the same without the heap floor
#                                    (docs/decisions.md: GOGC set turns it off)
#
# latch on SQLite pinned to CPU 0, wrk on CPU 1. Needs wrk, curl, taskset.
set -euo pipefail
rounds=${1:-2}
cd "$(dirname "$0")/.."
. bench/lib.sh

go build -o "$tmp/latch" ./cmd/latch
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
goal() { curl -sf "http://$1/metrics" | awk '/^go_memstats_next_gc_bytes / {printf "%.1f", $2 / 1048576}'; }
echo "GOGC=${GOGC:-unset}: latch RSS in KiB (heap goal in MiB)"
for r in $(seq "$rounds"); do
	rm -f "$tmp"/latch.db*
	taskset -c 0 "$tmp/latch" serve --addr 127.0.0.1:0 --db "sqlite:$tmp/latch.db" --login-ip-rate 0 --log-level warn >"$tmp/latch.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	a=$(addr latch 30)
	sleep 1
	start=$(kib "$pid" VmRSS)
	latch_login "$a"
	sleep 1
	logins=$(kib "$pid" VmRSS)
	taskset -c 1 wrk -t1 -c64 -d10s -H "Authorization: Bearer $token" "http://$a/v1/whoami" >/dev/null
	tok="$(kib "$pid" VmRSS) ($(goal "$a"))"
	taskset -c 1 wrk -t1 -c64 -d10s -H "Cookie: $cookie" "http://$a/v1/whoami" >/dev/null
	ck="$(kib "$pid" VmRSS) ($(goal "$a"))"
	echo "round $r: after start $start, after the logins $logins, after token whoami $tok, after cookie whoami $ck, peak $(kib "$pid" VmHWM)"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	rm -f "$tmp/latch.log"
done
