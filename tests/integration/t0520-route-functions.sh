#!/bin/sh
# The `mm` function library and mm-route on the job queue's layout: where,
# machine, explain, match with and without --claim, "all",
# positive_requirements, stale machines, bad requirements, exit statuses.
. tests/lib.sh

start_redis
now=$(date +%s)

# Two machines with overlapping models, and a stale third.
inv() { # inv ID AGE NAME…
	id=$1 age=$2
	shift 2
	rcli sadd "machine:$id:model_names" "$@" > /dev/null
	for n in "$@"; do rcli sadd "models:index:$n" "$id" > /dev/null; done
	rcli hset "machine:$id:models" machine_id "$id" last_updated 2026-01-01T00:00:00Z total_models $# \
		total_size_gb 1.5 models '[{"name":"x","saveTo":"models/x","size":1}]' > /dev/null
	rcli zadd machines:models:heartbeat $((now - age)) "$id" > /dev/null
}
inv m1 5 flux sdxl vae
inv m2 5 sdxl vae lora
inv m3 600 flux sdxl vae lora

job() { # job ID SCORE SERVICE REQUIREMENTS
	rcli hset "job:$1" id "$1" service_required "$3" priority 50 payload '{}' requirements "$4" > /dev/null
	rcli zadd jobs:pending "$2" "$1" > /dev/null
}

exit_is 0 "mm-route where loads the library by itself" mm mm-route where sdxl
is "$(tr -d ' \t\n' < "$T/out")" '["m1","m2"]' "live machines holding sdxl (stale m3 left out)"
like "$(rcli function list libraryname mm)" "mm_find_matching_job" "the library is loaded"
exit_is 0 "where with two models" mm mm-route where sdxl lora
is "$(tr -d ' \t\n' < "$T/out")" '["m2"]' "only m2 holds both"
exit_is 1 "where nobody holds it: exit 1" mm mm-route where flux lora
is "$(tr -d ' \t\n' < "$T/out")" '[]' "an empty array"
exit_is 0 "a longer --stale-after counts m3 as live" mm mm-route --stale-after 3600 where flux lora
is "$(tr -d ' \t\n' < "$T/out")" '["m3"]' "m3 holds both"
exit_is 0 "where --table" mm mm-route --table where vae
is "$(cat "$T/out")" "m1
m2" "one id a line"
is "$(rcli fcall_ro mm_machines_with_models 0 flux vae)" m1 "FCALL mm_machines_with_models as DESIGN.md spells it"

exit_is 0 "mm-route machine" mm mm-route machine m1
python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert o["machine_id"] == "m1" and o["live"] is True, o
assert o["model_names"] == ["flux", "sdxl", "vae"], o
assert o["total_models"] == 3 and o["models"][0]["saveTo"] == "models/x", o
assert 0 <= o["age_seconds"] < 60, o
' "$T/out" && pass "machine: names, totals, freshness" || fail "machine: names, totals, freshness" "$(cat "$T/out")"
exit_is 0 "a stale machine is shown as not live" mm mm-route machine m3
like "$(cat "$T/out")" '"live":[[:space:]]*false' "live: false"
exit_is 1 "an unknown machine: exit 1" mm mm-route machine nope
is "$(cat "$T/out")" null "prints null"
exit_is 0 "machine --table" mm mm-route --table machine m2
like "$(cat "$T/out")" '^live +yes' "table says live"

# Jobs.
job j-lora 90 comfyui '{"models":["lora","sdxl"]}'
job j-flux 80 comfyui '{"positive_requirements":{"models":["flux"]}}'
job j-any 10 comfyui '{"models":"all"}'
job j-bad 95 comfyui 'not json'
job j-a1111 99 a1111 '{"models":["sdxl"]}'
job j-none 70 comfyui '{"models":["unobtainium"]}'

exit_is 0 "explain a job" mm mm-route explain j-lora
python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert o["pending"] is True and o["service_required"] == "comfyui", o
assert o["models"] == ["lora", "sdxl"], o
assert o["can_run"] == ["m2"], o
assert o["missing"] == {"m1": ["lora"]}, o
' "$T/out" && pass "explain: m2 can, m1 lacks lora, stale m3 not considered" || fail "explain" "$(cat "$T/out")"
exit_is 0 "explain a job with bad requirements" mm mm-route explain j-bad
like "$(cat "$T/out")" '"requirements_valid":[[:space:]]*false' "says the requirements are invalid"
exit_is 0 "explain --table" mm mm-route --table explain j-lora
like "$(cat "$T/out")" '^m1 +lacks lora$' "table names what m1 lacks"
exit_is 1 "explain an unknown job: exit 1" mm mm-route explain nope

exit_is 0 "match without --claim" mm mm-route match m1 w1 comfyui
like "$(cat "$T/out")" '"job_id":[[:space:]]*"j-flux"' "m1 would get j-flux (j-lora needs lora, j-bad is skipped)"
python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert list(o) == ["job_id", "job"], o
assert o["job"]["id"] == "j-flux", o
' "$T/out" && pass "match answers job_id, as explain does, and the job" || fail "match: job_id" "$(cat "$T/out")"
exit_is 0 "match --table" mm mm-route --table match m1 w1 comfyui
like "$(head -n 1 "$T/out")" '^job j-flux$' "the table names the job"
is "$(rcli zscore jobs:pending j-flux)" 80 "without --claim nothing changes"
is "$(rcli hget job:j-flux status)" "" "no status written"

exit_is 0 "match --claim" mm mm-route match --claim m1 w1 comfyui
is "$(rcli zscore jobs:pending j-flux)" "" "claimed: gone from jobs:pending"
is "$(rcli hget job:j-flux status)" assigned "job status assigned"
is "$(rcli hget job:j-flux worker_id)" w1 "job worker_id"
like "$(rcli hget job:j-flux assigned_at)" '^20[0-9]{2}-' "job assigned_at"
like "$(rcli hget jobs:active:w1 j-flux)" '"status":"assigned"' "jobs:active:w1 holds the job JSON"

is "$(rcli fcall mm_find_matching_job 0 m1 w1 comfyui | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobId"])')" \
	j-any "next for m1: the \"all\" job"
is "$(rcli fcall mm_find_matching_job 0 m1 w1 comfyui)" "" "then nothing for m1"
is "$(rcli fcall mm_find_matching_job 0 m3 w3 comfyui)" "" "stale m3 gets nothing though it holds everything"
is "$(rcli fcall mm_find_matching_job 0 m3 w3 comfyui 100 3600 | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobId"])')" \
	j-lora "with a longer threshold m3 is live"
is "$(rcli fcall mm_find_matching_job 0 m2 w2 comfyui)" "" "j-lora already taken; j-none held by nobody"
is "$(rcli zscore jobs:pending j-none)" 70 "a job no machine can run stays pending"
is "$(rcli zscore jobs:pending j-bad)" 95 "a job with bad requirements stays pending"
is "$(rcli fcall mm_find_matching_job 0 m2 w2 a1111 | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobId"])')" \
	j-a1111 "service decides too"
exit_is 1 "match finding nothing: exit 1" mm mm-route match m1 w1 comfyui
is "$(cat "$T/out")" null "prints null"

# max_scan bounds the work: a matching job below the first N is not seen.
rcli del jobs:pending > /dev/null
for i in 1 2 3 4 5; do job "blocker$i" $((100 + i)) comfyui '{"models":["unobtainium"]}'; done
job j-low 1 comfyui '{"models":["vae"]}'
exit_is 1 "--max-scan 5 does not reach the sixth job" mm mm-route --max-scan 5 match m1 w1 comfyui
exit_is 0 "--max-scan 6 does" mm mm-route --max-scan 6 match m1 w1 comfyui
like "$(rcli fcall mm_find_matching_job 0 m1 w1 comfyui 0 2>&1)" "max_scan must be a positive number" \
	"a bad max_scan is an error reply"

exit_is 2 "match needs three arguments" mm mm-route match m1 w1
exit_is 2 "--claim goes with match only" mm mm-route --claim where x
exit_is 2 "unknown command" mm mm-route frob
exit_is 2 "bad --stale-after" mm mm-route --stale-after -1 where x
exit_is 0 "--version" mm mm-route --version
like "$(cat "$T/out")" '^mm-route [0-9]' "version on stdout"

done_testing
