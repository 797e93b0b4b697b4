#!/usr/bin/env bash
# Make sure the services the test suite talks to are up: PostgreSQL and Redis on 127.0.0.1, and
# Debian's docker-compose (only its `config` validator is used; no Docker engine is needed).
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 30); do port_open "$1" && return 0; sleep 1; done
  echo "services: $2 did not come up on 127.0.0.1:$1" >&2
  return 1
}

if ! port_open 5432; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_port 5432 PostgreSQL
fi

if ! port_open 6379; then
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 Redis
fi

if ! command -v docker-compose >/dev/null 2>&1; then
  echo "services: installing Debian's docker-compose (for \`docker-compose config\` validation)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null
fi

# The browser tests drive Debian's Chromium (Playwright's own browser download cannot work here).
if [ ! -x /usr/bin/chromium ] || ! command -v chromedriver >/dev/null 2>&1; then
  echo "services: installing Debian's chromium and chromium-driver (for the browser tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi
