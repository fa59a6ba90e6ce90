#!/bin/sh
# scripts/redis/jobMatching.lua, the drop-in findMatchingJob: every check of
# the job queue's deployed function (service, workflow restriction,
# hardware, customer isolation, custom capabilities, negative requirements,
# unparsable requirements, max_scan, priority), the claim's side effects
# field by field (job hash, jobs:active, worker hash, both PUBLISHes, the
# progress stream), then the models of mm's inventory: a mixed fleet, the
# model-count limit among 10,000 pending jobs, two workers racing, and a
# worker whose capabilities are built as the deployed worker builds them.
. tests/lib.sh

start_redis
rcli -x function load replace < scripts/redis/jobMatching.lua > "$T/load" 2>&1
is "$(cat "$T/load")" jobMatching "the library loads as jobMatching"

# job ID SCORE SERVICE REQUIREMENTS [FIELD VALUE…]: a job as the queue writes it.
job() {
	_id=$1 _score=$2 _svc=$3 _req=$4
	shift 4
	rcli del "job:$_id" > /dev/null
	if [ -n "$_svc" ]; then
		rcli hset "job:$_id" id "$_id" service_required "$_svc" priority "$_score" \
			payload '{"prompt":"p"}' requirements "$_req" status pending retry_count 0 \
			max_retries 3 "$@" > /dev/null
	else
		rcli hset "job:$_id" id "$_id" priority "$_score" payload '{}' requirements "$_req" \
			status pending "$@" > /dev/null
	fi
	rcli zadd jobs:pending "$_score" "$_id" > /dev/null
}

# fm CAPS [MAX_SCAN [STALE_AFTER]]: the call every worker makes; prints the
# claimed job's id, or nothing.
fm() {
	rcli fcall findMatchingJob 0 "$1" "${2:-10}" ${3:+"$3"} | sed -n 's/.*"jobId":"\([^"]*\)".*/\1/p'
}

# drain CAPS [STALE_AFTER]: claim until nothing is left for CAPS; the ids, sorted, on one line.
drain() {
	_got=""
	while :; do
		_j=$(fm "$1" 100 "${2:-}")
		[ -n "$_j" ] || break
		_got="$_got $_j"
	done
	printf '%s\n' $_got | sort | tr '\n' ' ' | sed 's/ $//'
}

reset() {
	rcli eval "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end" 0 'job*' > /dev/null
	rcli eval "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end" 0 'worker:*' > /dev/null
	rcli eval "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end" 0 'progress:*' > /dev/null
}

W='{"worker_id":"w1","job_service_required_map":["comfyui","a1111"]}'

# ---------------------------------------------------------------- the claim

rcli subscribe job_claimed update_job_progress > "$T/sub" 2>&1 &
sub=$!
track_pid "$sub"
wait_until 10 grep -q update_job_progress "$T/sub" || fail "subscribed" "$(cat "$T/sub")"

is "$(fm "$W")" "" "an empty queue: nil"
job j1 100 comfyui '{}' customer_id cust-1 workflow_id wf-1 step_number 2 total_steps 5
before=$(date +%s)
rcli fcall findMatchingJob 0 "$W" 10 > "$T/reply"
after=$(date +%s)
python3 - "$T/reply" <<'EOF' && pass "reply: jobId and the job hash as it was read" || fail "reply" "$(cat "$T/reply")"
import json, sys
o = json.load(open(sys.argv[1]))
assert set(o) == {"jobId", "job"}, o
assert o["jobId"] == "j1", o
assert o["job"] == {"id": "j1", "service_required": "comfyui", "priority": "100",
    "payload": '{"prompt":"p"}', "requirements": "{}", "status": "pending", "retry_count": "0",
    "max_retries": "3", "customer_id": "cust-1", "workflow_id": "wf-1", "step_number": "2",
    "total_steps": "5"}, o
EOF
is "$(rcli zscore jobs:pending j1)" "" "claimed: ZREM from jobs:pending"
is "$(rcli hget job:j1 status)" assigned "job hash: status assigned"
is "$(rcli hget job:j1 worker_id)" w1 "job hash: worker_id"
ts=$(rcli hget job:j1 assigned_at)
like "$ts" '^[0-9]{10}\.[0-9]{6}$' "job hash: assigned_at is TIME as seconds.microseconds"
if [ "${ts%.*}" -ge "$before" ] && [ "${ts%.*}" -le "$after" ]; then pass "assigned_at is now"; else fail "assigned_at is now" "$ts"; fi
is "$(rcli hlen job:j1)" 14 "job hash: worker_id and assigned_at added, nothing else"
python3 -c '
import json, sys
a = json.loads(sys.argv[1]); r = json.loads(open(sys.argv[2]).read())
assert a == r["job"], (a, r)
' "$(rcli hget jobs:active:w1 j1)" "$T/reply" && pass "jobs:active:w1 holds the job JSON as it was read" ||
	fail "jobs:active:w1" "$(rcli hgetall jobs:active:w1)"
is "$(rcli hget worker:w1 status)" busy "worker hash: status busy"
is "$(rcli hget worker:w1 current_job_id)" j1 "worker hash: current_job_id"
like "$(rcli hget worker:w1 last_status_change)" '^[0-9]{10}\.[0-9]{6}$' "worker hash: last_status_change"
wait_until 10 grep -q '"progress":0' "$T/sub" || true
python3 - "$T/sub" "$before" "$after" <<'EOF' && pass "PUBLISH job_claimed and update_job_progress, every field" || fail "published events" "$(cat "$T/sub")"
import json, re, sys
lines = open(sys.argv[1]).read().split("\n")
before, after = int(sys.argv[2]), int(sys.argv[3])
msgs = [(lines[i + 1], json.loads(lines[i + 2])) for i in range(len(lines) - 2) if lines[i] == "message"]
assert [c for c, _ in msgs] == ["job_claimed", "update_job_progress"], msgs
c = msgs[0][1]
assert set(c) == {"job_id", "worker_id", "status", "message", "claimed_at", "timestamp",
                  "service_required", "customer_id", "workflow_id", "step_number", "total_steps"}, c
assert c["job_id"] == "j1" and c["worker_id"] == "w1" and c["status"] == "claimed", c
assert c["message"] == "Job claimed by worker", c
assert re.fullmatch(r"[0-9]{10}\.[0-9]{6}", c["claimed_at"]), c
assert isinstance(c["timestamp"], int) and c["timestamp"] % 1000 == 0, c
assert before * 1000 <= c["timestamp"] <= after * 1000, c
assert (c["service_required"], c["customer_id"], c["workflow_id"], c["step_number"], c["total_steps"]) == \
    ("comfyui", "cust-1", "wf-1", "2", "5"), c
p = msgs[1][1]
assert p == {"job_id": "j1", "worker_id": "w1", "progress": 0, "timestamp": c["timestamp"]}, p
EOF
rcli xrange progress:j1 - + > "$T/x"
python3 - "$T/x" <<'EOF' && pass "XADD progress:j1: one entry, every field" || fail "progress stream" "$(cat "$T/x")"
import re, sys
l = open(sys.argv[1]).read().split("\n")
assert re.fullmatch(r"[0-9]+-[0-9]+", l[0]), l
f = l[1:13]
assert f[:10] == ["job_id", "j1", "worker_id", "w1", "status", "assigned", "progress", "0",
                  "message", "Job assigned to worker"], f
assert f[10] == "assigned_at" and re.fullmatch(r"[0-9]{10}\.[0-9]{6}", f[11]), f
assert l[13:] in ([], [""]), l
EOF
# Fields the job lacks are absent from job_claimed.
job j2 100 comfyui '{}'
is "$(fm "$W")" j2 "a job without customer, workflow or steps"
wait_until 10 sh -c "grep -c job_claimed '$T/sub' | grep -q 3" || true
python3 - "$T/sub" <<'EOF' && pass "job_claimed leaves out the fields the job has not" || fail "job_claimed without fields" "$(cat "$T/sub")"
import json, sys
lines = open(sys.argv[1]).read().split("\n")
msgs = [json.loads(lines[i + 2]) for i in range(len(lines) - 2) if lines[i] == "message" and lines[i + 1] == "job_claimed"]
assert set(msgs[-1]) == {"job_id", "worker_id", "status", "message", "claimed_at", "timestamp", "service_required"}, msgs[-1]
EOF
kill "$sub" 2>/dev/null

# ---------------------------------------------------------------- the checks

reset
job js 100 comfyui '{}'
is "$(fm '{"worker_id":"w2","job_service_required_map":["a1111"]}')" "" "service: a worker without it gets nothing"
is "$(rcli zscore jobs:pending js)" 100 "and the job stays pending"
is "$(fm '{"worker_id":"w2"}')" "" "service: a worker without a map gets nothing"
is "$(fm '{"worker_id":"w2","job_service_required_map":"comfyui"}')" "" "service: a map that is not a list matches nothing"
is "$(fm "$W")" js "service: a worker listing it gets it"
job jn 100 "" '{}'
is "$(fm '{"worker_id":"w2"}')" jn "a job without service_required goes to any worker"

reset
job low 50 comfyui '{}'
job high 200 comfyui '{}'
job mid 100 comfyui '{}'
is "$(fm "$W")" high "priority: the highest score first"
is "$(fm "$W")" mid "then the next"
is "$(fm "$W" 1)" low "max_scan 1 sees the top job"

reset
for i in 1 2 3; do job "top$i" $((200 + i)) a1111-only '{}'; done
job under 10 comfyui '{}'
is "$(fm "$W" 3)" "" "max_scan 3: the fourth job is not looked at"
is "$(fm "$W" notanumber)" under "max_scan not a number: 100, as deployed"

reset
job nowf 100 comfyui '{}'
job wfb 90 comfyui '{}' workflow_id wf-b
job wfa 80 comfyui '{}' workflow_id wf-a
WA='{"worker_id":"wa","job_service_required_map":["comfyui"],"workflow_id":"wf-a"}'
is "$(fm "$WA")" wfa "workflow restriction: only the worker's workflow (no-workflow and other-workflow jobs skipped)"
is "$(fm "$WA")" "" "then nothing"
is "$(fm '{"worker_id":"wx","job_service_required_map":["comfyui"],"workflow_id":""}')" nowf \
	"an empty workflow_id restricts nothing"

reset
job hw 100 comfyui '{"hardware":{"gpu_memory_gb":24,"cpu_cores":8,"ram_gb":"all"}}'
is "$(fm '{"worker_id":"h1","job_service_required_map":["comfyui"],"hardware":{"gpu_memory_gb":16,"cpu_cores":16}}')" "" \
	"hardware: 16 GB of GPU memory is less than 24"
is "$(fm '{"worker_id":"h1","job_service_required_map":["comfyui"],"hardware":{"gpu_memory_gb":24}}')" "" \
	"hardware: cpu_cores missing fails"
is "$(fm '{"worker_id":"h1","job_service_required_map":["comfyui"]}')" "" "hardware: no hardware at all fails"
is "$(fm '{"worker_id":"h1","job_service_required_map":["comfyui"],"hardware":{"gpu_memory_gb":"24","cpu_cores":8}}')" "" \
	"hardware: a string against a number fails (no error)"
is "$(fm '{"worker_id":"h1","job_service_required_map":["comfyui"],"hardware":{"gpu_memory_gb":48,"cpu_cores":8}}')" hw \
	"hardware: at least as much of each (ram_gb \"all\" asks nothing)"
job hwp 100 comfyui '{"positive_requirements":{"hardware":{"ram_gb":64}}}'
is "$(fm '{"worker_id":"h1","job_service_required_map":["comfyui"],"hardware":{"ram_gb":32}}')" "" \
	"hardware under positive_requirements"
is "$(fm '{"worker_id":"h1","job_service_required_map":["comfyui"],"hardware":{"ram_gb":64}}')" hwp "64 GB is enough"

reset
job iso 100 comfyui '{"customer_isolation":"strict"}' customer_id cust-123
is "$(fm '{"worker_id":"c1","job_service_required_map":["comfyui"],"customer_access":{"isolation":"loose"}}')" "" \
	"strict isolation: a loose worker gets nothing"
is "$(fm '{"worker_id":"c1","job_service_required_map":["comfyui"]}')" "" "strict isolation: no customer_access gets nothing"
is "$(fm '{"worker_id":"c1","job_service_required_map":["comfyui"],"customer_access":{"isolation":"strict"}}')" iso \
	"strict isolation: a strict worker gets it"
job allow 100 comfyui '{"customer_isolation":"loose"}' customer_id cust-456
is "$(fm '{"worker_id":"c2","job_service_required_map":["comfyui"],"customer_access":{"allowed_customers":["cust-789"]}}')" "" \
	"allowed_customers without the customer: nothing"
is "$(fm '{"worker_id":"c2","job_service_required_map":["comfyui"],"customer_access":{"denied_customers":["cust-456"]}}')" "" \
	"denied_customers with the customer: nothing"
is "$(fm '{"worker_id":"c2","job_service_required_map":["comfyui"],"customer_access":{"allowed_customers":["cust-456","cust-789"],"denied_customers":["x"]}}')" allow \
	"allowed and not denied: claimed"
job noiso 100 comfyui '{}' customer_id cust-456
is "$(fm '{"worker_id":"c2","job_service_required_map":["comfyui"],"customer_access":{"allowed_customers":["other"]}}')" noiso \
	"as deployed, the customer lists apply only to a job asking for customer_isolation"

reset
job cust 100 comfyui '{"region":"us-west","certification":"hipaa","custom_feature":{"enabled":true,"version":2},"compliance":["sox","pci"],"gpu.vendor":"nvidia"}'
CW='"worker_id":"cu","job_service_required_map":["comfyui"],"region":"us-west","certification":"hipaa","gpu":{"vendor":"nvidia"}'
is "$(fm "{$CW,\"custom_feature\":{\"enabled\":true,\"version\":1},\"compliance\":[\"sox\",\"pci\",\"gdpr\"]}")" "" \
	"custom: a nested number below the job's fails"
is "$(fm "{$CW,\"custom_feature\":{\"enabled\":false,\"version\":3},\"compliance\":[\"sox\",\"pci\"]}")" "" \
	"custom: a nested boolean that differs fails"
is "$(fm "{$CW,\"custom_feature\":{\"enabled\":true,\"version\":3},\"compliance\":[\"sox\"]}")" "" \
	"custom: an array missing one item fails"
is "$(fm "{$CW,\"custom_feature\":{\"enabled\":true,\"version\":3},\"compliance\":\"sox\"}")" "" \
	"custom: a string where an array is wanted fails"
is "$(fm "{$(echo "$CW" | sed 's/us-west/eu/'),\"custom_feature\":{\"enabled\":true,\"version\":3},\"compliance\":[\"sox\",\"pci\"]}")" "" \
	"custom: a different string fails"
is "$(fm "{$(echo "$CW" | sed 's/nvidia/amd/'),\"custom_feature\":{\"enabled\":true,\"version\":3},\"compliance\":[\"sox\",\"pci\"]}")" "" \
	"custom: a dotted path (gpu.vendor) is looked up nested"
is "$(fm "{$CW,\"custom_feature\":{\"enabled\":true,\"version\":3},\"compliance\":[\"pci\",\"gdpr\",\"sox\"]}")" cust \
	"custom: nested at least, arrays holding all, strings equal, dotted path: claimed"
job num 100 comfyui '{"positive_requirements":{"vram":12,"tags":"fast"}}'
is "$(fm '{"worker_id":"cu","job_service_required_map":["comfyui"],"vram":8,"tags":["fast"]}')" "" "custom: a number below fails"
is "$(fm '{"worker_id":"cu","job_service_required_map":["comfyui"],"vram":12,"tags":["slow","fast"]}')" num \
	"custom: a number at least, an array holding the one value"
job miss 100 comfyui '{"special_hardware":"quantum_processor"}'
is "$(fm '{"worker_id":"cu","job_service_required_map":["comfyui"]}')" "" "custom: a capability the worker lacks fails"

reset
job neg 100 comfyui '{"positive_requirements":{},"negative_requirements":{"hardware":{"gpu_model":"RTX 3080"},"region":"eu"}}'
is "$(fm '{"worker_id":"n1","job_service_required_map":["comfyui"],"hardware":{"gpu_model":"RTX 3080"}}')" "" \
	"negative: refused hardware"
is "$(fm '{"worker_id":"n1","job_service_required_map":["comfyui"],"hardware":{"gpu_model":"RTX 4090"},"region":"eu"}')" "" \
	"negative: a refused capability"
is "$(fm '{"worker_id":"n1","job_service_required_map":["comfyui"],"hardware":{"gpu_model":"RTX 4090"},"region":"us"}')" neg \
	"negative: neither: claimed"
job negtop 100 comfyui '{"negative_requirements":{"region":"eu"}}'
is "$(fm '{"worker_id":"n1","job_service_required_map":["comfyui"],"region":"us"}')" "" \
	"as deployed, negative_requirements without positive_requirements is itself a required capability"

reset
job bad 100 comfyui 'not json {'
job scalar 90 comfyui '42'
is "$(fm "$W")" bad "requirements that do not parse count as empty"
is "$(fm "$W")" scalar "requirements that parse to a number count as empty (deployed: a Lua error)"
rcli zadd jobs:pending 500 ghost > /dev/null
job real 100 comfyui '{}'
is "$(fm "$W")" real "a pending id without a job hash is skipped"
is "$(rcli zscore jobs:pending ghost)" 500 "and left where it is"

reset
job m1 100 comfyui '{"models":["sdxl"]}'
job m2 90 comfyui '{"models":["sdxl","controlnet"]}'
job m3 80 comfyui '{"models":"all"}'
job m4 70 comfyui '{"models":"flux"}'
MW='{"worker_id":"mw","job_service_required_map":["comfyui"],"models":{"comfyui":["sdxl","sd15"]}}'
is "$(drain "$MW")" "m1 m3 m4" "deployed model rule (no machine_id): held list, \"all\", a lone name; not a missing model"
is "$(rcli zscore jobs:pending m2)" 90 "the job needing controlnet stays pending"

like "$(rcli fcall findMatchingJob 0 'not json' 10 2>&1)" "capabilities are not a JSON object" "capabilities that do not parse: an error reply"
like "$(rcli fcall findMatchingJob 0 '{"job_service_required_map":["comfyui"]}' 10 2>&1)" "no worker_id" \
	"capabilities without worker_id: an error reply"
is "$(rcli zscore jobs:pending m2)" 90 "and nothing claimed"

# ---------------------------------------------------------------- mm's inventory

# inv ID AGE NAME…: a machine's inventory as mm-report writes it, AGE seconds old.
inv() {
	_id=$1 _age=$2
	shift 2
	rcli del "machine:$_id:model_names" > /dev/null
	[ $# -gt 0 ] && rcli sadd "machine:$_id:model_names" "$@" > /dev/null
	rcli hset "machine:$_id:models" machine_id "$_id" total_models $# > /dev/null
	rcli zadd machines:models:heartbeat $(($(date +%s) - _age)) "$_id" > /dev/null
}
inv m-live 5 flux.safetensors sdxl.safetensors vae.safetensors
inv m-stale 600 flux.safetensors sdxl.safetensors vae.safetensors lora.safetensors
# The deployed ComfyUI worker: models {"comfyui": ["comfyui-default"]}, its machine_id.
caps() {
	printf '{"worker_id":"%s","machine_id":"%s","job_service_required_map":["comfyui"],"models":{"comfyui":["comfyui-default"]},"hardware":{"gpu_memory_gb":24,"gpu_model":"RTX 4090","ram_gb":64},"customer_access":{"isolation":"loose"},"services":["comfyui"],"connectors":["comfyui"]}' "$1" "$2"
}
plant() {
	reset
	job list 100 comfyui '{"models":["flux.safetensors","vae.safetensors"]}'
	job single 95 comfyui '{"models":"sdxl.safetensors"}'
	job all 90 comfyui '{"models":"all"}'
	job absent 85 comfyui '{"hardware":{"gpu_memory_gb":"all"}}'
	job pos 80 comfyui '{"positive_requirements":{"models":["sdxl.safetensors"]}}'
	job lora 75 comfyui '{"models":["lora.safetensors","flux.safetensors"]}'
	job bad 70 comfyui '{"models":[flux'
	job odd 65 comfyui '{"models":[{"name":"flux.safetensors"}]}'
}
fresh() { # the live machine reported just now
	rcli zadd machines:models:heartbeat "$(date +%s)" m-live > /dev/null
}
plant
is "$(drain "$(caps w-live m-live)")" "absent all bad list pos single" \
	"live inventory: jobs whose models the machine holds (list, one name, positive_requirements), \"all\", none, unparsable"
is "$(rcli zrevrange jobs:pending 0 -1 | tr '\n' ' ')" "lora odd " "the job needing a model it lacks, and one naming no model, stay pending"
plant
is "$(drain "$(caps w-stale m-stale)")" "absent all bad single" \
	"stale inventory: the deployed rule (comfyui-default holds no list; a lone name, \"all\", none pass)"
plant
is "$(drain "$(caps w-none m-none)")" "absent all bad single" "no inventory: the deployed rule"
plant
is "$(drain '{"worker_id":"w-noid","job_service_required_map":["comfyui"],"models":{"comfyui":["comfyui-default"]}}')" \
	"absent all bad single" "no machine_id: the deployed rule"
plant
is "$(drain "$(caps w-stale m-stale)" 3600)" "absent all bad list lora pos single" \
	"a third argument, stale_after 3600: the stale machine counts as live"
plant
is "$(fm "$(caps w-stale m-stale)" 3)" single "the stale machine passes over the list job for the next one it can run"
is "$(rcli zscore jobs:pending list)" 100 "the list job stays for a machine that holds its models"
is "$(drain "$(caps w-live2 m-live)")" "absent all bad list pos" "the live machine gets the rest it can run"

# A machine that stops reporting stops getting jobs by models.
plant
rcli zadd machines:models:heartbeat $(($(date +%s) - 121)) m-live > /dev/null
is "$(fm "$(caps w-live m-live)" 100)" single "121 s without a heartbeat: the default stale-after (120 s) has passed"
fresh

# ---------------------------------------------------------------- two workers race

reset
i=0 ok=1
while [ $i -lt 20 ]; do
	rcli del "job:race$i" > /dev/null
	job "race$i" 100 comfyui '{"models":["flux.safetensors"]}'
	fresh
	rcli fcall findMatchingJob 0 "$(caps wa m-live)" 10 > "$T/ra" &
	pa=$!
	rcli fcall findMatchingJob 0 "$(caps wb m-live)" 10 > "$T/rb" &
	pb=$!
	wait "$pa" "$pb"
	n=$(cat "$T/ra" "$T/rb" | grep -c "race$i")
	[ "$n" -eq 1 ] || ok=0
	w=$(rcli hget "job:race$i" worker_id)
	[ "$(rcli hget "jobs:active:$w" "race$i" | grep -c "race$i")" -eq 1 ] || ok=0
	[ -z "$(rcli zscore jobs:pending "race$i")" ] || ok=0
	i=$((i + 1))
done
is "$ok" 1 "two workers racing for one job, 20 times: exactly one wins each time, and holds it"
is "$(( $(rcli hlen jobs:active:wa) + $(rcli hlen jobs:active:wb) ))" 20 "20 claims in all"

# ---------------------------------------------------------------- at scale

reset
# 300 models on m-live; 10,000 pending jobs; one naming 10,000 models at the top.
python3 -c '
import json
names = ["model-%d.safetensors" % i for i in range(300)]
def cmd(*a):
    out = ["*%d\r\n" % len(a)]
    for x in a:
        b = x.encode()
        out.append("$%d\r\n%s\r\n" % (len(b), x))
    return "".join(out)
import sys
w = sys.stdout.write
w(cmd("SADD", "machine:m-live:model_names", *names))
for i in range(10000):
    req = json.dumps({"models": [names[(i * 7 + k) % 300] for k in range(1 + i % 4)]})
    if i == 5000:
        req = json.dumps({"models": [names[k % 300] if k < 300 else "x-%d" % k for k in range(10000)]})
        score = 100000
    elif i == 5001:
        req = json.dumps({"models": names[:256]})
        score = 99999
    elif i == 5002:
        req = json.dumps({"models": names[:257]})
        score = 99998
    else:
        score = i
    w(cmd("HSET", "job:s%d" % i, "id", "s%d" % i, "service_required", "comfyui", "requirements", req))
    w(cmd("ZADD", "jobs:pending", str(score), "s%d" % i))
' | rcli --pipe > "$T/pipe" 2>&1
like "$(cat "$T/pipe")" "errors: 0" "10,000 jobs planted"
fresh
is "$(rcli zcard jobs:pending)" 10000 "10,000 pending"
is "$(fm "$(caps w-big m-live)" 100)" s5001 "the 10,000-model job is skipped; a job of 256 models (the limit), all held, is claimed"
is "$(fm "$(caps w-big m-live)" 100)" s9999 "a job of 257 models is over the limit: skipped; routing goes on"
is "$(rcli zscore jobs:pending s5000)" 100000 "the 10,000-model job stays pending"
is "$(rcli zscore jobs:pending s5002)" 99998 "and so does the 257-model one"
is "$(fm '{"worker_id":"w-big2","job_service_required_map":["comfyui"],"models":{"comfyui":["model-1.safetensors"]}}' 100)" "" \
	"without an inventory, the deployed rule skips them too (and finds nothing else)"
t0=$(date +%s%N)
is "$(fm "$(caps w-big m-live)" 1000)" s9998 "max_scan 1000 over the 10,000: claims the next"
t1=$(date +%s%N)
if [ $(((t1 - t0) / 1000000)) -lt 5000 ]; then pass "one claim under 5 s"; else fail "one claim under 5 s" "$(((t1 - t0) / 1000000)) ms"; fi
is "$(fm "$(caps w-big m-live)" 100000)" s9997 "a max_scan above 1000 is taken as 1000 (no error)"
is "$(rcli ping)" PONG "the server is still answering"
exit_is 0 "mm-route explain a job over the model limit" mm mm-route explain s5002
is "$(json_get find_matching_job.model_count "$T/out")" 257 "explain counts its models"
like "$(json_get find_matching_job.reason "$T/out")" "more than findMatchingJob's limit of 256: no worker gets it; it stays pending" \
	"explain says why it stays pending"
exit_is 0 "mm-route --table explain" mm mm-route --table explain s5002
like "$(cat "$T/out")" "^findMatchingJob: names 257 models" "the table says it too"
exit_is 0 "explain a job within the limit" mm mm-route explain s9000
is "$(json_get find_matching_job.reason "$T/out")" "" "no reason to give"

done_testing
