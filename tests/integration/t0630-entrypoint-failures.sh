#!/bin/sh
# mm-entrypoint when things go wrong: the API down (cache or none), a failed
# download, MM_ON_FAILURE=abort, Redis down.  By default the command starts
# and the inventory says exactly what the machine holds.
. tests/lib.sh
. tests/lib-entry.sh

entry_setup
boot 0 "a first boot fills the cache"

# The API is down, its answers are cached.
fix_rule '{"prefix": "/workflows/", "status": 503}'
MM_API_MAX_AGE=0 boot 0 "the API down with a cached answer"
check "the command ran" test -s "$T/comfy.pid"
like "$(cat "$T/boot.err")" 'mm-discover: .*(cache|cached)' "mm-discover warns it used the cache"
like "$(cat "$T/boot.err")" '3 present, 0 downloaded, 0 failed' "every model is there"
fix_reset
entry_rules

# A download fails: the command starts without that model, and says so.
rm "$MM_ROOT/models/loras/b.safetensors"
(unset HF_TOKEN; boot 0 "a failed download still starts the command")
err=$(cat "$T/boot.err")
check "the command ran" test -s "$T/comfy.pid"
like "$err" 'mm-entrypoint: fetch: exit 1 \(some models failed\)' "the stage that failed, and why"
like "$err" '2 present, 0 downloaded, 1 failed' "the totals count it"
like "$err" 'FAILED' "a loud summary"
like "$err" 'mm-entrypoint:   models/loras/b\.safetensors: fetch .*HF_TOKEN' "naming the model and the variable to set"
is "$(rcli sismember machine:test-machine:model_names b.safetensors)" 0 "the missing model is not in the inventory"
is "$(rcli scard machine:test-machine:model_names)" 2 "the others are"

# MM_ON_FAILURE=abort: the command does not start.
rm -f "$T/comfy.pid"
(unset HF_TOKEN; MM_ON_FAILURE=abort boot 1 "MM_ON_FAILURE=abort exits 1 on a failed download")
check "the command did not run" test ! -e "$T/comfy.pid"
like "$(cat "$T/boot.err")" 'MM_ON_FAILURE=abort: not starting .*fetch: exit 1' "says why"
check "no ready marker" test ! -e "$MM_STATE_DIR/ready"
check "a failed marker instead" test -s "$MM_STATE_DIR/failed"
is "$(rcli exists machine:test-machine:model_names)" 0 "the machine is out of the inventory: it runs no command"
exit_is 1 "--wait gives up at once on the failed marker" sh "$ENTRY" --wait --timeout 20
like "$(cat "$T/err")" 'model setup failed' "and says so"

# Not enough disk space for a model: nothing is downloaded; abort exits 5.
api_workflow huge "[{\"name\": \"huge.safetensors\", \"downloadUrl\": \"$FIX_URL/files/huge.safetensors\",
  \"saveTo\": \"models/checkpoints/huge.safetensors\", \"fileSize\": \"900TB\"}]"
WORKFLOW_IDS=wf,huge boot 0 "a model too big for the disk still starts the command"
like "$(cat "$T/boot.err")" 'fetch: exit 5 \(not enough disk space\)' "names the stage and the reason"
like "$(cat "$T/boot.err")" 'models/checkpoints/huge\.safetensors: fetch failed: not enough disk space' "and the model"
WORKFLOW_IDS=wf,huge MM_ON_FAILURE=abort boot 5 "with MM_ON_FAILURE=abort it exits 5"
check "the command did not run" test ! -e "$T/comfy.pid"
is "$(fix_count /files/huge.safetensors)" 0 "nothing was downloaded"

# The API down and nothing cached: the command starts on what the disk holds.
fix_rule '{"prefix": "/workflows/", "status": 503}'
MM_STATE_DIR=$T/fresh boot 0 "the API down with no cache still starts the command"
check "the command ran" test -s "$T/comfy.pid"
like "$(cat "$T/boot.err")" 'discover: exit 4 \(a service is unreachable\)' "the stage and the reason"
is "$(rcli scard machine:test-machine:model_names)" 2 "the inventory is what the disk holds"
MM_STATE_DIR=$T/fresh2 MM_ON_FAILURE=abort boot 4 "the same with MM_ON_FAILURE=abort exits 4"
check "the command did not run" test ! -e "$T/comfy.pid"
fix_reset
entry_rules

# Redis down: the command still starts, and the inventory appears once Redis
# is back, without a restart.
stop_redis
COMFY_SECONDS=60 sh "$ENTRY" "$T/comfy" > "$T/entry.out" 2> "$T/boot.err" &
pid=$!
track_pid "$pid"
if wait_until 30 test -s "$T/comfy.pid"; then
	pass "Redis down still starts the command"
else
	fail "Redis down still starts the command" "$(cat "$T/boot.err")"
fi
like "$(cat "$T/boot.err")" 'redis is unreachable: starting .* anyway' "and says the watcher keeps trying"
check "the models are ready" test -e "$MM_STATE_DIR/ready"
entry_track
start_redis "$REDIS_PORT"
inventory() {
	[ "$(rcli scard machine:test-machine:model_names)" = 3 ]
}
if wait_until 30 inventory; then
	pass "the watcher reports once Redis is back"
else
	fail "the watcher reports once Redis is back" "$(rcli keys '*')"
fi
kill -TERM "$pid"
wait "$pid"
no_leak hf_entry_secret "the token is in no file, log or manifest" "$T/boot.err" "$MM_STATE_DIR"

done_testing
