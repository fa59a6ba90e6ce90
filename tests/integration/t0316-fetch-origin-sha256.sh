#!/bin/sh
# A model with no hash in the manifest is proved by the sha256 its origin
# publishes (Hugging Face's X-Linked-Etag on the hub's hop, Civitai's
# model-versions API): a wrong byte from the CDN host never reaches the final
# path; the CDN's headers, a 40-hex ETag and X-Xet-Hash are not digests; a
# Civitai SHA256 that disagrees with the manifest's AutoV2 fails the model
# naming both; no token reaches the second host; hashSource is recorded,
# carried into the inventory, and `mm-route audit` compares the fleet.
. tests/lib.sh

start_fixture
export MM_ROOT="$T/root" HF_ENDPOINT="$FIX_URL" CIVITAI_ENDPOINT="$FIX_URL" MM_ALLOW_HTTP_AUTH=1
export HF_TOKEN=hf_secret_tok CIVITAI_TOKEN=civ_secret_tok
hf_file org/repo model.safetensors 3000000
hf_file org/repo config.json 100
hf_gate org/repo hf_secret_tok
civitai_file 4242 lora.safetensors 2000000
civitai_gate 4242 civ_secret_tok
hf_sha=$(sha256_of "$FIX_ROOT/_hf/org/repo/model.safetensors")
civ_sha=$(sha256_of "$FIX_ROOT/_civitai/4242/lora.safetensors")

# manifest FILE NAME URL SAVETO VAR [HASH]
manifest() {
	_h=
	[ -n "$6" ] && _h=", \"hash\": \"$6\""
	cat > "$1" <<EOJ
{"models": [{"name": "$2", "downloadUrl": "$3", "saveTo": "$4",
  "isAuthReq": true, "authEnvVar": "$5"$_h}]}
EOJ
}
hf_url=$FIX_URL/org/repo/resolve/main/model.safetensors
civ_url=$FIX_URL/api/download/models/4242
manifest "$T/hf.json" hf.safetensors "$hf_url" models/checkpoints/hf.safetensors HF_TOKEN
manifest "$T/civ.json" lora.safetensors "$civ_url" models/loras/lora.safetensors CIVITAI_TOKEN

# 1. A wrong byte from the CDN host, no hash in the manifest: caught, both origins.
fix_rule '{"prefix": "/_cdn_hf/", "host": "127.0.0.2", "corrupt_at": 1234567}'
fix_rule '{"prefix": "/_r2/", "host": "127.0.0.2", "corrupt_at": 77}'
exit_is 1 "Hugging Face: a wrong byte from the CDN fails the model" mm mm-fetch "$T/hf.json"
like "$(json_get models.0.fetch.error "$T/out")" "huggingface says sha256 $hf_sha" \
	"the error names Hugging Face's sha256"
check "the file never reaches its final path" test ! -e "$MM_ROOT/models/checkpoints/hf.safetensors"
check "nor does a part file stay" test ! -e "$MM_ROOT/models/checkpoints/.hf.safetensors.mm-part"
exit_is 1 "Civitai: a wrong byte from R2 fails the model" mm mm-fetch "$T/civ.json"
like "$(json_get models.0.fetch.error "$T/out")" "civitai says sha256 $civ_sha" \
	"the error names Civitai's sha256"
check "the file never reaches its final path" test ! -e "$MM_ROOT/models/loras/lora.safetensors"
is "$(fix_count --method GET /api/v1/model-versions/4242)" 1 "one API call for the version"

# 2. The good bytes: proved by the origin, recorded as such.
fix_reset
exit_is 0 "Hugging Face: the good bytes pass" mm mm-fetch "$T/hf.json"
is "$(json_get models.0.fetch.hashSource "$T/out")" huggingface "hashSource huggingface"
is "$(json_get models.0.fetch.sha256 "$T/out")" "$hf_sha" "the sha256 recorded"
cp "$T/out" "$T/hf.fetched.json"
like "$(cat "$T/err")" "by the origin 1" "the summary counts it as proved by the origin"
exit_is 0 "Civitai: the good bytes pass" mm mm-fetch "$T/civ.json"
is "$(json_get models.0.fetch.hashSource "$T/out")" civitai "hashSource civitai"
is "$(fix_count --method GET /api/v1/model-versions/4242)" 0 "the version's answer came from the cache"
cp "$T/out" "$T/civ.fetched.json"
exit_is 0 "mm-verify checks against the origin's sha256" mm mm-verify "$T/hf.fetched.json"
is "$(json_get models.0.verify.hashSource "$T/out")" huggingface "verify.hashSource huggingface"
is "$(json_get models.0.verify.status "$T/out")" ok "verify.status ok"
cp "$T/out" "$T/hf.verified.json"
exit_is 0 "mm-verify --table" mm mm-verify --table "$T/civ.fetched.json"
like "$(cat "$T/out")" "^ok .* civitai +models/loras/lora.safetensors" "the table shows the source"

# 3. Neither token reached the second host; each reached its origin.
is "$(fix_log --host 127.0.0.2 | python3 -c '
import json, sys
print(sum("authorization" in e["headers"] for e in json.load(sys.stdin)))')" 0 \
	"no request to the second host carried a token"
is "$(fix_header --host 127.0.0.1 /org/repo/resolve/main/model.safetensors authorization)" \
	"Bearer hf_secret_tok" "HF_TOKEN went to the hub"
is "$(fix_header --host 127.0.0.1 /api/download/models/4242 authorization)" \
	"Bearer civ_secret_tok" "CIVITAI_TOKEN went to Civitai"
no_leak hf_secret_tok "no token in the output" "$T/out" "$T/err" "$T/hf.fetched.json"

# 4. Headers that are not the hub's digest are ignored: from the CDN hop, 40 hex, X-Xet-Hash.
rm -rf "$MM_ROOT"
fix_reset
bad=0000000000000000000000000000000000000000000000000000000000000000
fix_rule '{"prefix": "/_cdn_hf/", "host": "127.0.0.2", "headers": {"X-Linked-Etag": "\"'$bad'\""}}'
fix_rule '{"path": "/org/repo/resolve/main/model.safetensors", "headers": {"X-Linked-Etag": null}}'
exit_is 0 "an X-Linked-Etag from the CDN hop is ignored" mm mm-fetch "$T/hf.json"
is "$(json_get models.0.fetch.hashSource "$T/out")" computed "the sha256 is only computed"
is "$(json_get models.0.fetch.sha256 "$T/out")" "$hf_sha" "and recorded"
rm -rf "$MM_ROOT"
fix_reset
fix_rule '{"path": "/org/repo/resolve/main/model.safetensors", "headers": {"X-Linked-Etag": "\"2faa4d2b8e9a5624f94343ec2c81f80d1428673a\""}}'
exit_is 0 "a 40-hex X-Linked-Etag is ignored" mm mm-fetch "$T/hf.json"
is "$(json_get models.0.fetch.hashSource "$T/out")" computed "hashSource computed"
manifest "$T/small.json" config.json "$FIX_URL/org/repo/resolve/main/config.json" models/configs/config.json HF_TOKEN
exit_is 0 "a small file's 40-hex ETag is no digest" mm mm-fetch "$T/small.json"
is "$(json_get models.0.fetch.hashSource "$T/out")" computed "hashSource computed"

# 5. The manifest's AutoV2 and Civitai's SHA256 disagree: the model fails, naming both.
rm -rf "$MM_ROOT"
fix_reset
manifest "$T/av2.json" lora.safetensors "$civ_url" models/loras/lora.safetensors CIVITAI_TOKEN abcdef0123
exit_is 1 "AutoV2 and Civitai's SHA256 disagree" mm mm-fetch "$T/av2.json"
like "$(json_get models.0.fetch.error "$T/out")" "manifest says autov2 abcdef0123, civitai says sha256 $civ_sha" \
	"the error names both sources"
is "$(fix_count /_r2/*)" 0 "nothing was downloaded"
av2=$(printf %s "$civ_sha" | cut -c1-10)
manifest "$T/av2ok.json" lora.safetensors "$civ_url" models/loras/lora.safetensors CIVITAI_TOKEN "$av2"
exit_is 0 "a matching AutoV2 passes" mm mm-fetch "$T/av2ok.json"
is "$(json_get models.0.fetch.hashSource "$T/out")" civitai "proved by Civitai's full sha256"

# 6. --dry-run says what it will check against.
rm -rf "$MM_ROOT" "$T/state"
export MM_STATE_DIR="$T/state"
exit_is 0 "dry run (Hugging Face)" mm mm-fetch --dry-run "$T/hf.json"
is "$(json_get models.0.fetch.expected "$T/out")" "$hf_sha" "the digest it will check"
is "$(json_get models.0.fetch.hashSource "$T/out")" huggingface "and whose"
exit_is 0 "dry run (Civitai)" mm mm-fetch --dry-run "$T/civ.json"
is "$(json_get models.0.fetch.expected "$T/out")" "$civ_sha" "the digest it will check"
is "$(json_get models.0.fetch.hashSource "$T/out")" civitai "and whose"
unset MM_STATE_DIR

# 7. The inventory carries sha256 and hashSource; mm-route audit compares machines.
if command -v redis-server > /dev/null 2>&1; then
	start_redis
	mkdir -p "$T/a/models/checkpoints" "$T/b/models/checkpoints"
	cp "$FIX_ROOT/_hf/org/repo/model.safetensors" "$T/a/models/checkpoints/hf.safetensors"
	cp "$FIX_ROOT/_hf/org/repo/model.safetensors" "$T/b/models/checkpoints/hf.safetensors"
	MM_ROOT=$T/a MACHINE_ID=gpu-a mm mm-report < "$T/hf.verified.json" > /dev/null
	MM_ROOT=$T/b MACHINE_ID=gpu-b mm mm-report < "$T/hf.verified.json" > /dev/null
	is "$(rcli hget machine:gpu-a:models models | python3 -c '
import json, sys
r = json.load(sys.stdin)[0]; print(r["sha256"], r["hashSource"])')" "$hf_sha huggingface" \
		"the inventory carries sha256 and hashSource"
	exit_is 0 "a clean fleet: audit exits 0" mm mm-route audit
	is "$(json_get clean "$T/out")" true "clean"
	is "$(json_get machines.# "$T/out")" 2 "two machines audited"
	# Plant a disagreement: gpu-b reports another digest for the same saveTo.
	sed "s/$hf_sha/$bad/" "$T/hf.verified.json" > "$T/planted.json"
	printf x >> "$T/b/models/checkpoints/hf.safetensors"
	MM_ROOT=$T/b MACHINE_ID=gpu-b mm mm-report < "$T/planted.json" > /dev/null
	exit_is 1 "a planted disagreement: audit exits 1" mm mm-route audit
	is "$(json_get disagreements.0.saveTo "$T/out")" models/checkpoints/hf.safetensors \
		"it names the saveTo"
	is "$(json_get disagreements.0.digests.# "$T/out")" 2 "with both digests"
	exit_is 1 "--table" mm mm-route --table audit
	like "$(cat "$T/out")" "DISAGREE saveTo models/checkpoints/hf.safetensors" "the table says so"
	like "$(cat "$T/out")" "$bad +gpu-b" "and which machine holds which"
	# A file no digest proves.
	mkdir -p "$T/c/models/loras"
	head -c 100 /dev/zero > "$T/c/models/loras/x.safetensors"
	MM_ROOT=$T/c MACHINE_ID=gpu-c mm mm-report > /dev/null
	exit_is 1 "unproved files: audit exits 1" mm mm-route audit
	is "$(json_get unproved.0.machine "$T/out")" gpu-c "it names the machine"
else
	skip "mm-route audit" "no redis-server"
fi
done_testing
