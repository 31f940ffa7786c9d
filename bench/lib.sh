# Shared by the bench scripts (sourced, from the repository root): a
# temporary directory $tmp, background servers in $pids stopped on exit,
# and for latch the wait for its address and a test account's credentials.

tmp=$(mktemp -d)
pids=()
exit_cmds=()

# on_exit CMD: runs CMD (a string, evaluated) on exit, after the servers stop.
on_exit() { exit_cmds+=("$1"); }

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for c in "${exit_cmds[@]}"; do eval "$c" || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# addr NAME [SECONDS]: waits (10 s by default) for the "listening addr=" line
# in $tmp/NAME.log and prints the address.
addr() {
	local a
	for _ in $(seq $((${2:-10} * 10))); do
		a=$(grep -o 'addr=[0-9.:]*' "$tmp/$1.log" | head -1 | cut -d= -f2 || true)
		[ -n "$a" ] && { echo "$a"; return; }
		sleep 0.1
	done
	echo "$1 did not start: $(cat "$tmp/$1.log")" >&2
	exit 1
}

# latch_login ADDR: signs a new account up on the latch at ADDR and logs it
# in twice; sets $cookie (the session cookie, "name=value") and $token (an
# access token).
latch_login() {
	local email="bench-$RANDOM$RANDOM@example.com" pw="bench-$RANDOM-$RANDOM-pass"
	curl -sf -XPOST "http://$1/v1/signup" -H 'content-type: application/json' \
		-d "{\"email\":\"$email\",\"password\":\"$pw\"}" >/dev/null
	cookie=$(curl -sf -D - -o /dev/null -XPOST "http://$1/v1/login" -H 'content-type: application/json' \
		-d "{\"email\":\"$email\",\"password\":\"$pw\"}" | tr -d '\r' |
		sed -n 's/^[Ss]et-[Cc]ookie: \(__Host-latch_session=[^;]*\).*/\1/p')
	token=$(curl -sf -XPOST "http://$1/v1/login" -H 'content-type: application/json' \
		-d "{\"email\":\"$email\",\"password\":\"$pw\",\"mode\":\"token\",\"refresh_delivery\":\"body\"}" |
		sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
	[ -n "$cookie" ] && [ -n "$token" ] || { echo "login failed" >&2; exit 1; }
}
