# embedded.sh: the embedded store: created on first use under SKUGEN_HOME,
# unix socket only, reused, stopped by `skugen db stop`; as root the server
# runs as an unprivileged user.
. "$(dirname "$0")/lib.sh"
unset SKUGEN_DSN
export SKUGEN_HOME="$SCRATCH/home"
chmod 755 "$SCRATCH"
trap '"$SKUGEN" db stop >/dev/null 2>&1; rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH"

run_skugen db status
t_is "db status before creation exits 3" "$RC" 3
t_match "db status says it is not created" "$OUT" "not created"

mkdir -p templates/copy
printf '{{name}}\n' >templates/copy/default.mustache
printf '{"sku": "E-1", "name": "Espresso cup"}\n' >catalog.jsonl
printf '{"source": {"type": "file", "path": "catalog.jsonl"}, "locales": ["en_US"],\n "generators": {"rules": {"type": "template"}},\n "outputs": [{"name": "copy", "generator": "rules"}]}\n' >skugen.json
run_skugen run
t_is "a run with no DSN starts the embedded store and completes" "$RC" 0
t_match "it generated" "$OUT" "1 generated"
t_ok "the cluster lives under SKUGEN_HOME" test -f "$SKUGEN_HOME/pgdata/PG_VERSION"

run_skugen db status
t_is "db status exits 0 while it runs" "$RC" 0
t_match "db status says it runs" "$OUT" "running"

pid=$(head -n 1 "$SKUGEN_HOME/pgdata/postmaster.pid")
t_ok "the server does not run as root" test "$(ps -o user= -p "$pid" | tr -d ' ')" != root
t_is "it listens on no TCP address" \
	"$("$SKUGEN" db psql -qAtX -c "show listen_addresses")" ""

run_skugen db dsn
t_match "db dsn names the socket directory" "$OUT" "host=$SKUGEN_HOME/run "
run_skugen run
t_match "the next command reuses the same store" "$OUT" "0 generated, 1 unchanged"
t_is "db psql reaches the store" "$("$SKUGEN" db psql -qAtX -c "select count(*) from skugen.generations")" 1
# The DSN travels in PG* variables: psql's command line, which ps shows to
# every user, holds no connection parameters.
"$SKUGEN" db psql -qAtX -c "select pg_sleep(2)" >/dev/null &
psql_pid=$!
sleep 0.5
t_match "db psql is psql itself" "$(tr '\0' ' ' </proc/$psql_pid/cmdline)" "(^|/)psql -qAtX -c select pg_sleep"
t_ok "psql's command line holds no DSN" bash -c "! tr '\\0' ' ' </proc/$psql_pid/cmdline | grep -q 'host='"
wait $psql_pid

run_skugen db stop
t_is "db stop exits 0" "$RC" 0
run_skugen db status
t_match "after db stop it is stopped" "$OUT" "stopped"
run_skugen db start
t_is "db start starts it again" "$RC" 0
t_is "the data survived" "$("$SKUGEN" db psql -qAtX -c "select count(*) from skugen.generations")" 1

# As root, from a directory the server's user cannot enter (a checkout under
# /root, say): the server's files move to /var/tmp, and everything works.
if [ "$(id -u)" -eq 0 ]; then
	mkdir -p "$SCRATCH/private/shop"
	chmod 700 "$SCRATCH/private"
	priv_home="$SCRATCH/private/shop/.skugen"
	SKUGEN_HOME="$priv_home" run_skugen db start
	t_is "db start from a directory the server cannot enter exits 0" "$RC" 0
	t_match "it says where the data lives instead" "$ERR" "cannot enter .*: its data lives in /var/tmp/skugen-"
	relocated=$(printf '%s' "$OUT" | sed -n 's/^host=\([^ ]*\)\/run .*/\1/p')
	t_is "the store answers" "$(SKUGEN_HOME="$priv_home" "$SKUGEN" db psql -qAtX -c "select 1")" 1
	SKUGEN_HOME="$priv_home" "$SKUGEN" db stop >/dev/null 2>&1
	case "$relocated" in /var/tmp/skugen-*) rm -rf "$relocated" ;; esac
else
	T_N=$((T_N + 1)); echo "ok $T_N # SKIP not root: the relocation only happens for root"
fi

t_done
