#!/bin/sh
# Two ComfyUI instances (one per GPU) share one MM_ROOT: one pipeline runs at
# a time, both commands start with every model there, and each machine id
# keeps its own heartbeat watcher.
. tests/lib.sh
. tests/lib-entry.sh

entry_setup
need flock
# The first download is held back, so that the second entrypoint arrives
# while the first is still preparing the models.
fix_rule '{"path": "/files/a.safetensors", "delay": 1, "times": 1}'

mkdir "$T/gpu0" "$T/gpu1"
comfy=$T/comfy
(cd "$T/gpu0" && T=$T/gpu0 MACHINE_ID=gpu-0 COMFY_SECONDS=60 exec sh "$ENTRY" "$comfy") \
	> "$T/gpu0.out" 2> "$T/gpu0.err" &
pid0=$!
track_pid "$pid0"
fix_wait /files/a.safetensors
(cd "$T/gpu1" && T=$T/gpu1 MACHINE_ID=gpu-1 COMFY_SECONDS=60 exec sh "$ENTRY" "$comfy") \
	> "$T/gpu1.out" 2> "$T/gpu1.err" &
pid1=$!
track_pid "$pid1"

if wait_until 30 test -s "$T/gpu0/comfy.pid" && wait_until 30 test -s "$T/gpu1/comfy.pid"; then
	pass "both commands start"
else
	fail "both commands start" "$(cat "$T/gpu0.err" "$T/gpu1.err")"
fi
entry_track
like "$(cat "$T/gpu1.err")" 'another mm-entrypoint is preparing the models' "the second waited for the first"
like "$(cat "$T/gpu1.err")" '3 present, 0 downloaded, 0 failed' "and then found every model there"
is "$(fix_count /files/a.safetensors)" 1 "each file was downloaded once"
is "$(sed -n 1p "$T/gpu0/comfy.saw") $(sed -n 1p "$T/gpu1/comfy.saw")" "ready ready" \
	"each started after the ready marker"
is "$(rcli scard machine:gpu-0:model_names) $(rcli scard machine:gpu-1:model_names)" "3 3" \
	"both machines are in the inventory"
w0=$(cat "$MM_STATE_DIR/watch-gpu-0.pid")
w1=$(cat "$MM_STATE_DIR/watch-gpu-1.pid")
check "gpu-0's watcher runs" kill -0 "$w0"
check "gpu-1's watcher runs" kill -0 "$w1"

kill -TERM "$pid0" "$pid1"
wait "$pid0" "$pid1"

done_testing
