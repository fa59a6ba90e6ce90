#!/bin/sh
# Workflows: mm-report publishes machine:<id>:workflows (the workflows whose
# every model, by the manifest's sources, is on the disk and verified) and
# workflows:index:<w>; findMatchingJob sends a job with no model list whose
# workflow_id a live machine publishes only to machines that publish it,
# and routes a workflow nobody live publishes as deployed.
. tests/lib.sh

start_redis
rcli -x function load replace < scripts/redis/jobMatching.lua > /dev/null
export MM_ROOT="$T/root" MACHINE_ID=gpu-1
m=$MM_ROOT/models
mkdir -p "$m/unet" "$m/vae" "$m/loras" "$m/ckpt"
head -c 100 /dev/zero > "$m/unet/flux.safetensors"
head -c 50 /dev/zero > "$m/vae/ae.safetensors"
head -c 20 /dev/zero > "$m/loras/style.safetensors"
head -c 20 /dev/zero > "$m/ckpt/broken.safetensors"

cat > "$T/manifest.json" <<'EOF'
{"models": [
 {"name": "flux.safetensors", "saveTo": "models/unet/flux.safetensors", "downloadUrl": "http://x/f",
  "source": "workflow:txt2img-flux", "sources": ["workflow:txt2img-flux", "collection:c1/workflow:flux-lora"],
  "verify": {"status": "ok"}},
 {"name": "ae.safetensors", "saveTo": "models/vae/ae.safetensors", "downloadUrl": "http://x/a",
  "source": "workflow:txt2img-flux", "sources": ["workflow:txt2img-flux", "component:legacy-vae"],
  "verify": {"status": "ok"}},
 {"name": "style.safetensors", "saveTo": "models/loras/style.safetensors", "downloadUrl": "http://x/s",
  "source": "collection:c1/workflow:flux-lora", "sources": ["collection:c1/workflow:flux-lora"],
  "verify": {"status": "unverified"}},
 {"name": "sdxl.safetensors", "saveTo": "models/ckpt/sdxl.safetensors", "downloadUrl": "http://x/x",
  "source": "workflow:sdxl-base", "sources": ["workflow:sdxl-base"], "verify": {"status": "missing"}},
 {"name": "broken.safetensors", "saveTo": "models/ckpt/broken.safetensors", "downloadUrl": "http://x/b",
  "source": "workflow:broken-wf", "sources": ["workflow:broken-wf"], "verify": {"status": "mismatch"}}
]}
EOF

exit_is 0 "--dry-run with a manifest" mm mm-report --dry-run "$T/manifest.json"
like "$(cat "$T/err")" "^SADD machine:gpu-1:workflows txt2img-flux$" "--dry-run shows the workflows it would publish"
like "$(cat "$T/err")" "^SADD workflows:index:legacy-vae gpu-1$" "and their index"
unlike "$(cat "$T/err")" "flux-lora|sdxl-base|broken-wf" "and not the others"
is "$(rcli exists machine:gpu-1:workflows)" 0 "--dry-run writes nothing"
exit_is 0 "a report with a manifest" mm mm-report "$T/manifest.json"
cmp -s "$T/out" "$T/manifest.json" && pass "the manifest passes through unchanged" || fail "the manifest passes through unchanged"
is "$(rcli smembers machine:gpu-1:workflows | sort | tr '\n' ' ')" "legacy-vae txt2img-flux " \
	"workflows: every model on disk and verified (unverified, missing, mismatched ones keep theirs out)"
is "$(rcli smembers workflows:index:txt2img-flux)" gpu-1 "workflows:index:txt2img-flux holds the machine"
is "$(rcli exists workflows:index:flux-lora)" 0 "a workflow with an unverified model is not indexed"

# A second machine publishing the same workflow; then gpu-1 loses a model.
mkdir -p "$T/root2/models/unet" "$T/root2/models/vae"
cp "$m/unet/flux.safetensors" "$T/root2/models/unet/"
cp "$m/vae/ae.safetensors" "$T/root2/models/vae/"
MACHINE_ID=gpu-2 MM_ROOT=$T/root2 mm mm-report "$T/manifest.json" > /dev/null
is "$(rcli smembers workflows:index:txt2img-flux | sort | tr '\n' ' ')" "gpu-1 gpu-2 " "two machines in one workflow index"
rm "$m/vae/ae.safetensors"
exit_is 0 "report after ae.safetensors is deleted" mm mm-report "$T/manifest.json"
is "$(rcli smembers machine:gpu-1:workflows)" "" "its workflows are gone"
is "$(rcli smembers workflows:index:txt2img-flux)" gpu-2 "and gpu-1 left their index"
is "$(rcli exists workflows:index:legacy-vae)" 1 "gpu-2 still indexes legacy-vae"
head -c 50 /dev/zero > "$m/vae/ae.safetensors"
check "report with the model back" mm mm-report "$T/manifest.json"
is "$(rcli smembers machine:gpu-1:workflows | sort | tr '\n' ' ')" "legacy-vae txt2img-flux " "published again"
mm mm-report < /dev/null > /dev/null
is "$(rcli exists machine:gpu-1:workflows)" 0 "a report without a manifest publishes no workflow"
is "$(rcli smembers workflows:index:txt2img-flux)" gpu-2 "nor indexes one"
mm mm-report "$T/manifest.json" > /dev/null
check "deregister" mm mm-report --deregister
is "$(rcli exists machine:gpu-1:workflows)" 0 "deregister removes machine:<id>:workflows"
is "$(rcli smembers workflows:index:txt2img-flux)" gpu-2 "and the machine from the workflow index"
rcli zadd machines:models:heartbeat 1000 gpu-2 > /dev/null
check "prune-stale" mm mm-report --prune-stale 60
is "$(rcli exists workflows:index:txt2img-flux machine:gpu-2:workflows)" 0 "prune removes a stale machine's workflows and index entries"

# Routing.  gpu-1 publishes txt2img-flux; gpu-2 reports but publishes
# nothing; gpu-3 has no inventory; gpu-4 is stale and publishes old-wf.
mm mm-report "$T/manifest.json" > /dev/null
MACHINE_ID=gpu-2 MM_ROOT=$T/root2 mm mm-report < /dev/null > /dev/null
rcli sadd machine:gpu-4:workflows old-wf > /dev/null
rcli sadd workflows:index:old-wf gpu-4 > /dev/null
rcli zadd machines:models:heartbeat $(($(date +%s) - 600)) gpu-4 > /dev/null

job() { # job ID SCORE WORKFLOW REQUIREMENTS
	rcli hset "job:$1" id "$1" service_required comfyui workflow_id "$3" requirements "$4" > /dev/null
	rcli zadd jobs:pending "$2" "$1" > /dev/null
}
plant() {
	rcli del jobs:pending > /dev/null
	job wf 100 txt2img-flux '{}'
	job wf-all 90 txt2img-flux '{"models":"all"}'
	job wf-list 80 txt2img-flux '{"models":["flux.safetensors"]}'
	job unpub 70 nobody-publishes '{}'
	job stale 60 old-wf '{}'
	job nowf 50 "" '{}'
}
caps() {
	printf '{"worker_id":"%s","machine_id":"%s","job_service_required_map":["comfyui"],"models":{"comfyui":["comfyui-default"]}}' "$1" "$2"
}
drain() {
	_got=""
	while :; do
		_j=$(rcli fcall findMatchingJob 0 "$1" 100 | sed -n 's/.*"jobId":"\([^"]*\)".*/\1/p')
		[ -n "$_j" ] || break
		_got="$_got $_j"
	done
	printf '%s\n' $_got | sort | tr '\n' ' ' | sed 's/ $//'
}

plant
exit_is 0 "mm-route explain a job by workflow" mm mm-route explain wf
is "$(json_get find_matching_job.published_by "$T/out")" '["gpu-1"]' "explain names the live machines publishing its workflow"
like "$(json_get find_matching_job.reason "$T/out")" "only workers on those machines get it" "and says only they get it"
exit_is 0 "explain a job whose workflow nobody publishes" mm mm-route explain unpub
is "$(json_get find_matching_job.published_by "$T/out")" "" "no publisher"
is "$(drain "$(caps w2 gpu-2)")" "nowf stale unpub wf-list" \
	"a live machine not publishing txt2img-flux: not its jobs without a model list (a model list decides by models)"
plant
is "$(drain "$(caps w3 gpu-3)")" "nowf stale unpub" "a machine without inventory: not a workflow a live machine publishes"
is "$(drain '{"worker_id":"w0","job_service_required_map":["comfyui"]}')" "" "nor a worker without machine_id"
plant
is "$(drain "$(caps w1 gpu-1)")" "nowf stale unpub wf wf-all wf-list" "the publishing machine gets them all"
plant
rcli zadd machines:models:heartbeat $(($(date +%s) - 600)) gpu-1 > /dev/null
is "$(drain "$(caps w3 gpu-3)")" "nowf stale unpub wf wf-all" \
	"once the publisher is stale, the workflow routes as deployed (the model list still by the deployed rule)"

done_testing
