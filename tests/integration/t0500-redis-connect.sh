#!/bin/sh
# REDIS_URL forms, AUTH with an ACL user, SELECT, and what happens when Redis
# is unreachable or refuses: the exit status and message a user sees.
. tests/lib.sh

start_redis
sock=$REDIS_SOCK
export MM_ROOT="$T/root" MACHINE_ID=box1
mkdir -p "$MM_ROOT/models/loras"
printf 'abc' > "$MM_ROOT/models/loras/a.safetensors"

exit_is 0 "unix:// socket URL" mm mm-report
is "$(rcli sismember models:index:a.safetensors box1)" 1 "report landed through the socket"

rcli flushall > /dev/null
exit_is 0 "redis://host:port/db over TCP" env REDIS_URL="redis://127.0.0.1:$REDIS_PORT/3" "$MM_BIN/mm-report"
is "$(rcli -n 3 sismember models:index:a.safetensors box1)" 1 "database 3 was selected"
is "$(rcli -n 0 dbsize)" 0 "database 0 untouched"

exit_is 0 "unix:// with ?db=" env REDIS_URL="unix://$sock?db=5" "$MM_BIN/mm-report"
is "$(rcli -n 5 exists machine:box1:models)" 1 "database 5 was selected"

# An ACL user with a password that needs percent-encoding.
rcli acl setuser reporter on '>p@ss:w/rd!' '~*' '&*' '+@all' > /dev/null
rcli flushall > /dev/null
exit_is 0 "AUTH with an ACL user and a percent-encoded password" \
	env REDIS_URL="redis://reporter:p%40ss%3Aw%2Frd%21@127.0.0.1:$REDIS_PORT/0" "$MM_BIN/mm-report"
is "$(rcli sismember machine:box1:model_names a.safetensors)" 1 "the ACL user wrote the inventory"

exit_is 2 "a wrong password is a configuration error" \
	env REDIS_URL="redis://reporter:hunter2wrong@127.0.0.1:$REDIS_PORT/0" MM_REDIS_RETRY_SECONDS=5 \
	"$MM_BIN/mm-report"
like "$(cat "$T/err")" "authentication refused for user reporter" "the message says why"
unlike "$(cat "$T/err")" "hunter2wrong" "the password is not in the message"

exit_is 0 "mm-route connects with the same URL forms" \
	env REDIS_URL="redis://reporter:p%40ss%3Aw%2Frd%21@127.0.0.1:$REDIS_PORT" "$MM_BIN/mm-route" where a.safetensors
is "$(tr -d ' \t\n' < "$T/out")" '["box1"]' "where answers through an ACL login"

# A user that may read but not write: a clear error, no partial inventory.
rcli acl setuser viewer on '>viewpass1' '~*' '&*' '+@read' '+@connection' > /dev/null
rcli flushall > /dev/null
exit_is 2 "an ACL user without write rights: configuration error" \
	env REDIS_URL="redis://viewer:viewpass1@127.0.0.1:$REDIS_PORT/0" "$MM_BIN/mm-report"
like "$(cat "$T/err")" "NOPERM" "the message carries Redis's refusal"
is "$(rcli dbsize)" 0 "nothing was written"

exit_is 2 "a malformed REDIS_URL is a usage error" env REDIS_URL="redis://h:99999" "$MM_BIN/mm-report"
like "$(cat "$T/err")" "bad port" "the message names the port"
exit_is 2 "an unknown scheme is a usage error" env REDIS_URL="http://h:1" "$MM_BIN/mm-route" where x
# rediss:// is always built in; t0510-redis-tls.sh tests it.

# Unreachable: retries for MM_REDIS_RETRY_SECONDS, then exit 4 naming the address.
stop_redis
start=$(date +%s)
exit_is 4 "Redis down: exit 4" env REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" MM_REDIS_RETRY_SECONDS=1 \
	"$MM_BIN/mm-report"
end=$(date +%s)
like "$(cat "$T/err")" "redis://127.0.0.1:$REDIS_PORT/0" "the message names the address"
if [ $((end - start)) -le 20 ]; then pass "gave up in bounded time"; else fail "gave up in bounded time" "took $((end - start)) s"; fi
exit_is 4 "Redis down: mm-route exits 4 too" env REDIS_URL="unix://$sock" MM_REDIS_RETRY_SECONDS=0 \
	"$MM_BIN/mm-route" where a.safetensors
exit_is 4 "a password in the URL stays out of the unreachable message" \
	env REDIS_URL="redis://u:sekr1tpass@127.0.0.1:$REDIS_PORT" MM_REDIS_RETRY_SECONDS=0 "$MM_BIN/mm-report"
unlike "$(cat "$T/err")" "sekr1tpass" "no password in the message"
like "$(cat "$T/err")" "redis://u@127.0.0.1" "the address is shown without it"
exit_is 2 "a bad MM_REDIS_RETRY_SECONDS is a usage error" env MM_REDIS_RETRY_SECONDS=soon "$MM_BIN/mm-report"

done_testing
