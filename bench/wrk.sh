#!/usr/bin/env bash
# HTTP throughput of latch's hot paths next to a bare net/http server, measured
# in one window (see BENCHMARKS.md and bench/README.md).
#
#   bench/wrk.sh [ROUNDS] [DURATION] [DB]      defaults: 12 3s sqlite
#
# DB is sqlite, memory, or pgredis: latch on a fresh PostgreSQL database
# (LATCH_BENCH_POSTGRES, default the local server) with Redis
# (LATCH_BENCH_REDIS, default redis://127.0.0.1:6379/13); the bare server
# then does one Redis GET per request, the ceiling of a one-round-trip path.
#
# Each server runs pinned to CPU 0 (GOMAXPROCS=1), wrk -t1 -c64 to CPU 1. Every
# round measures two pairs, back to back: the bare server and latch
# /v1/whoami with a session cookie, then the bare server and latch with a
# bearer access token (the bare server gets the same request headers and
# ignores them). Within a pair the order alternates from round to round
# (bare first, then latch first), so that neither side always runs in the
# same position of the machine's drifts. It prints req/s and p99 per run,
# then the median and quartiles over rounds of each per-pair ratio. Many
# short pairs: this machine's throughput swings by a quarter from one run
# to the next. Needs wrk (apt-get install wrk) and curl.
set -euo pipefail
rounds=${1:-12}
dur=${2:-3s}
db=${3:-sqlite}
cd "$(dirname "$0")/.."
. bench/lib.sh

go build -o "$tmp/latch" ./cmd/latch
go build -o "$tmp/hello" ./bench/hello

# start NAME CMD...: runs CMD pinned to CPU 0, logging to $tmp/NAME.log.
start() {
	local name=$1; shift
	GOMAXPROCS=1 taskset -c 0 "$@" >"$tmp/$name.log" 2>&1 &
	pids+=($!)
}

extra=()
hello_args=()
case $db in
sqlite) dbflag="sqlite:$tmp/latch.db" ;;
memory) dbflag="memory:" ;;
pgredis)
	pg=${LATCH_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
	redis=${LATCH_BENCH_REDIS:-redis://127.0.0.1:6379/13}
	name="latch_bench_$RANDOM$RANDOM"
	psql "$pg/test" -qc "CREATE DATABASE $name"
	on_exit "psql '$pg/test' -qc 'DROP DATABASE IF EXISTS $name WITH (FORCE)'"
	dbflag="$pg/$name?sslmode=disable"
	extra=(--redis "$redis")
	hello_args=(-redis "$redis")
	;;
*) echo "unknown DB $db" >&2; exit 2 ;;
esac
start hello "$tmp/hello" "${hello_args[@]}"
hello=$(addr hello)
start latch "$tmp/latch" serve --addr 127.0.0.1:0 --db "$dbflag" "${extra[@]}" --login-ip-rate 0 --log-level warn
latch=$(addr latch)

latch_login "$latch"
curl -sf -H "Cookie: $cookie" "http://$latch/v1/whoami" >/dev/null
curl -sf -H "Authorization: Bearer $token" "http://$latch/v1/whoami" >/dev/null

# run NAME URL [HEADER]: one wrk run; prints "req/s p99ms".
run() {
	local out
	if [ -n "${3:-}" ]; then
		out=$(taskset -c 1 wrk -t1 -c64 -d"$dur" --latency -H "$3" "$2")
	else
		out=$(taskset -c 1 wrk -t1 -c64 -d"$dur" --latency "$2")
	fi
	if echo "$out" | grep -q 'Non-2xx'; then
		echo "$1: non-2xx answers:" >&2; echo "$out" >&2; exit 1
	fi
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	p99=$(echo "$out" | awk '$1=="99%" {print $2}')
	echo "$rps $p99"
}

# quartiles: "q1 median q3" of the numbers on stdin (linear interpolation).
quartiles() {
	sort -g | awk '{a[NR]=$1}
	function q(p,  h, l) { h = (NR-1)*p + 1; l = int(h); return (l >= NR) ? a[NR] : a[l] + (h-l)*(a[l+1]-a[l]) }
	END {printf "%.3f %.3f %.3f\n", q(0.25), q(0.5), q(0.75)}'
}

printf '%-6s %-34s %12s %10s\n' round config req/s p99
: >"$tmp/r-session"
: >"$tmp/r-token"
bare="bare net/http${hello_args:+ + GET}"
for i in $(seq "$rounds"); do
	# The bare server gets the same request headers as latch (it ignores
	# them), so that both read the same bytes and only latch's work differs.
	if ((i % 2)); then
		read -r hc hcp < <(run hello "http://$hello/" "Cookie: $cookie")
		read -r s sp < <(run session "http://$latch/v1/whoami" "Cookie: $cookie")
		read -r hb hbp < <(run hello "http://$hello/" "Authorization: Bearer $token")
		read -r t tp < <(run token "http://$latch/v1/whoami" "Authorization: Bearer $token")
	else
		read -r s sp < <(run session "http://$latch/v1/whoami" "Cookie: $cookie")
		read -r hc hcp < <(run hello "http://$hello/" "Cookie: $cookie")
		read -r t tp < <(run token "http://$latch/v1/whoami" "Authorization: Bearer $token")
		read -r hb hbp < <(run hello "http://$hello/" "Authorization: Bearer $token")
	fi
	printf '%-6s %-34s %12s %10s\n' "$i" "$bare (cookie header)" "$hc" "$hcp" "$i" "latch whoami (session cookie)" "$s" "$sp" \
		"$i" "$bare (bearer header)" "$hb" "$hbp" "$i" "latch whoami (bearer token)" "$t" "$tp"
	awk -v a="$s" -v b="$hc" 'BEGIN {print a/b}' >>"$tmp/r-session"
	awk -v a="$t" -v b="$hb" 'BEGIN {print a/b}' >>"$tmp/r-token"
done
echo "ratio to bare net/http over $rounds pairs ($db): q1 median q3"
echo "  whoami session cookie: $(quartiles <"$tmp/r-session")"
echo "  whoami bearer token:   $(quartiles <"$tmp/r-token")"
echo "latch RSS after the runs: $(ps -o rss= -p "${pids[1]}") KiB"
