#!/usr/bin/env bash
# Make sure a PostgreSQL server is available for Ygor's integration tests and
# print its URL (and nothing else) on stdout:
#
#     url=$(scripts/ensure-postgres.sh)
#
# The URL is for a role that may CREATE DATABASE. Progress messages go to
# stderr. In order, the script:
#   1. uses $YGOR_TEST_POSTGRES_URL if it is set and the server answers;
#   2. uses postgres://postgres@127.0.0.1:5432/postgres if that answers;
#   3. starts the machine's configured Debian cluster(s) (pg_ctlcluster) and
#      checks again;
#   4. starts a throwaway cluster (installing PostgreSQL with apt-get if no
#      initdb/pg_ctl can be found) in ${TMPDIR:-/tmp}/ygor-pg-XXXXXX,
#      listening on 127.0.0.1 on a free port from 54329 upward, with fsync on.
# If none of these works it fails with exit status 1.
#
# A throwaway cluster keeps running after this script exits. Its data
# directory is printed on stderr; stop and delete it with
#
#     scripts/ensure-postgres.sh --stop DIR
#
# Running the script again with YGOR_TEST_POSTGRES_URL set to the printed URL
# reuses the server (step 1) instead of starting another one.
#
# For fault tests, a throwaway cluster can be crashed and started again:
#
#     scripts/ensure-postgres.sh --crash DIR     # pg_ctl stop -m immediate
#     scripts/ensure-postgres.sh --restart DIR   # pg_ctl start, waiting until it answers
#
# These refuse any directory the script did not create: never the machine's
# shared cluster.
#
# Environment:
#   YGOR_TEST_POSTGRES_URL    server URL to try first (see step 1).
#   YGOR_PG_FORCE_THROWAWAY=1 skip steps 1-3 and always start a throwaway
#                             cluster. Meant for testing this script.
#   YGOR_PG_STATE_FILE=FILE   if a throwaway cluster is started, write its
#                             data directory to FILE (scripts/test.sh uses
#                             this to stop the cluster when it is done).
set -euo pipefail

# Everything this script and its children print goes to stderr; only the
# final URL goes to the original stdout (fd 3).
exec 3>&1 1>&2

readonly DEFAULT_URL="postgres://postgres@127.0.0.1:5432/postgres"
readonly FIRST_PORT=54329
readonly LAST_PORT=54428
SELF="scripts/ensure-postgres.sh"

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }
die() {
	printf 'ensure-postgres: ERROR: %s\n' "$*" >&2
	exit 1
}
emit_url() { printf '%s\n' "$1" >&3; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Hide a password in a URL before printing it.
redact() { printf '%s' "$1" | sed -E 's#^([a-zA-Z]+://[^:/@]*):[^@/]*@#\1:***@#'; }

# Does the server at URL accept a connection (and, with psql, a query)?
url_answers() {
	local url=$1
	if command -v psql >/dev/null 2>&1; then
		PGCONNECT_TIMEOUT=5 psql "$url" -X -A -t -q -c 'select 1' </dev/null >/dev/null 2>&1
	elif command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -t 5 -d "$url" </dev/null >/dev/null 2>&1
	else
		# Neither client is installed: fall back to a bare TCP probe, which is
		# the best we can do for host:port URLs.
		local hostport host port
		hostport=${url#*://}
		hostport=${hostport#*@}
		hostport=${hostport%%/*}
		host=${hostport%%:*}
		port=5432
		[ "$hostport" != "$host" ] && port=${hostport#*:}
		port_in_use "${host:-127.0.0.1}" "$port"
	fi
}

# Is something accepting TCP connections on HOST:PORT?
# shellcheck disable=SC2016 # $1/$2 are expanded by the inner bash.
port_in_use() {
	local host=$1 port=$2
	if command -v timeout >/dev/null 2>&1; then
		timeout 3 bash -c 'exec 9<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
	else
		bash -c 'exec 9<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
	fi
}

# ---------------------------------------------------------------------------
# Throwaway clusters: running the server as a non-root user.

PG_OS_USER=""

# initdb and postgres refuse to run as root. When we are root, run them as the
# `postgres` system user, creating it if needed.
pick_os_user() {
	if ! is_root; then
		PG_OS_USER=$(id -un)
		return
	fi
	if ! id -u postgres >/dev/null 2>&1; then
		log "creating system user 'postgres' (initdb refuses to run as root)"
		if command -v useradd >/dev/null 2>&1; then
			useradd --system --user-group --no-create-home \
				--home-dir /var/lib/postgresql --shell /bin/bash postgres ||
				die "could not create the 'postgres' system user"
		elif command -v adduser >/dev/null 2>&1; then
			adduser --system --group --no-create-home \
				--home /var/lib/postgresql --shell /bin/bash postgres ||
				die "could not create the 'postgres' system user"
		else
			die "running as root, no 'postgres' user, and neither useradd nor adduser is available"
		fi
	fi
	PG_OS_USER=postgres
}

# Run a command as PG_OS_USER (directly when we are not root).
# fd 3 (our real stdout) is closed for the command: a postmaster that
# inherited it would keep `url=$(scripts/ensure-postgres.sh)` waiting forever.
as_pg_user() {
	if ! is_root; then
		"$@" 3>&-
		return
	fi
	(
		cd /
		if command -v runuser >/dev/null 2>&1; then
			runuser -u "$PG_OS_USER" -- "$@" 3>&-
		else
			su -s /bin/bash "$PG_OS_USER" -c "$(printf '%q ' "$@")" 3>&-
		fi
	)
}

# ---------------------------------------------------------------------------
# Finding (or installing) initdb and pg_ctl.

PG_BINDIR=""

find_pg_bindir() {
	local candidates=() dir p
	if p=$(command -v initdb 2>/dev/null); then
		candidates+=("$(dirname "$p")")
		if command -v readlink >/dev/null 2>&1; then
			candidates+=("$(dirname "$(readlink -f "$p")")")
		fi
	fi
	if [ -d /usr/lib/postgresql ]; then
		# Newest major version first.
		while IFS= read -r dir; do
			candidates+=("/usr/lib/postgresql/$dir/bin")
		done < <(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V -r)
	fi
	candidates+=(/usr/local/bin /usr/local/pgsql/bin)
	for dir in "${candidates[@]}"; do
		if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
			PG_BINDIR=$dir
			return 0
		fi
	done
	return 1
}

install_postgres() {
	command -v apt-get >/dev/null 2>&1 ||
		die "PostgreSQL server binaries (initdb, pg_ctl) not found and apt-get is not available; install PostgreSQL or set YGOR_TEST_POSTGRES_URL"
	local sudo=()
	if ! is_root; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			die "PostgreSQL server binaries (initdb, pg_ctl) not found; cannot install them without root (install the 'postgresql' package or set YGOR_TEST_POSTGRES_URL)"
		fi
	fi
	log "PostgreSQL server binaries not found; installing with apt-get"
	"${sudo[@]}" apt-get update </dev/null 3>&- ||
		die "apt-get update failed"
	# (apt may start a server, so fd 3 is closed here too; see as_pg_user.)
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql </dev/null 3>&- ||
		die "apt-get install -y postgresql failed"
}

# ---------------------------------------------------------------------------
# Step 3: the machine's configured cluster(s).

start_configured_clusters() {
	[ -d /etc/postgresql ] || return 1
	command -v pg_ctlcluster >/dev/null 2>&1 || return 1
	if is_root && id -u postgres >/dev/null 2>&1; then
		# May be missing when /run is a fresh tmpfs (e.g. in containers).
		mkdir -p /var/run/postgresql
		chown postgres:postgres /var/run/postgresql 2>/dev/null || true
		chmod 2775 /var/run/postgresql 2>/dev/null || true
	fi
	local confdir version url port started=1
	for confdir in /etc/postgresql/*/main; do
		[ -d "$confdir" ] || continue
		version=$(basename "$(dirname "$confdir")")
		log "trying to start the configured cluster $version/main"
		if pg_ctlcluster --skip-systemctl-redirect "$version" main start </dev/null 3>&-; then
			started=0
		else
			log "pg_ctlcluster $version main start failed (see above)"
		fi
		# The cluster may listen on a port other than 5432.
		port=$(sed -nE "s/^[[:space:]]*port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p" \
			"$confdir/postgresql.conf" 2>/dev/null | tail -n 1)
		for url in "$DEFAULT_URL" ${port:+"postgres://postgres@127.0.0.1:$port/postgres"}; do
			if url_answers "$url"; then
				log "using the configured cluster $version/main at $url"
				emit_url "$url"
				exit 0
			fi
		done
	done
	return "$started"
}

# ---------------------------------------------------------------------------
# Step 4: a throwaway cluster.

start_throwaway() {
	if ! find_pg_bindir; then
		install_postgres
		find_pg_bindir ||
			die "installed PostgreSQL, but still cannot find initdb and pg_ctl (looked in PATH, /usr/lib/postgresql/*/bin, /usr/local/bin)"
		if [ "${YGOR_PG_FORCE_THROWAWAY:-}" != 1 ] && url_answers "$DEFAULT_URL"; then
			# Debian's postgresql package creates and starts a cluster on 5432.
			log "the freshly installed PostgreSQL answers at $DEFAULT_URL"
			emit_url "$DEFAULT_URL"
			exit 0
		fi
	fi
	log "using PostgreSQL binaries in $PG_BINDIR ($("$PG_BINDIR/pg_ctl" --version 2>/dev/null || echo 'unknown version'))"
	pick_os_user

	local base=${TMPDIR:-/tmp} dir
	dir=$(mktemp -d "$base/ygor-pg-XXXXXX") ||
		die "could not create a temporary directory in $base"
	if is_root; then
		chown "$PG_OS_USER:" "$dir"
		if ! as_pg_user test -w "$dir"; then
			# e.g. TMPDIR is under /root, which the postgres user cannot reach.
			log "user $PG_OS_USER cannot write to $dir; using /tmp instead"
			rmdir "$dir"
			dir=$(mktemp -d /tmp/ygor-pg-XXXXXX) ||
				die "could not create a temporary directory in /tmp"
			chown "$PG_OS_USER:" "$dir"
			as_pg_user test -w "$dir" ||
				die "user $PG_OS_USER cannot write to $dir"
		fi
	fi

	log "initialising a throwaway cluster in $dir (as user $PG_OS_USER)"
	if ! as_pg_user "$PG_BINDIR/initdb" -D "$dir" --auth=trust -U postgres \
		--encoding=UTF8 --locale=C >"$dir.initdb.log" 2>&1; then
		cat "$dir.initdb.log" >&2
		rm -f "$dir.initdb.log"
		rm -rf "$dir"
		die "initdb failed"
	fi
	rm -f "$dir.initdb.log"

	# Settings for the throwaway server. fsync stays ON: the tests measure
	# durable commits.
	cat >>"$dir/postgresql.conf" <<EOF

# --- added by $SELF ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
logging_collector = off
include_if_exists = 'ygor_port.conf'
EOF

	local port url
	for ((port = FIRST_PORT; port <= LAST_PORT; port++)); do
		if port_in_use 127.0.0.1 "$port"; then
			continue
		fi
		printf 'port = %d\n' "$port" >"$dir/ygor_port.conf"
		if is_root; then chown "$PG_OS_USER:" "$dir/ygor_port.conf"; fi
		log "starting the throwaway cluster on 127.0.0.1:$port"
		if as_pg_user "$PG_BINDIR/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null; then
			url="postgres://postgres@127.0.0.1:$port/postgres"
			if ! url_answers "$url"; then
				cat "$dir/server.log" >&2 || true
				stop_cluster "$dir"
				die "the throwaway cluster started but does not answer at $url"
			fi
			if [ -n "${YGOR_PG_STATE_FILE:-}" ]; then
				printf '%s\n' "$dir" >"$YGOR_PG_STATE_FILE"
			fi
			log "throwaway cluster running; data directory: $dir"
			log "stop and remove it with: $SELF --stop $dir"
			emit_url "$url"
			exit 0
		fi
		if grep -qiE 'could not (bind|create listen socket)|address already in use' "$dir/server.log" 2>/dev/null; then
			log "port $port is taken; trying the next one"
			: >"$dir/server.log"
			continue
		fi
		cat "$dir/server.log" >&2 || true
		stop_cluster "$dir"
		die "could not start the throwaway cluster in $dir (server log above)"
	done
	stop_cluster "$dir"
	die "no free port between $FIRST_PORT and $LAST_PORT on 127.0.0.1"
}

# Stop the throwaway cluster in DIR (if running) and delete DIR.
stop_cluster() {
	local dir=$1 owner pid
	case "$(basename "$dir")" in
	ygor-pg-*) ;;
	*) die "refusing to remove '$dir': not a ygor-pg-* directory made by $SELF" ;;
	esac
	[ -d "$dir" ] || {
		log "$dir does not exist; nothing to stop"
		return 0
	}
	if [ -e "$dir/postgresql.conf" ] && ! grep -q "added by $SELF" "$dir/postgresql.conf"; then
		die "refusing to remove '$dir': it was not created by $SELF"
	fi
	if [ -f "$dir/postmaster.pid" ]; then
		owner=$(stat -c %U "$dir")
		if is_root; then PG_OS_USER=$owner; fi
		if find_pg_bindir; then
			log "stopping the throwaway cluster in $dir"
			as_pg_user "$PG_BINDIR/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null ||
				log "pg_ctl stop failed"
		fi
		if [ -f "$dir/postmaster.pid" ]; then
			pid=$(head -n 1 "$dir/postmaster.pid")
			if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
				log "sending SIGINT (fast shutdown) to postmaster $pid"
				kill -INT "$pid" 2>/dev/null || true
				for _ in $(seq 1 60); do
					kill -0 "$pid" 2>/dev/null || break
					sleep 0.5
				done
				kill -0 "$pid" 2>/dev/null && die "postmaster $pid in $dir did not stop"
			fi
		fi
	fi
	rm -rf "$dir"
	log "removed $dir"
}

# Crash (immediate stop) or start again the throwaway cluster in DIR.
crash_or_restart() {
	local action=$1 dir=$2
	case "$(basename "$dir")" in
	ygor-pg-*) ;;
	*) die "refusing to touch '$dir': not a ygor-pg-* directory made by $SELF" ;;
	esac
	grep -q "added by $SELF" "$dir/postgresql.conf" 2>/dev/null ||
		die "refusing to touch '$dir': it was not created by $SELF"
	find_pg_bindir || die "cannot find pg_ctl"
	if is_root; then PG_OS_USER=$(stat -c %U "$dir"); fi
	case "$action" in
	crash) as_pg_user "$PG_BINDIR/pg_ctl" -D "$dir" -m immediate -w -t 60 stop >/dev/null ;;
	restart) as_pg_user "$PG_BINDIR/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null ;;
	esac
}

# ---------------------------------------------------------------------------

main() {
	if [ "${1:-}" = "--stop" ]; then
		[ $# -eq 2 ] || die "usage: $SELF --stop DIR"
		stop_cluster "$2"
		return 0
	fi
	if [ "${1:-}" = "--crash" ] || [ "${1:-}" = "--restart" ]; then
		[ $# -eq 2 ] || die "usage: $SELF $1 DIR"
		crash_or_restart "${1#--}" "$2"
		return 0
	fi
	if [ $# -ne 0 ]; then
		die "usage: $SELF   or   $SELF --stop|--crash|--restart DIR"
	fi

	if [ "${YGOR_PG_FORCE_THROWAWAY:-}" = 1 ]; then
		log "YGOR_PG_FORCE_THROWAWAY=1: starting a throwaway cluster"
		start_throwaway
	fi

	if [ -n "${YGOR_TEST_POSTGRES_URL:-}" ]; then
		if url_answers "$YGOR_TEST_POSTGRES_URL"; then
			log "using YGOR_TEST_POSTGRES_URL ($(redact "$YGOR_TEST_POSTGRES_URL"))"
			emit_url "$YGOR_TEST_POSTGRES_URL"
			exit 0
		fi
		log "WARNING: YGOR_TEST_POSTGRES_URL ($(redact "$YGOR_TEST_POSTGRES_URL")) does not answer; looking for another server"
	fi

	if url_answers "$DEFAULT_URL"; then
		log "using the server at $DEFAULT_URL"
		emit_url "$DEFAULT_URL"
		exit 0
	fi
	log "nothing answers at $DEFAULT_URL"

	start_configured_clusters || log "no configured cluster could be started"

	start_throwaway
}

main "$@"
