#!/bin/bash
# Install and start everything vmha's tests need on a Debian machine, idempotently:
#   - Debian packages of bindep.txt's "test" profile (only the missing ones),
#     without letting apt auto-start daemons on their default ports;
#   - PostgreSQL, MariaDB, Redis and RabbitMQ on 127.0.0.1, started if not running;
#   - a `vmha` user and `vmha_test` database on PostgreSQL and MariaDB.
# Safe to run again and again; prints what it did.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[install-deps] $*"; }

missing_packages() {
  # bindep.txt lines: "package [platform:dpkg test]"; take those in profile "test"
  local pkg
  for pkg in $(awk '!/^#/ && NF && ($0 !~ /\[/ || $0 ~ /test/) {print $1}' bindep.txt); do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

install_packages() {
  local missing
  missing=$(missing_packages | tr '\n' ' ')
  if [ -z "${missing// /}" ]; then log "Debian packages: all present"; return; fi
  log "installing: $missing"
  # keep apt from starting daemons (snmptrapd, sshd, ...) on their default ports
  local guard=/usr/sbin/policy-rc.d created=""
  if [ ! -e $guard ]; then printf '#!/bin/sh\nexit 101\n' > $guard; chmod +x $guard; created=1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing >/dev/null
  [ -z "$created" ] || rm -f $guard
  log "installed: $missing"
}

start_postgresql() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then log "PostgreSQL: running"; return; fi
  local version; version=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
  log "PostgreSQL $version: started"
}

start_mariadb() {
  if mariadb-admin --no-defaults -uroot ping >/dev/null 2>&1 \
     || mariadb-admin ping >/dev/null 2>&1; then log "MariaDB: running"; return; fi
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  for _ in $(seq 1 60); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.5; done
  log "MariaDB: started"
}

start_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then log "Redis: running"; return; fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  log "Redis: started"
}

start_rabbitmq() {
  if timeout 20 rabbitmqctl -q status >/dev/null 2>&1; then log "RabbitMQ: running"; return; fi
  rabbitmq-server -detached
  for _ in $(seq 1 90); do timeout 15 rabbitmqctl -q await_startup >/dev/null 2>&1 && break; sleep 1; done
  log "RabbitMQ: started"
}

create_test_databases() {
  runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vmha') THEN
    CREATE ROLE vmha LOGIN PASSWORD 'vmha' CREATEDB;
  END IF;
END $$;
SQL
  runuser -u postgres -- psql -tAq -c "SELECT 1 FROM pg_database WHERE datname='vmha_test'" | grep -q 1 \
    || runuser -u postgres -- createdb -O vmha vmha_test
  mariadb -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS vmha_test;
CREATE USER IF NOT EXISTS 'vmha'@'127.0.0.1' IDENTIFIED BY 'vmha';
CREATE USER IF NOT EXISTS 'vmha'@'localhost' IDENTIFIED BY 'vmha';
GRANT ALL PRIVILEGES ON `vmha\_%`.* TO 'vmha'@'127.0.0.1';
GRANT ALL PRIVILEGES ON `vmha\_%`.* TO 'vmha'@'localhost';
SQL
  log "test databases: vmha_test on PostgreSQL and MariaDB (user vmha)"
}

install_packages
start_postgresql
start_mariadb
start_redis
start_rabbitmq
create_test_databases
