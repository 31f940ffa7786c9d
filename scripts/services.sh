#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis that the tests use answer on 127.0.0.1
# (5432 and 6379), starting this machine's own servers when they are down.
# It never starts a second copy of one that answers. Used by `make test`.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

if ! pg_up; then
	echo "services: PostgreSQL is not answering on 127.0.0.1:5432; starting it" >&2
	if command -v pg_ctlcluster >/dev/null; then
		pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
	fi
	for _ in $(seq 30); do pg_up && break; sleep 1; done
	pg_up || { echo "services: PostgreSQL did not start" >&2; exit 1; }
fi

if ! redis_up; then
	echo "services: Redis is not answering on 127.0.0.1:6379; starting it" >&2
	mkdir -p /var/lib/redis /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log || true
	for _ in $(seq 30); do redis_up && break; sleep 1; done
	redis_up || { echo "services: Redis did not start" >&2; exit 1; }
fi
echo "services: PostgreSQL and Redis answer on 127.0.0.1" >&2
