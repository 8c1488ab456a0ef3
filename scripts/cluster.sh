#!/usr/bin/env bash
# cluster.sh: a throwaway local PostgreSQL cluster for sparc's integration tests and demo.
#
# One primary, two streaming replicas and a PgBouncer (transaction pooling) in front of the
# primary, all on free loopback ports, all state in one directory. See `cluster.sh help`.
set -euo pipefail

readonly PROG=${0##*/}
SELF=$(readlink -f -- "${BASH_SOURCE[0]}")
readonly SELF
readonly DB_USER=sparc
readonly DB_NAME=sparc
readonly ALL_NODES=(primary replica1 replica2 pgbouncer)
readonly MARKER=.sparc-cluster
readonly WAIT_SECONDS=${SPARC_CLUSTER_WAIT_SECONDS:-60}
REGISTRY=${SPARC_CLUSTER_REGISTRY:-${TMPDIR:-/tmp}/sparc-clusters-$(id -u)}
readonly REGISTRY

usage() {
    cat <<EOF
Usage: $PROG COMMAND [ARGS]

A throwaway PostgreSQL cluster on loopback: primary + 2 streaming replicas + PgBouncer.

Commands:
  start [DIR] [--link PATH] [--owner PID|parent]
        Create and start a cluster in DIR (must not exist or be empty; default: a new
        \${TMPDIR:-/tmp}/sparc-cluster-XXXXXXXX). --link PATH makes PATH a symlink to the
        cluster directory, so it can be used wherever DIR is expected. Writes DIR/cluster.env.
        Without --owner the cluster runs until '$PROG stop DIR'. With --owner PID (or
        'parent': the process that ran this script, such as ctest) it belongs to that process:
        once the owner is gone the cluster is stale, and the next 'start' or 'cleanup-stale'
        removes it. Scripts and test fixtures pass --owner so that a killed run leaves nothing
        behind. A start that was interrupted is stale too; nothing else is ever removed.
  stop DIR                      Stop every node and remove DIR (and its --link).
  stop-node DIR NODE [immediate]
  start-node DIR NODE           Waits until NODE accepts connections (a replica: until it
                                streams again, when the primary is up).
  restart-node DIR NODE [immediate]
  psql DIR NODE [PSQL-ARGS...]  psql to NODE as the test superuser (-X -A -t, stops on error).

Topology changes (each waits until it has taken effect and fails with a message otherwise;
'reset' undoes all of them):
  promote DIR NODE              pg_ctl promote a replica; returns when it accepts writes
                                (pg_is_in_recovery() is false). Its old primary keeps running.
  freeze DIR NODE               SIGSTOP every process of NODE (postmaster, backends, walsender
                                and walreceiver): the host hangs, TCP connects still complete
                                in the kernel but nothing answers. stop, stop-node, start-node,
                                restart-node and cleanup-stale thaw a frozen node first.
  thaw DIR NODE                 SIGCONT them; returns when NODE answers queries again.
  fence DIR NODE                ALTER SYSTEM SET default_transaction_read_only = on + reload:
                                writes fail with SQLSTATE 25006. Returns when a new session
                                sees the setting.
  unfence DIR NODE              ALTER SYSTEM RESET of the same + reload.
  sync DIR on|off               Synchronous replication on the primary: synchronous_standby_names
                                = 'ANY 1 (replica1, replica2)' and synchronous_commit = on (the
                                cluster's default is off). Returns when pg_stat_replication
                                shows a quorum standby (on) or none (off).
  reset DIR                     The original shape again: thaws every node, starts stopped
                                ones, unfences, sync off, rebuilds every replica that no longer
                                streams from the original primary (e.g. a promoted one: its
                                writes are lost) with pg_basebackup on the same port and
                                configuration. Returns when both replicas stream and PgBouncer
                                reaches the primary.
  status DIR                    One line per node.
  cleanup-stale [--all]         Remove clusters whose --owner is gone, and interrupted starts
                                (--all: every cluster of this user, also live ones and those
                                started without --owner).
  help

NODE is one of: ${ALL_NODES[*]}.

DIR/cluster.env (KEY='value' lines; shell: set -a; . DIR/cluster.env; set +a):
  SPARC_PRIMARY_URL SPARC_REPLICA1_URL SPARC_REPLICA2_URL SPARC_PGBOUNCER_URL
  SPARC_REPLICA_URLS (comma-separated)  SPARC_PRIMARY_SSL_URL (sslmode=verify-full)
  DATABASE_URL (= SPARC_PRIMARY_URL)  DATABASE_READ_REPLICAS (= SPARC_REPLICA_URLS): what
  sparc's pool_config() reads, so sparc-db and the examples run against the cluster
  SPARC_<NODE>_PORT  SPARC_TEST_USER SPARC_TEST_PASSWORD SPARC_TEST_DATABASE
  SPARC_SSL_CA SPARC_SSL_WRONG_CA SPARC_CLUSTER_DIR SPARC_CLUSTER_SCRIPT
All servers listen on 127.0.0.1 only; the primary accepts SSL and plain connections
(certificate for localhost and 127.0.0.1). Logs: DIR/log. The password appears only in
cluster.env and the files the servers need; this script prints URLs with it masked.
Environment: SPARC_PG_BINDIR (PostgreSQL server binaries), SPARC_CLUSTER_REGISTRY,
SPARC_CLUSTER_WAIT_SECONDS (default 60), SPARC_CLUSTER_KEEP_ON_FAILURE=1.
EOF
}

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}
note() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# Tools and users

find_pg_bindir() {
    if [[ -n ${SPARC_PG_BINDIR:-} ]]; then
        [[ -x $SPARC_PG_BINDIR/initdb ]] || die "SPARC_PG_BINDIR=$SPARC_PG_BINDIR has no initdb"
        printf '%s\n' "$SPARC_PG_BINDIR"
        return
    fi
    local d best=""
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x $d/initdb ]] || continue
        if [[ -z $best ]] || (( ${d//[^0-9]/} > ${best//[^0-9]/} )); then best=$d; fi
    done
    if [[ -z $best ]] && command -v initdb >/dev/null; then
        best=$(dirname -- "$(command -v initdb)")
    fi
    [[ -n $best ]] || die "PostgreSQL server binaries not found (run scripts/setup.sh, or set SPARC_PG_BINDIR)"
    printf '%s\n' "$best"
}

require_tools() {
    local t
    for t in ss flock openssl psql; do
        command -v "$t" >/dev/null || die "'$t' not found (run scripts/setup.sh)"
    done
    command -v pgbouncer >/dev/null || [[ -x /usr/sbin/pgbouncer ]] ||
        die "pgbouncer not found (run scripts/setup.sh)"
}

pgbouncer_bin() {
    if command -v pgbouncer >/dev/null; then command -v pgbouncer; else echo /usr/sbin/pgbouncer; fi
}

# PostgreSQL refuses to run as root: servers run as 'postgres' when this script runs as root.
SERVER_USER=""
if (( EUID == 0 )); then
    SERVER_USER=${SPARC_CLUSTER_SERVER_USER:-postgres}
fi

as_server() {
    if [[ -n $SERVER_USER ]]; then
        runuser -u "$SERVER_USER" -- "$@"
    else
        "$@"
    fi
}

# ---------------------------------------------------------------------------------------------
# Process identity: a pid plus its start time, so a recycled pid is never mistaken for ours.

proc_start_time() {
    local stat rest
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    rest=${stat##*) }
    local -a f
    read -ra f <<<"$rest"
    printf '%s\n' "${f[19]}"
}

proc_alive() { # PID START
    [[ -n $1 && -n $2 ]] || return 1
    local now
    now=$(proc_start_time "$1") || return 1
    [[ $now == "$2" ]]
}

# ---------------------------------------------------------------------------------------------
# Marker file: KEY=VALUE lines identifying a cluster directory as ours. Never sourced.

marker_get() { # DIR KEY
    local line
    [[ -f $1/$MARKER ]] || return 1
    while IFS= read -r line; do
        if [[ $line == "$2="* ]]; then
            printf '%s\n' "${line#*=}"
            return 0
        fi
    done <"$1/$MARKER"
    return 1
}

marker_set() { # DIR KEY VALUE
    local file=$1/$MARKER tmp line found=0
    tmp=$(mktemp "$1/.marker.XXXXXX")
    if [[ -f $file ]]; then
        while IFS= read -r line; do
            if [[ $line == "$2="* ]]; then
                printf '%s=%s\n' "$2" "$3"
                found=1
            else
                printf '%s\n' "$line"
            fi
        done <"$file" >"$tmp"
    fi
    (( found )) || printf '%s=%s\n' "$2" "$3" >>"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$file"
}

# Resolves a DIR argument (possibly a --link symlink) to a cluster directory of ours.
resolve_cluster() { # PATH -> prints real dir
    local p=$1 real id
    [[ -e $p || -L $p ]] || die "no cluster at $p"
    real=$(readlink -f -- "$p") || die "cannot resolve $p"
    [[ -d $real ]] || die "no cluster at $p (dangling link to $real)"
    id=$(marker_get "$real" id) || die "$p is not a cluster made by $PROG (no $MARKER)"
    # Only clusters this user started: in this user's registry, marker written by this user.
    [[ -O $real/$MARKER && $(readlink -- "$REGISTRY/$id" 2>/dev/null) == "$real" ]] ||
        die "$p is not a cluster started by this user (uid $(id -u)) with $PROG"
    printf '%s\n' "$real"
}

cluster_is_stale() { # DIR
    local dir=$1 state
    state=$(marker_get "$dir" state || echo unknown)
    if [[ $state == starting ]] &&
        ! proc_alive "$(marker_get "$dir" starter_pid || true)" "$(marker_get "$dir" starter_start || true)"; then
        return 0
    fi
    local owner
    owner=$(marker_get "$dir" owner_pid || true)
    [[ $owner == none ]] && return 1 # started by hand: kept until 'stop'
    ! proc_alive "$owner" "$(marker_get "$dir" owner_start || true)"
}

# ---------------------------------------------------------------------------------------------
# Nodes

node_port() { # DIR NODE
    local p
    p=$(marker_get "$1" "port_$2") || die "cluster $1 has no node '$2'"
    printf '%s\n' "$p"
}

check_node() {
    local n
    for n in "${ALL_NODES[@]}"; do [[ $1 == "$n" ]] && return 0; done
    die "unknown node '$1' (expected one of: ${ALL_NODES[*]})"
}

is_pg_node() { [[ $1 != pgbouncer ]]; }

# Runs psql (as the invoking user) against NODE of the cluster in DIR.
node_psql() { # DIR NODE [ARGS...]
    local dir=$1 node=$2 port
    shift 2
    port=$(node_port "$dir" "$node")
    env -u PGPASSWORD -u PGSERVICE -u PGSERVICEFILE -u PGOPTIONS \
        PGPASSFILE="$dir/pgpass" PGCONNECT_TIMEOUT=5 PGAPPNAME=sparc-cluster PGSSLMODE=disable \
        psql -X -q -A -t -v ON_ERROR_STOP=1 -w -h 127.0.0.1 -p "$port" -U "$DB_USER" -d "${PSQL_DB:-$DB_NAME}" "$@"
}

# The postmaster of DIR/NODE, if running: verified by its working directory (the data dir).
postmaster_pid() { # DIR NODE
    local data=$1/$2 pid cwd
    [[ -f $data/postmaster.pid ]] || return 1
    pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
    [[ $cwd == "$data" ]] || return 1
    printf '%s\n' "$pid"
}

pgbouncer_pid() { # DIR
    local dir=$1 pid cmd
    [[ -f $dir/pgbouncer/pgbouncer.pid ]] || return 1
    pid=$(head -n1 "$dir/pgbouncer/pgbouncer.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$dir/pgbouncer/pgbouncer.ini"* ]] || return 1
    printf '%s\n' "$pid"
}

# Kills every process whose working directory is DATA (a postmaster and all its children).
kill_by_cwd() { # DATA
    local link
    while IFS= read -r link; do
        link=${link#/proc/}
        kill -KILL "${link%%/*}" 2>/dev/null || true
    done < <(find /proc/[0-9]*/cwd -maxdepth 0 -lname "$1" 2>/dev/null)
    return 0
}

# Every process of NODE: a postmaster and all its children share the data directory as their
# working directory; PgBouncer is a single process.
node_pids() { # DIR NODE
    local link
    if ! is_pg_node "$2"; then
        pgbouncer_pid "$1" || true
        return 0
    fi
    while IFS= read -r link; do
        link=${link#/proc/}
        printf '%s\n' "${link%%/*}"
    done < <(find /proc/[0-9]*/cwd -maxdepth 0 -lname "$1/$2" 2>/dev/null)
    return 0
}

proc_state() { # PID -> R, S, D, T, Z, ...
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    printf '%s\n' "${stat%% *}"
}

# NODE has processes and every one is stopped (or already dead, waiting for its parent).
node_frozen() { # DIR NODE
    local pid st any=0
    for pid in $(node_pids "$1" "$2"); do
        st=$(proc_state "$pid") || continue
        [[ $st == [TZX] ]] || return 1
        any=1
    done
    (( any ))
}

node_not_frozen() { # DIR NODE
    local pid
    for pid in $(node_pids "$1" "$2"); do
        [[ $(proc_state "$pid" || true) != T ]] || return 1
    done
    return 0
}

# Sends SIGSTOP to every process of NODE not yet stopped; true once all are.
stop_processes() { # DIR NODE
    local pid
    for pid in $(node_pids "$1" "$2"); do kill -STOP "$pid" 2>/dev/null || true; done
    node_frozen "$1" "$2"
}

# SIGCONT to every process of NODE (a no-op for processes that are not stopped).
thaw_processes() { # DIR NODE
    local pid
    for pid in $(node_pids "$1" "$2"); do kill -CONT "$pid" 2>/dev/null || true; done
    return 0
}

wait_gone() { # PID SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

stop_pg_node() { # DIR NODE MODE
    local dir=$1 node=$2 mode=$3 pid
    pid=$(postmaster_pid "$dir" "$node") || return 0
    thaw_processes "$dir" "$node" # a frozen postmaster would never act on pg_ctl's signal
    if as_server "$PG_BINDIR/pg_ctl" stop -D "$dir/$node" -m "$mode" -w -t 20 -s >/dev/null 2>&1; then
        return 0 # the postmaster waits for all its children before it exits
    fi
    as_server "$PG_BINDIR/pg_ctl" stop -D "$dir/$node" -m immediate -w -t 10 -s >/dev/null 2>&1 || true
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || note "postmaster $pid of $node did not exit"
    fi
    # Backends of a killed postmaster linger for a moment; make sure none survive.
    kill_by_cwd "$dir/$node"
}

stop_pgbouncer() { # DIR MODE
    local pid
    pid=$(pgbouncer_pid "$1") || return 0
    kill -CONT "$pid" 2>/dev/null || true # a frozen PgBouncer would never act on SIGTERM
    if [[ $2 == immediate ]]; then kill -KILL "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
    wait_gone "$pid" 10 || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }
    rm -f "$1/pgbouncer/pgbouncer.pid"
}

stop_node() { # DIR NODE MODE(fast|immediate)
    if is_pg_node "$2"; then stop_pg_node "$1" "$2" "$3"; else stop_pgbouncer "$1" "$3"; fi
}

wait_until() { # DESCRIPTION SECONDS COMMAND...
    local what=$1 secs=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    note "timed out after ${secs}s waiting for $what"
    return 1
}

replica_streaming() { # DIR NODE
    [[ $(node_psql "$1" "$2" -c "SELECT status FROM pg_stat_wal_receiver") == streaming ]]
}

primary_streaming_count_is() { # DIR N
    [[ $(node_psql "$1" primary -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "$2" ]]
}

# Connects to the 'postgres' database on servers: the test database may not exist yet.
accepts_queries() {
    local db=postgres
    [[ $2 == pgbouncer ]] && db=$DB_NAME
    [[ $(PSQL_DB=$db node_psql "$1" "$2" -c "SELECT 1") == 1 ]]
}

start_pg_node() { # DIR NODE
    local dir=$1 node=$2
    if postmaster_pid "$dir" "$node" >/dev/null; then return 0; fi
    if ! as_server "$PG_BINDIR/pg_ctl" start -D "$dir/$node" -l "$dir/log/$node.log" \
        -w -t "$WAIT_SECONDS" -s >/dev/null 2>&1; then
        show_log "$dir/log/$node.log"
        die "$node did not start"
    fi
    wait_until "$node to accept connections" "$WAIT_SECONDS" accepts_queries "$dir" "$node" ||
        { show_log "$dir/log/$node.log"; die "$node does not accept connections"; }
}

start_pgbouncer() { # DIR
    local dir=$1
    if pgbouncer_pid "$dir" >/dev/null; then return 0; fi
    # Daemonizes; its output goes to a file so no caller's pipe is held open by the daemon.
    if ! (cd "$dir" && as_server "$(pgbouncer_bin)" -d -q "$dir/pgbouncer/pgbouncer.ini" \
        </dev/null >>"$dir/log/pgbouncer.stderr" 2>&1); then
        show_log "$dir/log/pgbouncer.stderr"
        show_log "$dir/log/pgbouncer.log"
        die "pgbouncer did not start"
    fi
    wait_until "pgbouncer to accept connections" "$WAIT_SECONDS" accepts_queries "$dir" pgbouncer ||
        { show_log "$dir/log/pgbouncer.log"; die "pgbouncer does not accept connections"; }
}

start_node() { # DIR NODE
    local dir=$1 node=$2
    thaw_processes "$dir" "$node"
    case $node in
        pgbouncer) start_pgbouncer "$dir" ;;
        primary)
            start_pg_node "$dir" primary
            # PgBouncer backs off after failed logins (server_login_retry): wait until it
            # reaches the primary again, so the next test does not see a stale failure.
            if pgbouncer_pid "$dir" >/dev/null; then
                wait_until "pgbouncer to reach the primary" "$WAIT_SECONDS" accepts_queries "$dir" pgbouncer ||
                    { show_log "$dir/log/pgbouncer.log"; die "pgbouncer does not reach the primary"; }
            fi
            ;;
        *)
            start_pg_node "$dir" "$node"
            if postmaster_pid "$dir" primary >/dev/null; then
                wait_until "$node to stream from the primary" "$WAIT_SECONDS" replica_streaming "$dir" "$node" ||
                    { show_log "$dir/log/$node.log"; die "$node does not stream"; }
            fi
            ;;
    esac
}

# A replica's data directory from a base backup of the primary, with standby.signal and a
# primary_conninfo whose application_name is the node's name (synchronous_standby_names
# refers to it). SLOT_OPTION -C creates the replication slot NODE, empty reuses it.
basebackup_replica() { # DIR NODE PRIMARY_PORT [SLOT_OPTION]
    local dir=$1 node=$2
    as_server env PGPASSFILE="$dir/pgpass" PGSSLMODE=disable "$PG_BINDIR/pg_basebackup" \
        -d "application_name=$node" -h 127.0.0.1 -p "$3" -U "$DB_USER" -w -D "$dir/$node" \
        -R -X stream -c fast ${4:+"$4"} -S "$node" --no-sync >"$dir/log/basebackup-$node.log" 2>&1
}

show_log() {
    [[ -s $1 ]] || return 0
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n 25 "$1" >&2
    printf -- '---\n' >&2
}

# ---------------------------------------------------------------------------------------------
# Whole clusters

# Stops every node, then removes DIR, its registry entry and its link. DIR must be ours.
teardown() { # DIR
    local dir=$1 id link n pids=()
    id=$(marker_get "$dir" id || true)
    link=$(marker_get "$dir" link || true)
    stop_pgbouncer "$dir" immediate
    for n in replica2 replica1 primary; do
        stop_pg_node "$dir" "$n" fast &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    rm -rf -- "$dir"
    if [[ -n $link && -L $link && $(readlink -- "$link") == "$dir" ]]; then rm -f -- "$link"; fi
    if [[ -n $id ]]; then rm -f -- "$REGISTRY/$id"; fi
}

cleanup_stale() { # [--all]
    local all=${1:-} entry dir id removed=0
    [[ -d $REGISTRY ]] || return 0
    for entry in "$REGISTRY"/*; do
        [[ -L $entry ]] || continue
        id=${entry##*/}
        dir=$(readlink -- "$entry")
        if [[ ! -d $dir || $(marker_get "$dir" id || true) != "$id" ]]; then
            rm -f -- "$entry" # the directory is gone or is no longer ours
            continue
        fi
        if [[ $all == --all ]] || cluster_is_stale "$dir"; then
            note "removing $( [[ $all == --all ]] && echo cluster || echo stale cluster ) $dir"
            teardown "$dir"
            removed=$((removed + 1))
        fi
    done
    return 0
}

listening_ports() { ss -Hltn 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }'; }

# Chooses N free TCP ports below the kernel's ephemeral range (so outgoing connections and
# bind(0) never take them), avoiding ports reserved by our other clusters. Call under the lock.
alloc_ports() { # N
    local n=$1 lo=20000 hi=29999 eph used=" " p entry d k tries=0
    eph=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    if (( eph > lo + 1000 )); then hi=$((eph - 1)); fi
    for p in $(listening_ports); do used+="$p "; done
    for entry in "$REGISTRY"/*; do
        [[ -L $entry ]] || continue
        d=$(readlink -- "$entry")
        for k in primary replica1 replica2 pgbouncer; do
            p=$(marker_get "$d" "port_$k" 2>/dev/null || true)
            [[ -n $p ]] && used+="$p "
        done
    done
    local out=()
    while (( ${#out[@]} < n )); do
        (( ++tries < 10000 )) || die "no free TCP ports in $lo-$hi"
        p=$(( lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1) ))
        [[ $used == *" $p "* ]] && continue
        used+="$p "
        out+=("$p")
    done
    printf '%s\n' "${out[@]}"
}

write_ssl() { # DIR
    local ssl=$1/ssl
    mkdir -p "$ssl"
    cat >"$ssl/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
EOF
    local name
    for name in ca wrong-ca; do
        openssl req -x509 -config "$ssl/openssl.cnf" -extensions ca -newkey ec \
            -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
            -subj "/CN=sparc test $name $(basename -- "$1")" \
            -keyout "$ssl/$name.key" -out "$ssl/$name.crt" >/dev/null 2>&1 ||
            die "openssl could not create the $name certificate"
    done
    openssl req -new -config "$ssl/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -nodes -subj "/CN=localhost" -keyout "$ssl/server.key" -out "$ssl/server.csr" >/dev/null 2>&1 ||
        die "openssl could not create the server key"
    openssl x509 -req -in "$ssl/server.csr" -CA "$ssl/ca.crt" -CAkey "$ssl/ca.key" -CAcreateserial \
        -days 7 -extfile "$ssl/openssl.cnf" -extensions server -out "$ssl/server.crt" >/dev/null 2>&1 ||
        die "openssl could not sign the server certificate"
    chmod 600 "$ssl"/*.key
    chmod 644 "$ssl"/*.crt
}

write_primary_conf() { # DIR
    local dir=$1 data=$1/primary
    cat >>"$data/postgresql.conf" <<EOF

# ---- sparc test cluster ----
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
shared_buffers = 32MB
dynamic_shared_memory_type = mmap
max_parallel_workers_per_gather = 0
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 256MB
wal_sender_timeout = 10s
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 1s
hot_standby = on
hot_standby_feedback = on
max_standby_streaming_delay = 5s
max_standby_archive_delay = 5s
ssl = on
ssl_cert_file = '$dir/ssl/server.crt'
ssl_key_file = '$dir/ssl/server.key'
password_encryption = 'scram-sha-256'
logging_collector = off
log_destination = 'stderr'
log_min_messages = warning
log_min_error_statement = error
log_line_prefix = '%m [%p] %q%a %u@%d '
log_checkpoints = off
log_timezone = 'UTC'
timezone = 'UTC'
# port and cluster_name differ per node
include_if_exists = 'node.conf'
EOF
    cat >"$data/pg_hba.conf" <<EOF
# TYPE  DATABASE     USER  ADDRESS        METHOD
host    all          all   127.0.0.1/32   scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
EOF
}

write_node_conf() { # DIR NODE PORT
    printf "port = %s\ncluster_name = '%s'\n" "$3" "$2" >"$1/$2/node.conf"
}

write_pgbouncer_conf() { # DIR PGBOUNCER_PORT PRIMARY_PORT PASSWORD
    local dir=$1
    mkdir -p "$dir/pgbouncer"
    printf '"%s" "%s"\n' "$DB_USER" "$4" >"$dir/pgbouncer/userlist.txt"
    chmod 600 "$dir/pgbouncer/userlist.txt"
    cat >"$dir/pgbouncer/pgbouncer.ini" <<EOF
[databases]
$DB_NAME = host=127.0.0.1 port=$3 dbname=$DB_NAME
* = host=127.0.0.1 port=$3

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $2
unix_socket_dir =
pool_mode = transaction
auth_type = scram-sha-256
auth_file = $dir/pgbouncer/userlist.txt
admin_users = $DB_USER
stats_users = $DB_USER
max_client_conn = 1000
default_pool_size = 20
server_login_retry = 1
server_connect_timeout = 5
ignore_startup_parameters = extra_float_digits
logfile = $dir/log/pgbouncer.log
pidfile = $dir/pgbouncer/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
}

write_env() { # DIR PASSWORD
    local dir=$1 pw=$2 tmp n p url base
    tmp=$(mktemp "$dir/.cluster.env.XXXXXX")
    base="postgresql://$DB_USER:$pw@127.0.0.1"
    {
        echo "# sparc test cluster (scripts/cluster.sh). Holds the throwaway test password."
        echo "# Shell: set -a; . ./cluster.env; set +a"
        echo "SPARC_CLUSTER_DIR='$dir'"
        echo "SPARC_CLUSTER_SCRIPT='$SELF'"
        echo "SPARC_TEST_USER='$DB_USER'"
        echo "SPARC_TEST_PASSWORD='$pw'"
        echo "SPARC_TEST_DATABASE='$DB_NAME'"
        for n in "${ALL_NODES[@]}"; do
            p=$(marker_get "$dir" "port_$n")
            url="$base:$p/$DB_NAME"
            echo "SPARC_${n^^}_PORT='$p'"
            echo "SPARC_${n^^}_URL='$url'"
        done
        echo "SPARC_REPLICA_URLS='$base:$(marker_get "$dir" port_replica1)/$DB_NAME,$base:$(marker_get "$dir" port_replica2)/$DB_NAME'"
        # What sparc's pool_config() reads (docs/configuration.md).
        echo "DATABASE_URL='$base:$(marker_get "$dir" port_primary)/$DB_NAME'"
        echo "DATABASE_READ_REPLICAS='$base:$(marker_get "$dir" port_replica1)/$DB_NAME,$base:$(marker_get "$dir" port_replica2)/$DB_NAME'"
        echo "SPARC_SSL_CA='$dir/ssl/ca.crt'"
        echo "SPARC_SSL_WRONG_CA='$dir/ssl/wrong-ca.crt'"
        echo "SPARC_PRIMARY_SSL_URL='$base:$(marker_get "$dir" port_primary)/$DB_NAME?sslmode=verify-full&sslrootcert=$dir/ssl/ca.crt'"
    } >"$tmp"
    chmod 600 "$tmp"
    mv -f "$tmp" "$dir/cluster.env"
}

redact_url() { printf 'postgresql://%s:****@127.0.0.1:%s/%s' "$DB_USER" "$1" "$DB_NAME"; }

START_DIR=""
START_DONE=0

on_start_exit() {
    local rc=$?
    (( START_DONE )) && return 0
    [[ -n $START_DIR && -d $START_DIR ]] || exit "$rc"
    local f
    for f in "$START_DIR"/log/*.log "$START_DIR"/log/*.stderr; do [[ -e $f ]] && show_log "$f"; done
    if [[ ${SPARC_CLUSTER_KEEP_ON_FAILURE:-0} == 1 ]]; then
        note "start failed; kept $START_DIR for inspection (remove with: $PROG stop $START_DIR)"
    else
        note "start failed; removing $START_DIR"
        teardown "$START_DIR"
    fi
    (( rc == 0 )) && rc=1
    exit "$rc"
}

cmd_start() {
    local dir="" link="" owner=none arg
    while (( $# )); do
        arg=$1
        case $arg in
            --link) link=${2:?--link needs a path}; shift ;;
            --owner) owner=${2:?--owner needs a pid}; shift ;;
            -*) die "start: unknown option $arg" ;;
            *) [[ -z $dir ]] || die "start: more than one DIR"; dir=$arg ;;
        esac
        shift
    done
    [[ $owner == parent ]] && owner=$PPID
    local owner_start=none
    if [[ $owner != none ]]; then
        [[ $owner =~ ^[0-9]+$ ]] || die "--owner must be a process id or 'parent'"
        owner_start=$(proc_start_time "$owner") || die "owner process $owner does not exist"
    fi
    require_tools
    PG_BINDIR=$(find_pg_bindir)
    if [[ -n $SERVER_USER ]] && ! id -u "$SERVER_USER" >/dev/null 2>&1; then
        die "running as root needs the '$SERVER_USER' user to run the servers (run scripts/setup.sh)"
    fi
    local t0=$SECONDS

    mkdir -p "$REGISTRY"
    chmod 700 "$REGISTRY"
    cleanup_stale

    if [[ -n $link ]]; then
        # Canonical parent, but the link itself must not be followed.
        link=$(readlink -m -- "$(dirname -- "$link")")/$(basename -- "$link")
        if [[ -L $link ]]; then
            local target
            target=$(readlink -f -- "$link" || true)
            if [[ -d $target ]] && marker_get "$target" id >/dev/null; then
                die "a cluster is already running at $link (stop it: $PROG stop $link)"
            fi
            rm -f -- "$link"
        elif [[ -e $link ]]; then
            die "--link $link exists and is not a symlink"
        fi
        mkdir -p -- "$(dirname -- "$link")"
    fi
    if [[ -z $dir ]]; then
        dir=$(mktemp -d "${TMPDIR:-/tmp}/sparc-cluster-XXXXXXXX")
    else
        if [[ -e $dir ]]; then
            [[ -d $dir && -z $(ls -A -- "$dir") ]] || die "$dir exists and is not empty"
        fi
        mkdir -p -- "$dir"
        dir=$(readlink -f -- "$dir")
    fi
    START_DIR=$dir
    trap on_start_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    local id
    id=$(basename -- "$dir")-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
    marker_set "$dir" id "$id"
    marker_set "$dir" dir "$dir"
    marker_set "$dir" state starting
    marker_set "$dir" owner_pid "$owner"
    marker_set "$dir" owner_start "$owner_start"
    marker_set "$dir" starter_pid "$$"
    marker_set "$dir" starter_start "$(proc_start_time $$)"
    if [[ -n $link ]]; then
        marker_set "$dir" link "$link"
        ln -s -- "$dir" "$link"
    fi

    # Reserve ports under the registry lock so concurrent starts never pick the same ones.
    local ports lockfd
    exec {lockfd}>"$REGISTRY/.lock"
    flock -w 30 "$lockfd" || die "could not lock $REGISTRY/.lock"
    mapfile -t ports < <(alloc_ports 4)
    (( ${#ports[@]} == 4 )) || die "could not allocate ports"
    marker_set "$dir" port_primary "${ports[0]}"
    marker_set "$dir" port_replica1 "${ports[1]}"
    marker_set "$dir" port_replica2 "${ports[2]}"
    marker_set "$dir" port_pgbouncer "${ports[3]}"
    ln -sfn -- "$dir" "$REGISTRY/$id"
    exec {lockfd}>&-

    local password
    password="sparc-test-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    mkdir -p "$dir/log"
    (umask 077 && printf '127.0.0.1:*:*:%s:%s\n' "$DB_USER" "$password" >"$dir/pgpass")
    (umask 077 && printf '%s\n' "$password" >"$dir/.pwfile")
    write_ssl "$dir"
    write_pgbouncer_conf "$dir" "${ports[3]}" "${ports[0]}" "$password"
    if [[ -n $SERVER_USER ]]; then
        chown -R "$SERVER_USER": "$dir"
        as_server test -w "$dir" ||
            die "user $SERVER_USER cannot write $dir (a parent directory is not accessible); choose a directory under /tmp or omit DIR"
    fi
    cd "$dir"

    note "initdb (PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}')) in $dir"
    as_server "$PG_BINDIR/initdb" -D "$dir/primary" -U "$DB_USER" --pwfile="$dir/.pwfile" \
        --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/log/initdb.log" 2>&1 ||
        { show_log "$dir/log/initdb.log"; die "initdb failed"; }
    rm -f "$dir/.pwfile"
    write_primary_conf "$dir"
    write_node_conf "$dir" primary "${ports[0]}"
    [[ -z $SERVER_USER ]] || chown -R "$SERVER_USER": "$dir/primary"
    start_pg_node "$dir" primary
    PSQL_DB=postgres node_psql "$dir" primary -c "CREATE DATABASE $DB_NAME" >/dev/null

    local n i bpids=()
    for i in 1 2; do
        basebackup_replica "$dir" "replica$i" "${ports[0]}" -C &
        bpids+=($!)
    done
    for i in 0 1; do
        wait "${bpids[$i]}" || { show_log "$dir/log/basebackup-replica$((i + 1)).log"; die "pg_basebackup failed"; }
    done
    for i in 1 2; do
        write_node_conf "$dir" "replica$i" "${ports[$i]}"
        [[ -z $SERVER_USER ]] || chown "$SERVER_USER": "$dir/replica$i/node.conf"
    done
    local spids=()
    for n in replica1 replica2; do
        ( start_pg_node "$dir" "$n" ) &
        spids+=($!)
    done
    for i in 0 1; do wait "${spids[$i]}" || die "replica$((i + 1)) did not start"; done
    wait_until "both replicas to stream" "$WAIT_SECONDS" primary_streaming_count_is "$dir" 2 ||
        die "replicas are not streaming"
    start_pgbouncer "$dir"

    write_env "$dir" "$password"
    marker_set "$dir" state ready
    START_DONE=1
    trap - EXIT INT TERM

    printf 'sparc test cluster ready in %ss: %s\n' "$((SECONDS - t0))" "$dir"
    for n in "${ALL_NODES[@]}"; do
        printf '  %-10s %s\n' "$n" "$(redact_url "$(marker_get "$dir" "port_$n")")"
    done
    printf '  %-10s %s\n' env "$dir/cluster.env"
    [[ -z $link ]] || printf '  %-10s %s\n' link "$link"
}

# Serialises the commands that change one cluster: re-runs this script under flock(1) on
# DIR/.lock. With -o the lock descriptor is not inherited by the servers the command starts.
with_cluster_lock() { # DIR ARGS...
    local dir=$1
    shift
    [[ ${SPARC_CLUSTER_LOCK_HELD:-} == "$dir" ]] && return 0
    SPARC_CLUSTER_LOCK_HELD=$dir exec flock -o -w 300 "$dir/.lock" "$BASH" "$SELF" "$@"
}

cmd_stop() {
    (( $# == 1 )) || die "usage: $PROG stop DIR"
    local p=$1
    if [[ ! -e $p && ! -L $p ]]; then
        note "no cluster at $p; nothing to stop"
        return 0
    fi
    if [[ -L $p && ! -e $p ]]; then
        rm -f -- "$p"
        note "removed dangling link $p"
        return 0
    fi
    local dir
    dir=$(resolve_cluster "$p")
    with_cluster_lock "$dir" stop "$p"
    PG_BINDIR=$(find_pg_bindir)
    teardown "$dir"
    [[ -L $p ]] && rm -f -- "$p"
    printf 'stopped and removed %s\n' "$dir"
}

cmd_node() { # stop-node|start-node|restart-node DIR NODE [immediate]
    local action=$1
    (( $# >= 3 )) || die "usage: $PROG $action DIR NODE [immediate]"
    local dir node=$3 mode=fast
    dir=$(resolve_cluster "$2")
    check_node "$node"
    if (( $# >= 4 )); then
        [[ $4 == immediate && $action != start-node ]] || die "unexpected argument '$4'"
        mode=immediate
    fi
    with_cluster_lock "$dir" "$@"
    PG_BINDIR=$(find_pg_bindir)
    cd "$dir"
    case $action in
        stop-node) stop_node "$dir" "$node" "$mode" ;;
        start-node) start_node "$dir" "$node" ;;
        restart-node) stop_node "$dir" "$node" "$mode"; start_node "$dir" "$node" ;;
    esac
}

cmd_psql() {
    (( $# >= 2 )) || die "usage: $PROG psql DIR NODE [PSQL-ARGS...]"
    local dir node=$2
    dir=$(resolve_cluster "$1")
    check_node "$node"
    shift 2
    node_psql "$dir" "$node" "$@"
}

# ---------------------------------------------------------------------------------------------
# Topology changes: promote, freeze/thaw, fence, synchronous replication, and reset.

in_recovery_is() { # DIR NODE t|f
    [[ $(node_psql "$1" "$2" -c "SELECT pg_is_in_recovery()") == "$3" ]]
}

setting_is() { # DIR NODE NAME VALUE: as a new session sees it
    [[ $(node_psql "$1" "$2" -c "SHOW $3") == "$4" ]]
}

sync_standby_count_is() { # DIR N
    [[ $(node_psql "$1" primary -c "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')") == "$2" ]]
}

sync_standby_present() { ! sync_standby_count_is "$1" 0 && node_psql "$1" primary -c "SELECT 1" >/dev/null; }

require_running() { # DIR NODE
    if is_pg_node "$2"; then
        postmaster_pid "$1" "$2" >/dev/null || die "$2 is not running"
    else
        pgbouncer_pid "$1" >/dev/null || die "$2 is not running"
    fi
}

promote_node() { # DIR NODE
    local dir=$1 node=$2
    is_pg_node "$node" || die "promote: $node is not a PostgreSQL server"
    require_running "$dir" "$node"
    node_frozen "$dir" "$node" && die "promote: $node is frozen (thaw it first)"
    in_recovery_is "$dir" "$node" t || die "promote: $node is not a standby"
    as_server "$PG_BINDIR/pg_ctl" promote -D "$dir/$node" -w -t "$WAIT_SECONDS" -s >/dev/null 2>&1 ||
        { show_log "$dir/log/$node.log"; die "pg_ctl promote of $node failed"; }
    wait_until "$node to accept writes (pg_is_in_recovery() = false)" "$WAIT_SECONDS" \
        in_recovery_is "$dir" "$node" f || { show_log "$dir/log/$node.log"; die "$node was not promoted"; }
}

freeze_node() { # DIR NODE
    local dir=$1 node=$2 main
    require_running "$dir" "$node"
    if is_pg_node "$node"; then main=$(postmaster_pid "$dir" "$node"); else main=$(pgbouncer_pid "$dir"); fi
    # The postmaster first: once it is stopped it forks no new children.
    kill -STOP "$main" || die "could not stop process $main of $node"
    wait_until "every process of $node to stop" "$WAIT_SECONDS" stop_processes "$dir" "$node" ||
        { thaw_processes "$dir" "$node"; die "could not freeze $node"; }
}

thaw_node() { # DIR NODE
    local dir=$1 node=$2 db=postgres
    require_running "$dir" "$node"
    thaw_processes "$dir" "$node"
    wait_until "every process of $node to resume" "$WAIT_SECONDS" node_not_frozen "$dir" "$node" ||
        die "could not thaw $node"
    wait_until "$node to answer queries" "$WAIT_SECONDS" accepts_queries "$dir" "$node" ||
        { show_log "$dir/log/$node.log"; die "$node does not answer after thawing"; }
}

fence_node() { # DIR NODE on|off
    local dir=$1 node=$2 want=$3 sql
    is_pg_node "$node" || die "fence: $node is not a PostgreSQL server"
    require_running "$dir" "$node"
    if [[ $want == on ]]; then
        sql="ALTER SYSTEM SET default_transaction_read_only = on"
    else
        sql="ALTER SYSTEM RESET default_transaction_read_only"
    fi
    # This session itself must be able to write, whatever the node's current default.
    PSQL_DB=postgres node_psql "$dir" "$node" -c "SET default_transaction_read_only = off" \
        -c "$sql" -c "SELECT pg_reload_conf()" >/dev/null || die "could not change the fence of $node"
    wait_until "a new session on $node to see default_transaction_read_only = $want" "$WAIT_SECONDS" \
        setting_is "$dir" "$node" default_transaction_read_only "$want" ||
        die "the fence of $node did not take effect"
}

sync_replication() { # DIR on|off
    local dir=$1 want=$2
    require_running "$dir" primary
    if [[ $want == on ]]; then
        PSQL_DB=postgres node_psql "$dir" primary -c "SET default_transaction_read_only = off" \
            -c "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (replica1, replica2)'" \
            -c "ALTER SYSTEM SET synchronous_commit = on" -c "SELECT pg_reload_conf()" >/dev/null ||
            die "could not turn synchronous replication on"
        wait_until "a synchronous standby in pg_stat_replication" "$WAIT_SECONDS" sync_standby_present "$dir" ||
            die "no replica became a synchronous standby (is one streaming?)"
    else
        PSQL_DB=postgres node_psql "$dir" primary -c "SET default_transaction_read_only = off" \
            -c "ALTER SYSTEM RESET synchronous_standby_names" \
            -c "ALTER SYSTEM RESET synchronous_commit" -c "SELECT pg_reload_conf()" >/dev/null ||
            die "could not turn synchronous replication off"
        wait_until "no synchronous standby in pg_stat_replication" "$WAIT_SECONDS" sync_standby_count_is "$dir" 0 ||
            die "pg_stat_replication still shows a synchronous standby"
    fi
}

# NODE runs as a standby of the original primary and streams from it.
streams_from_primary() { # DIR NODE
    local dir=$1 node=$2 port
    port=$(node_port "$dir" primary)
    postmaster_pid "$dir" "$node" >/dev/null || return 1
    in_recovery_is "$dir" "$node" t || return 1
    [[ " $(node_psql "$dir" "$node" -c "SHOW primary_conninfo") " == *" port=$port "* ]] || return 1
    wait_until "$node to stream from the primary" "$WAIT_SECONDS" replica_streaming "$dir" "$node"
}

slot_exists() { # DIR SLOT
    [[ $(node_psql "$1" primary -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$2'") == 1 ]]
}

slot_inactive() { # DIR SLOT
    [[ $(node_psql "$1" primary -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$2' AND active") == 0 ]]
}

# Replaces NODE's data directory with a fresh base backup of the primary, as 'start' made it.
rebuild_replica() { # DIR NODE
    local dir=$1 node=$2 slot_option=""
    note "rebuilding $node as a replica of the primary (its data is discarded)"
    stop_pg_node "$dir" "$node" immediate
    if slot_exists "$dir" "$node"; then
        wait_until "replication slot $node to be released" "$WAIT_SECONDS" slot_inactive "$dir" "$node" ||
            die "replication slot $node is still in use"
    else
        slot_option=-C
    fi
    rm -rf -- "${dir:?}/$node"
    basebackup_replica "$dir" "$node" "$(node_port "$dir" primary)" $slot_option ||
        { show_log "$dir/log/basebackup-$node.log"; die "pg_basebackup for $node failed"; }
    write_node_conf "$dir" "$node" "$(node_port "$dir" "$node")"
    [[ -z $SERVER_USER ]] || chown "$SERVER_USER": "$dir/$node/node.conf"
    start_pg_node "$dir" "$node"
    wait_until "$node to stream from the primary" "$WAIT_SECONDS" replica_streaming "$dir" "$node" ||
        { show_log "$dir/log/$node.log"; die "rebuilt $node does not stream"; }
}

reset_cluster() { # DIR
    local dir=$1 n
    for n in "${ALL_NODES[@]}"; do thaw_processes "$dir" "$n"; done
    start_pg_node "$dir" primary
    in_recovery_is "$dir" primary f ||
        die "reset: the original primary is a standby; recreate the cluster (stop, start)"
    fence_node "$dir" primary off
    sync_replication "$dir" off
    for n in replica1 replica2; do
        # A replica that does not start (e.g. a broken data directory) is rebuilt too.
        if ! postmaster_pid "$dir" "$n" >/dev/null; then (start_pg_node "$dir" "$n") || true; fi
        if postmaster_pid "$dir" "$n" >/dev/null && streams_from_primary "$dir" "$n"; then
            fence_node "$dir" "$n" off
        else
            rebuild_replica "$dir" "$n"
        fi
    done
    start_pgbouncer "$dir"
    wait_until "pgbouncer to reach the primary" "$WAIT_SECONDS" accepts_queries "$dir" pgbouncer ||
        { show_log "$dir/log/pgbouncer.log"; die "pgbouncer does not reach the primary"; }
    wait_until "both replicas to stream" "$WAIT_SECONDS" primary_streaming_count_is "$dir" 2 ||
        die "replicas are not streaming"
}

cmd_topology() { # ACTION DIR [NODE|on|off]
    local action=$1 dir arg=${3:-}
    case $action in
        reset) (( $# == 2 )) || die "usage: $PROG reset DIR" ;;
        sync) [[ $# -eq 3 && ($arg == on || $arg == off) ]] || die "usage: $PROG sync DIR on|off" ;;
        *) (( $# == 3 )) || die "usage: $PROG $action DIR NODE"; check_node "$arg" ;;
    esac
    dir=$(resolve_cluster "$2")
    with_cluster_lock "$dir" "$@"
    PG_BINDIR=$(find_pg_bindir)
    cd "$dir"
    case $action in
        promote) promote_node "$dir" "$arg" ;;
        freeze) freeze_node "$dir" "$arg" ;;
        thaw) thaw_node "$dir" "$arg" ;;
        fence) fence_node "$dir" "$arg" on ;;
        unfence) fence_node "$dir" "$arg" off ;;
        sync) sync_replication "$dir" "$arg" ;;
        reset) reset_cluster "$dir" ;;
    esac
}

cmd_status() {
    (( $# == 1 )) || die "usage: $PROG status DIR"
    local dir n port pid role state
    dir=$(resolve_cluster "$1")
    state=$(marker_get "$dir" state || echo unknown)
    if cluster_is_stale "$dir"; then state+=", stale: owner gone"; fi
    if [[ $(marker_get "$dir" owner_pid || true) == none ]]; then state+=", kept until stop"; fi
    printf 'cluster %s (%s, owner pid %s)\n' "$dir" "$state" "$(marker_get "$dir" owner_pid || echo '?')"
    for n in "${ALL_NODES[@]}"; do
        port=$(node_port "$dir" "$n")
        if is_pg_node "$n"; then pid=$(postmaster_pid "$dir" "$n" || true); else pid=$(pgbouncer_pid "$dir" || true); fi
        if [[ -z $pid ]]; then
            printf '  %-10s port %-5s down\n' "$n" "$port"
            continue
        fi
        role=""
        if node_frozen "$dir" "$n"; then
            role="frozen"
        elif is_pg_node "$n"; then
            role=$(node_psql "$dir" "$n" -c "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby, wal receiver ' || coalesce((SELECT status FROM pg_stat_wal_receiver), 'not running') ELSE 'primary, ' || (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming') || ' streaming replicas' END" 2>/dev/null || echo "not answering")
        else
            role=$(accepts_queries "$dir" pgbouncer 2>/dev/null && echo "transaction pooling" || echo "not answering")
        fi
        printf '  %-10s port %-5s pid %-7s %s\n' "$n" "$port" "$pid" "$role"
    done
}

main() {
    local cmd=${1:-help}
    (( $# )) && shift
    case $cmd in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        stop-node | start-node | restart-node) cmd_node "$cmd" "$@" ;;
        psql) cmd_psql "$@" ;;
        promote | freeze | thaw | fence | unfence | sync | reset) cmd_topology "$cmd" "$@" ;;
        status) cmd_status "$@" ;;
        cleanup-stale)
            [[ $# -eq 0 || ${1:-} == --all ]] || die "usage: $PROG cleanup-stale [--all]"
            PG_BINDIR=$(find_pg_bindir)
            cleanup_stale "${1:-}"
            ;;
        help | -h | --help) usage ;;
        *) usage >&2; die "unknown command '$cmd'" ;;
    esac
}

main "$@"
