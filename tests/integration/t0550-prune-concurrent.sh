#!/bin/sh
# --prune-stale run by several machines at once, while a live machine keeps
# reporting: every stale machine is removed exactly once, with its index
# entries, and the live machine's inventory is never touched.
. tests/lib.sh

start_redis
export MM_ROOT="$T/root"
mkdir -p "$MM_ROOT/models/loras"
for n in a b c; do printf '%s' "$n" > "$MM_ROOT/models/loras/$n.safetensors"; done

i=1
while [ "$i" -le 20 ]; do
	MACHINE_ID=old-$i mm mm-report > /dev/null || fail "register old-$i"
	i=$((i + 1))
done
old=$(( $(date +%s) - 3600 ))
i=1
while [ "$i" -le 20 ]; do
	rcli zadd machines:models:heartbeat "$old" "old-$i" > /dev/null
	i=$((i + 1))
done
is "$(rcli scard models:index:a.safetensors)" 20 "20 machines registered"

MACHINE_ID=live "$MM_BIN/mm-report" --watch --interval 0.2 < /dev/null > /dev/null 2> "$T/live.err" &
live=$!
track_pid "$live"
up() { [ "$(rcli sismember models:index:a.safetensors live)" = 1 ]; }
wait_until 10 up || fail "the live machine reports"

for p in 1 2 3; do
	"$MM_BIN/mm-report" --prune-stale 600 > "$T/prune$p.out" 2> "$T/prune$p.err" &
	eval "pid$p=\$!"
done
rcs=
for p in 1 2 3; do
	eval "wait \$pid$p"
	rcs="$rcs$?"
done
is "$rcs" 000 "three concurrent prunes succeed"
total=0
for p in 1 2 3; do
	n=$(sed -n 's/^{"pruned":\([0-9]*\)}$/\1/p' "$T/prune$p.out")
	total=$((total + ${n:-0}))
done
is "$total" 20 "each stale machine pruned exactly once between them"
is "$(rcli smembers models:index:a.safetensors)" live "only the live machine is left in the index"
is "$(rcli zrange machines:models:heartbeat 0 -1)" live "only its heartbeat is left"
is "$(rcli keys 'machine:old-*')" "" "no key of a stale machine is left"
is "$(rcli scard machine:live:model_names)" 3 "the live machine's inventory is whole"

kill -TERM "$live"
wait "$live"
is "$(rcli exists machine:live:models)" 0 "and it deregisters on SIGTERM"

done_testing
