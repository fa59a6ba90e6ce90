#!/bin/sh
# One job cannot stop routing for the fleet: a pending job needing 10,000
# models is skipped (more than the limit of 256, the same in mm.lua and in
# the findMatchingJob drop-in) while matching goes on, explain says why, no function unpacks an unbounded list, and an
# error reply from Redis exits 1, not 4 (which means Redis was not reached).
. tests/lib.sh

start_redis
now=$(date +%s)

# m1 holds 10,000 models and the normal job's; its heartbeat is fresh.
python3 -c '
import json, sys
names = ["big-%05d.safetensors" % i for i in range(10000)]
open(sys.argv[1], "w").write(json.dumps({"models": names}))
open(sys.argv[2], "w").write(" ".join(names))
' "$T/big.json" "$T/names"
# shellcheck disable=SC2046 # one argument a name, on purpose
rcli sadd machine:m1:model_names $(cat "$T/names") sdxl vae > /dev/null
tr ' ' '\n' < "$T/names" | sed 's/^/SADD models:index:/; s/$/ m1/' | rcli > /dev/null
for n in sdxl vae; do rcli sadd "models:index:$n" m1 > /dev/null; done
rcli zadd machines:models:heartbeat "$now" m1 > /dev/null

rcli hset job:big id big service_required comfyui priority 99 > /dev/null
rcli -x hset job:big requirements < "$T/big.json" > /dev/null
rcli zadd jobs:pending 99 big > /dev/null
rcli hset job:normal id normal service_required comfyui priority 50 \
	requirements '{"models":["sdxl","vae"]}' > /dev/null
rcli zadd jobs:pending 50 normal > /dev/null

exit_is 0 "match without --claim still works past the big job" mm mm-route match m1 w1 comfyui
is "$(json_get job_id "$T/out")" normal "and gives the normal job"
exit_is 0 "explain the big job" mm mm-route explain big
is "$(json_get never_matched "$T/out")" "it needs 10000 models, more than the limit of 256" \
	"explain says why it is never matched"
is "$(json_get models.# "$T/out")" 10000 "and lists its 10,000 models"
is "$(json_get can_run.# "$T/out")" 0 "no machine can run it"
exit_is 0 "explain --table on the big job" mm mm-route --table explain big
like "$(cat "$T/out")" '^skipped +never matched: it needs 10000 models, more than the limit of 256$' \
	"the table says why too"
exit_is 0 "explain a normal job" mm mm-route explain normal
is "$(json_get never_matched "$T/out")" null "a normal job has no reason not to be matched"
is "$(json_get can_run "$T/out")" '["m1"]' "and m1 can run it"
is "$(rcli fcall mm_find_matching_job 0 m1 w1 comfyui | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobId"])')" \
	normal "FCALL mm_find_matching_job claims the normal job"
is "$(rcli zscore jobs:pending big)" 99 "the big job stays pending"
is "$(rcli hget job:normal worker_id)" w1 "the normal job is w1's"

# Exactly the limit is matched; one more is not.
python3 -c '
import json, sys
for n, path in ((256, sys.argv[1]), (257, sys.argv[2])):
    open(path, "w").write(json.dumps({"models": ["big-%05d.safetensors" % i for i in range(n)]}))
' "$T/256.json" "$T/257.json"
rcli hset job:j257 id j257 service_required comfyui > /dev/null
rcli -x hset job:j257 requirements < "$T/257.json" > /dev/null
rcli zadd jobs:pending 80 j257 > /dev/null
rcli hset job:j256 id j256 service_required comfyui > /dev/null
rcli -x hset job:j256 requirements < "$T/256.json" > /dev/null
rcli zadd jobs:pending 70 j256 > /dev/null
exit_is 0 "a job needing exactly 256 models is matched" mm mm-route match --claim m1 w1 comfyui
is "$(json_get job_id "$T/out")" j256 "past the one needing 257"

# where with 10,000 names, and 10,000 live machines holding one model.
exit_is 0 "where with 10,000 model names" sh -c '"$MM_BIN/mm-route" where $(cat "$1") vae' sh "$T/names"
is "$(tr -d ' \t\n' < "$T/out")" '["m1"]' "m1 holds them all"
python3 -c '
import sys
now = int(sys.argv[1])
ids = ["fleet-%05d" % i for i in range(10000)]
print("SADD models:index:common " + " ".join(ids))
print("ZADD machines:models:heartbeat " + " ".join("%d %s" % (now, i) for i in ids))
' "$now" | rcli > /dev/null
exit_is 0 "where over 10,000 live machines" mm mm-route where common
is "$(json_get '#' "$T/out")" 10000 "all 10,000 are listed"

# An error reply (a key of the wrong type) is exit 1 with Redis's message.
rcli set machine:m9:model_names oops > /dev/null
rcli hset job:small id small requirements '{"models":["vae"]}' > /dev/null
rcli zadd jobs:pending 10 small > /dev/null
rcli zadd machines:models:heartbeat "$now" m9 > /dev/null
exit_is 1 "an error reply from Redis exits 1, not 4" mm mm-route match m9 w9 comfyui
like "$(cat "$T/err")" "WRONGTYPE" "the message is Redis's"
is "$(cat "$T/out")" "" "nothing on stdout"
rcli set machines:models:heartbeat oops > /dev/null
exit_is 1 "where on a broken heartbeat key exits 1" mm mm-route where vae
exit_is 1 "explain on it exits 1" mm mm-route explain normal

done_testing
