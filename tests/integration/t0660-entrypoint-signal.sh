#!/bin/sh
# mm-entrypoint stopped by SIGTERM while it downloads: the download stops,
# the command never starts, and no partial file is left at a final path.
. tests/lib.sh
. tests/lib-entry.sh

entry_setup
fix_rule '{"path": "/files/a.safetensors", "stall_after": 100000, "stall_seconds": 60}'

sh "$ENTRY" "$T/comfy" > "$T/entry.out" 2> "$T/entry.err" &
pid=$!
track_pid "$pid"
if fix_wait --bytes 100000 --timeout 30 /files/a.safetensors; then
	pass "the download has started"
else
	fail "the download has started" "$(cat "$T/entry.err")"
fi
kill -TERM "$pid"
if wait_until 20 sh -c "! kill -0 $pid 2>/dev/null"; then
	pass "the entrypoint stops at once"
else
	fail "the entrypoint stops at once"
fi
wait "$pid"
is "$?" 143 "exit 143"
check "the command never started" test ! -e "$T/comfy.pid"
check "no ready marker" test ! -e "$MM_STATE_DIR/ready"
check "no partial file at the final path" test ! -e "$MM_ROOT/models/checkpoints/a.safetensors"
like "$(cat "$T/entry.err")" 'interrupted during fetch; not starting the command' "it says so"
aborted() {
	[ "$(fix_log /files/a.safetensors | json_get -1.aborted)" = true ]
}
if wait_until 10 aborted; then
	pass "the download was stopped, not left running"
else
	fail "the download was stopped, not left running" "$(fix_log /files/a.safetensors)"
fi

done_testing
