#!/bin/sh
# mm-report --watch: reports at once when the model folders change (inotify),
# heartbeats every interval, survives a Redis restart, and deregisters on
# SIGTERM unless --keep-on-exit.
. tests/lib.sh

start_redis
export MM_ROOT="$T/root" MACHINE_ID=watcher
m=$MM_ROOT/models
mkdir -p "$m/loras"
printf 'a' > "$m/loras/a.safetensors"

in_index() { [ "$(rcli sismember "models:index:$1" watcher)" = "$2" ]; }

# A long interval: anything seen quickly was seen through inotify.
"$MM_BIN/mm-report" --watch --interval 600 < /dev/null > "$T/w1.out" 2> "$T/w1.err" &
pid=$!
track_pid "$pid"
wait_until 10 in_index a.safetensors 1 && pass "first report at start" || fail "first report at start" "$(cat "$T/w1.err")"

printf 'b' > "$m/loras/b.safetensors"
wait_until 10 in_index b.safetensors 1 && pass "a new file is reported at once" || fail "a new file is reported at once"
mkdir -p "$m/unet/deep"
printf 'c' > "$m/unet/deep/c.safetensors"
wait_until 10 in_index c.safetensors 1 && pass "a file in a new folder is reported" || fail "a file in a new folder is reported"
rm "$m/loras/a.safetensors"
wait_until 10 in_index a.safetensors 0 && pass "a deleted file leaves the index at once" || fail "a deleted file leaves the index at once"
printf 'partial' > "$m/loras/.d.safetensors.mm-part"
mv "$m/loras/.d.safetensors.mm-part" "$m/loras/d.safetensors"
wait_until 10 in_index d.safetensors 1 && pass "a part file renamed into place is reported" || fail "a part file renamed into place is reported"

kill -TERM "$pid"
wait "$pid"
is "$?" 143 "SIGTERM: exit 143"
is "$(rcli exists machine:watcher:models machine:watcher:model_names)" 0 "SIGTERM deregisters: keys gone"
is "$(rcli exists models:index:b.safetensors models:index:d.safetensors)" 0 "index entries gone"
is "$(rcli zscore machines:models:heartbeat watcher)" "" "heartbeat gone"

# A short interval: heartbeats, and a Redis restart survived.
"$MM_BIN/mm-report" --watch --interval 0.5 --keep-on-exit < /dev/null > "$T/w2.out" 2> "$T/w2.err" &
pid=$!
track_pid "$pid"
wait_until 10 in_index b.safetensors 1 && pass "second watcher reports" || fail "second watcher reports" "$(cat "$T/w2.err")"
hb1=$(rcli zscore machines:models:heartbeat watcher)
newer() { [ "$(rcli zscore machines:models:heartbeat watcher)" -gt "$hb1" ] 2>/dev/null; }
wait_until 10 newer && pass "the heartbeat moves on" || fail "the heartbeat moves on"

restart_redis
wait_until 30 in_index b.safetensors 1 && pass "reports resume after a Redis restart" \
	|| fail "reports resume after a Redis restart" "$(cat "$T/w2.err")"
is "$(rcli scard machine:watcher:model_names)" 3 "the whole inventory is back"
kill -0 "$pid" 2>/dev/null && pass "the watcher kept running" || fail "the watcher kept running"

kill -TERM "$pid"
wait "$pid"
is "$?" 143 "SIGTERM: exit 143"
is "$(rcli sismember models:index:b.safetensors watcher)" 1 "--keep-on-exit leaves the inventory"
like "$(cat "$T/w2.err")" "retrying" "the outage was logged"
is "$(cat "$T/w2.out")" "" "no manifest in, nothing on stdout"

done_testing
