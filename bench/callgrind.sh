#!/usr/bin/env bash
# User-space instructions per request of latch's whoami next to the bare
# net/http server, counted by callgrind: unlike req/s on this shared machine
# (±25 % from run to run), the counts repeat to within about 2 %, so they
# show what a change to the hot path did.
#
#   bench/callgrind.sh [SECONDS]        default 10
#
# Both servers run under valgrind --tool=callgrind (GOMAXPROCS=1, async
# preemption off: callgrind cannot follow Go's preemption signals; RDTSCP
# off: valgrind 3.19 stops at that instruction, which Go's runtime uses
# for its tick counter where the CPU has it), on SQLite for latch. For each of three configurations (bare server with a
# bearer header, latch with that bearer token, latch with a session
# cookie) wrk loads the server for 2 s, the counters are zeroed, wrk loads
# it for SECONDS more, and the counters are dumped: instructions / requests.
# Kernel work (the TCP stack, a third or more of a request's time here) is
# not counted; it is the same for both servers, so the req/s ratio lies
# above the ratio of these counts. Needs valgrind and wrk (apt-get install
# valgrind wrk).
# Per-function counts: callgrind_annotate on the files kept in $KEEP, if set.
set -euo pipefail
dur=${1:-10}
cd "$(dirname "$0")/.."
. bench/lib.sh

go build -o "$tmp/latch" ./cmd/latch
go build -o "$tmp/hello" ./bench/hello

# start NAME CMD...: runs CMD under callgrind, pinned to CPU 0.
start() {
	local name=$1; shift
	GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off GOMAXPROCS=1 taskset -c 0 valgrind --tool=callgrind \
		--callgrind-out-file="$tmp/$name.%p" "$@" >"$tmp/$name.log" 2>&1 &
	pids+=($!)
}

start hello "$tmp/hello"
start latch "$tmp/latch" serve --addr 127.0.0.1:0 --db "sqlite:$tmp/latch.db" --login-ip-rate 0 --log-level warn
hello=$(addr hello 30)
latch=$(addr latch 30)

latch_login "$latch"

# count NAME SERVER URL HEADER: prints instructions per request.
count() {
	local name=$1 server=$2 url=$3 hdr=$4 vpid reqs out file
	vpid=$(pgrep -f "valgrind.*callgrind-out-file=$tmp/$server")
	taskset -c 1 wrk -t1 -c64 -d2s -H "$hdr" "$url" >/dev/null
	callgrind_control -z "$vpid" >/dev/null 2>&1
	out=$(taskset -c 1 wrk -t1 -c64 -d"${dur}s" -H "$hdr" "$url")
	if echo "$out" | grep -q 'Non-2xx'; then
		echo "$name: non-2xx answers:" >&2; echo "$out" >&2; exit 1
	fi
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	callgrind_control -d "$name" "$vpid" >/dev/null 2>&1
	for _ in $(seq 100); do
		file=$(grep -l "^desc: Trigger: dump $name\$" "$tmp/$server".* 2>/dev/null | head -1 || true)
		[ -n "$file" ] && grep -q '^totals:' "$file" && break
		sleep 0.1
	done
	[ -n "${KEEP:-}" ] && cp "$file" "$KEEP/callgrind.$name"
	awk -v r="$reqs" '/^totals:/ {printf "%.0f %d\n", $2/r, r}' "$file"
	rm -f "$file"
}

read -r hb nb < <(count bare-bearer hello "http://$hello/" "Authorization: Bearer $token")
read -r t nt < <(count latch-token latch "http://$latch/v1/whoami" "Authorization: Bearer $token")
read -r hc nc < <(count bare-cookie hello "http://$hello/" "Cookie: $cookie")
read -r s ns < <(count latch-session latch "http://$latch/v1/whoami" "Cookie: $cookie")
printf '%-34s %14s %10s %8s\n' config instr/request requests ratio
printf '%-34s %14s %10s %8s\n' "bare net/http (bearer header)" "$hb" "$nb" ""
printf '%-34s %14s %10s %8.3f\n' "latch whoami (bearer token)" "$t" "$nt" "$(awk -v a="$hb" -v b="$t" 'BEGIN {print a/b}')"
printf '%-34s %14s %10s %8s\n' "bare net/http (cookie header)" "$hc" "$nc" ""
printf '%-34s %14s %10s %8.3f\n' "latch whoami (session cookie)" "$s" "$ns" "$(awk -v a="$hc" -v b="$s" 'BEGIN {print a/b}')"
echo "(ratio: bare / latch instructions; the req/s ratio is higher, the kernel's share being equal)"
