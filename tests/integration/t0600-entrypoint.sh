#!/bin/sh
# mm-entrypoint: the models are on disk and in Redis before the command
# starts, the command is exec'd (signals reach it), and the machine leaves
# the inventory when the command is gone.
. tests/lib.sh
. tests/lib-entry.sh

entry_setup

COMFY_SECONDS=30 sh "$ENTRY" "$T/comfy" --listen 0.0.0.0 > "$T/entry.out" 2> "$T/entry.err" &
pid=$!
track_pid "$pid"
if wait_until 30 test -s "$T/comfy.pid"; then
	pass "the command starts"
else
	fail "the command starts" "$(cat "$T/entry.err")"
fi
is "$(cat "$T/comfy.pid")" "$pid" "it is exec'd: the entrypoint's own process"
is "$(cat "$T/comfy.saw")" "ready
models/checkpoints/a.safetensors
models/loras/b.safetensors
models/vae/c.safetensors" "it starts after the ready marker, with every model on disk"
check "a.safetensors has the right bytes" cmp "$MM_ROOT/models/checkpoints/a.safetensors" "$FIX_ROOT/files/a.safetensors"
check "b.safetensors (token) has the right bytes" cmp "$MM_ROOT/models/loras/b.safetensors" "$FIX_ROOT/files/b.safetensors"
check "c.safetensors (redirect) has the right bytes" cmp "$MM_ROOT/models/vae/c.safetensors" "$FIX_ROOT/files/c.safetensors"
is "$(fix_count --host 127.0.0.2 /files/c.safetensors)" 1 "the redirect was followed to the other host"
if fix_header --host 127.0.0.2 /files/c.safetensors authorization > /dev/null; then
	fail "no token at the redirect target"
else
	pass "no token at the redirect target"
fi

err=$(cat "$T/entry.err")
like "$err" 'mm-entrypoint: discover [0-9.]+ m?s, fetch [0-9.]+ m?s, verify [0-9.]+ m?s, report [0-9.]+ m?s$' "each stage's time"
like "$err" 'mm-entrypoint: models ready in [0-9.]+ s: 0 present, 3 downloaded \(586KB, [0-9.]+[KMGT]?B/s\), 0 failed' "the totals line"
is "$(cat "$T/entry.out")" "" "nothing on stdout"
is "$(json_get models.# "$MM_STATE_DIR/manifest.json")" 3 "the final manifest is saved"
is "$(json_get models.1.verify.status "$MM_STATE_DIR/manifest.json")" ok "with the verify results"
check "the ready marker is there" test -e "$MM_STATE_DIR/ready"

is "$(rcli smembers machine:test-machine:model_names | sort | tr '\n' ' ')" \
	"a.safetensors b.safetensors c.safetensors " "the inventory is in Redis"
is "$(rcli sismember models:index:b.safetensors test-machine)" 1 "and in the model index"
watcher=$(cat "$MM_STATE_DIR/watch-test-machine.pid")
track_pid "$watcher"
check "the heartbeat watcher runs" kill -0 "$watcher"
hb1=$(rcli zscore machines:models:heartbeat test-machine)
isnt "$hb1" "" "the machine has a heartbeat"

kill -TERM "$pid"
wait "$pid"
is "$?" 42 "SIGTERM reaches the command, whose exit status is the entrypoint's"
is "$(cat "$T/comfy.term" 2>/dev/null)" TERM "the command saw SIGTERM"
if wait_until 15 sh -c "! kill -0 $watcher 2>/dev/null"; then
	pass "the watcher stops when the command is gone"
else
	fail "the watcher stops when the command is gone"
fi
if wait_until 5 sh -c '[ "$(redis-cli -s "$REDIS_SOCK" exists machine:test-machine:model_names)" = 0 ]'; then
	pass "and the machine leaves the inventory"
else
	fail "and the machine leaves the inventory" "$(rcli keys '*')"
fi
no_leak hf_entry_secret "the token is in no file, log or manifest" "$T/entry.err" "$T/entry.out" "$MM_STATE_DIR"

# MM_LOG_FORMAT=json: every line on stderr is one JSON object, the
# entrypoint's own included.
rm -f "$MM_ROOT/models/vae/c.safetensors"
MM_LOG_FORMAT=json exit_is 0 "a boot with MM_LOG_FORMAT=json" sh "$ENTRY" "$T/comfy"
entry_track
cp "$T/err" "$T/json.err"
check "every line on stderr is a JSON object with time, level, prog and msg" python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert set(o) >= {"time", "level", "prog", "msg"}, line' "$T/json.err"
like "$(cat "$T/json.err")" '"prog":"mm-entrypoint","msg":"models ready in [0-9.]+ s: 2 present, 1 downloaded' "the totals line among them"

done_testing
