# lib.sh: TAP helpers for the integration scripts, sourced by each of them.
#
# Each script gets a database of its own in the Postgres that tests/run
# started (SKUGEN_TEST_DSN), and a scratch directory that is removed at exit.
# Assertions print "ok N - name" or "not ok N - name" with what was expected.

set -u
SKUGEN=${SKUGEN_BIN:?run through tests/run}
ROOT=${SKUGEN_ROOT:?run through tests/run}
T_N=0
T_FAILED=0
SCRATCH=$(mktemp -d /tmp/skugen-it.XXXXXX)

t_cleanup() { # the EXIT trap: stops the fake start_fake started, removes SCRATCH
	[ -n "${fake_pid:-}" ] && kill "$fake_pid" 2>/dev/null
	rm -rf "$SCRATCH"
}
trap t_cleanup EXIT

t_ok() { # t_ok NAME COMMAND...: passes when the command succeeds
	local name=$1; shift
	T_N=$((T_N + 1))
	if "$@"; then
		echo "ok $T_N - $name"
	else
		echo "not ok $T_N - $name"
		T_FAILED=$((T_FAILED + 1))
	fi
}

t_is() { # t_is NAME GOT EXPECTED
	T_N=$((T_N + 1))
	if [ "$2" = "$3" ]; then
		echo "ok $T_N - $1"
	else
		echo "not ok $T_N - $1"
		echo "#   got:      $(printf '%q' "$2")"
		echo "#   expected: $(printf '%q' "$3")"
		T_FAILED=$((T_FAILED + 1))
	fi
}

t_match() { # t_match NAME TEXT EXTENDED-REGEX
	T_N=$((T_N + 1))
	if printf '%s' "$2" | grep -qE -- "$3"; then
		echo "ok $T_N - $1"
	else
		echo "not ok $T_N - $1"
		echo "#   no match for: $3"
		printf '%s\n' "$2" | head -n 20 | sed 's/^/#   | /'
		T_FAILED=$((T_FAILED + 1))
	fi
}

t_done() {
	echo "1..$T_N"
	[ "$T_FAILED" -eq 0 ]
}

# new_db NAME: a fresh database; sets SKUGEN_DSN to it.
new_db() {
	local db="t_$1_$$"
	psql -q "$SKUGEN_TEST_DSN" -c "drop database if exists $db" -c "create database $db" >/dev/null
	export SKUGEN_DSN="$SKUGEN_TEST_DSN dbname=$db"
}

# sql QUERY: one value from the current database.
sql() {
	psql -qAtX "$SKUGEN_DSN" -c "$1"
}

# skugen ARGS...: run the binary; sets OUT, ERR and RC.
run_skugen() {
	"$SKUGEN" "$@" >"$SCRATCH/out" 2>"$SCRATCH/err"
	RC=$?
	OUT=$(cat "$SCRATCH/out")
	ERR=$(cat "$SCRATCH/err")
}

# wait_listening FILE: wait (10 s at most) until FILE has a "listening" line
# (a fake server's, or skugen serve's).
wait_listening() {
	for _ in $(seq 1 200); do grep -q listening "$1" 2>/dev/null && break; sleep 0.05; done
}

# wait_is EXPECTED COMMAND...: wait (10 s at most) until COMMAND (a function
# such as sql, too) prints EXPECTED; 1 when it never did.
wait_is() {
	local want=$1
	shift
	for _ in $(seq 1 200); do
		[ "$("$@" 2>/dev/null)" = "$want" ] && return 0
		sleep 0.05
	done
	return 1
}

# start_fake PROGRAM ARGS...: the fake server PROGRAM ($SKUGEN_FAKES/PROGRAM,
# e.g. fake_llm) on a free port in the background, stdout in ./fake.out and
# stderr in ./fake.err; waits for its "listening on URL" line.
# Sets fake_pid and base (the URL).  A fake started before is stopped first;
# t_cleanup stops this one at exit.
start_fake() {
	local prog=${SKUGEN_FAKES:?}/$1
	shift
	if [ -n "${fake_pid:-}" ]; then
		kill "$fake_pid" 2>/dev/null
		wait "$fake_pid" 2>/dev/null
	fi
	# Not truncated by the redirect: the shell in the background may open
	# it after wait_listening found the last fake's line there.
	rm -f fake.out
	"$prog" --port 0 "$@" >fake.out 2>fake.err &
	fake_pid=$!
	wait_listening fake.out
	base=$(sed -n 's/^listening on //p' fake.out)
}

# fake_config JSON: POST JSON to the fake's /_fake/config (faults, latency).
fake_config() {
	curl -s -X POST -H 'Content-Type: application/json' -d "$1" "$base/_fake/config" >/dev/null
}
