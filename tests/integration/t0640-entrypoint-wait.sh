#!/bin/sh
# mm-entrypoint --wait blocks until the models are ready, and gives up
# after --timeout.
. tests/lib.sh
. tests/lib-entry.sh

entry_setup

exit_is 1 "--wait --timeout 1 with nothing ready exits 1" sh "$ENTRY" --wait --timeout 1
like "$(cat "$T/err")" 'did not appear within 1 s' "and says what it waited for"

# A waiter started before the entrypoint returns once the models are ready.
sh "$ENTRY" --wait --timeout 60 > "$T/wait.out" 2>&1 &
waiter=$!
track_pid "$waiter"
sleep 0.3
check "the waiter is still waiting" kill -0 "$waiter"
boot 0 "the entrypoint runs"
wait "$waiter"
is "$?" 0 "the waiter exits 0 once ready"
check "the models were there for it" test -s "$MM_ROOT/models/checkpoints/a.safetensors"

done_testing
