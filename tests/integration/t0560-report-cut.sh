#!/bin/sh
# A connection cut between MULTI and EXEC: Redis discards the transaction,
# mm-report connects again and sends the whole report once more; when every
# try is cut it exits 4 and Redis still holds the previous inventory, whole.
. tests/lib.sh

start_redis
export MM_ROOT="$T/root" MACHINE_ID=cut-1 MM_REDIS_RETRY_SECONDS=2
m=$MM_ROOT/models
mkdir -p "$m/loras"
printf 'a' > "$m/loras/a.safetensors"
printf 'b' > "$m/loras/b.safetensors"
exit_is 0 "a first report" mm mm-report
names() { rcli smembers machine:cut-1:model_names | sort | tr '\n' ' '; }

rm "$m/loras/a.safetensors"
printf 'c' > "$m/loras/c.safetensors"
start_redis_proxy --cut-on EXEC --times 1
exit_is 0 "cut once before EXEC: the report is sent again" env REDIS_URL="$PROXY_URL" "$MM_BIN/mm-report"
like "$(cat "$T/err")" "reconnecting" "the cut is logged"
is "$(names)" "b.safetensors c.safetensors " "the new inventory is whole"
is "$(rcli exists models:index:a.safetensors)" 0 "the gone model left the index"
stop_redis_proxy

printf 'd' > "$m/loras/d.safetensors"
start_redis_proxy --cut-on EXEC --times 100
exit_is 4 "cut every time: exit 4" env REDIS_URL="$PROXY_URL" "$MM_BIN/mm-report"
is "$(names)" "b.safetensors c.safetensors " "the previous inventory is untouched"
is "$(rcli exists models:index:d.safetensors)" 0 "nothing of the new one was applied"

done_testing
