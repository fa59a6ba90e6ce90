#!/bin/sh
# mm-entrypoint's totals come from mm-verify --summary: sizes spelled as
# every tool spells them, every model the inventory leaves out counted and
# named, and a refetch only when a file really failed its hash.
. tests/lib.sh
. tests/lib-entry.sh

entry_setup
mkdir -p "$T/prom"
export MM_METRICS_DIR="$T/prom"

boot 0 "a cold boot"
err=$(cat "$T/boot.err")
like "$err" 'mm-fetch: 3 downloaded, .*: 586KB in' "mm-fetch spells the bytes 586KB"
like "$err" 'mm-entrypoint: models ready in [0-9.]+ s: 0 present, 3 downloaded \(586KB, [0-9.]+[KMGT]?B/s\), 0 failed' \
	"and so does the totals line, with the rate"
like "$err" 'mm-entrypoint: verify: 3 ok \(3 from the verified cache\), 0 without a hash' "the verify line"

# The fetch stage fails outright (a setting it refuses), and a model file is
# a symlink out of MM_ROOT, which mm-verify does not follow: the inventory
# leaves it out, so the totals count it failed and name it.
mkdir -p "$T/elsewhere"
mv "$MM_ROOT/models/vae/c.safetensors" "$T/elsewhere/c.safetensors"
ln -s "$T/elsewhere/c.safetensors" "$MM_ROOT/models/vae/c.safetensors"
MODEL_DOWNLOAD_CONCURRENCY=lots boot 0 "a boot whose fetch stage exits 2"
err=$(cat "$T/boot.err")
like "$err" 'fetch: exit 2' "the stage that failed"
is "$(rcli sismember machine:test-machine:model_names c.safetensors)" 0 "the link's model is not in the inventory"
like "$err" 'models ready in [0-9.]+ s: 0 present, 0 downloaded, 1 failed' "the totals count it failed"
like "$err" 'mm-entrypoint:   models/vae/c\.safetensors: verify unreadable' "and name it, with why"
like "$(cat "$MM_STATE_DIR/ready")" ', 1 failed$' "the ready marker says so"
is "$(awk '$1 == "mm_entrypoint_failed_models" { print $2 }' "$T/prom/mm_entrypoint.prom")" 1 \
	"mm_entrypoint_failed_models counts it"
rm "$MM_ROOT/models/vae/c.safetensors"
mv "$T/elsewhere/c.safetensors" "$MM_ROOT/models/vae/c.safetensors"

# A model from the API carries a field of its own that says "status":
# "mismatch"; a download fails.  No file failed its hash: nothing is
# fetched a second time.
api_workflow wf "$(python3 -c '
import json, sys
doc = json.load(sys.stdin)
doc["data"]["models"][1]["review"] = {"status": "mismatch"}
print(json.dumps(doc["data"]["models"]))' < "$FIX_ROOT/workflows/name/wf")"
rm "$MM_ROOT/models/loras/b.safetensors"
fix_reset
entry_rules
(unset HF_TOKEN; MM_API_MAX_AGE=0 boot 0 "a failed download of a model with a field of its own")
err=$(cat "$T/boot.err")
is "$(json_get models.1.review.status "$MM_STATE_DIR/manifest.json")" mismatch "the field passes through"
like "$err" '2 present, 0 downloaded, 1 failed' "the totals count the failed download"
unlike "$err" 'fetching the quarantined files again' "nothing is fetched again"
is "$(grep -c '^mm-fetch: b\.safetensors: HF_TOKEN is not set' "$T/boot.err")" 1 "mm-fetch ran once"

done_testing
