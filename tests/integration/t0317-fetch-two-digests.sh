#!/bin/sh
# A manifest's weaker hash (md5, sha1) and the sha256 the origin publishes
# are both checked, in one pass over the bytes: when either disagrees with
# the file, the model fails naming both sources, and the file never reaches
# its final path.  When both hold, the file is proved by the origin and the
# verified cache holds both digests.
. tests/lib.sh

start_fixture
export MM_ROOT="$T/root" MM_STATE_DIR="$T/state" HF_ENDPOINT="$FIX_URL"
hf_file org/repo model.safetensors 3000000
civitai_file 4242 lora.safetensors 2000000
export CIVITAI_ENDPOINT="$FIX_URL"
f=$FIX_ROOT/_hf/org/repo/model.safetensors
sha=$(sha256_of "$f")
md5=$(md5_of "$f")
sha1=$(sha1sum < "$f" | cut -d ' ' -f 1)
civ=$FIX_ROOT/_civitai/4242/lora.safetensors
url=$FIX_URL/org/repo/resolve/main/model.safetensors
dest=$MM_ROOT/models/checkpoints/m.safetensors
bad=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

# manifest FILE URL SAVETO HASH
manifest() {
	cat > "$1" <<EOJ
{"models": [{"name": "m.safetensors", "downloadUrl": "$2", "saveTo": "$3", "hash": "$4"}]}
EOJ
}
manifest "$T/md5.json" "$url" models/checkpoints/m.safetensors "$md5"

# 1. The manifest's md5 is right, the hub's X-Linked-Etag is not the file's sha256.
fix_rule '{"path": "/org/repo/resolve/main/model.safetensors", "headers": {"X-Linked-Etag": "\"'$bad'\""}}'
exit_is 1 "md5 right, the origin's sha256 wrong: the model fails" mm mm-fetch "$T/md5.json"
err=$(json_get models.0.fetch.error "$T/out")
like "$err" "manifest says md5 $md5" "the error says what the manifest said"
like "$err" "huggingface says sha256 $bad" "and what Hugging Face said"
like "$err" "sha256 is $sha" "and the file's sha256"
is "$(json_get models.0.fetch.status "$T/out")" failed "fetch status failed"
check "the file never reaches its final path" test ! -e "$dest"
check "nor does a part file stay" test ! -e "$MM_ROOT/models/checkpoints/.m.safetensors.mm-part"

# 2. The manifest's md5 is wrong, the hub's sha256 is right.
rm -rf "$MM_ROOT"
fix_reset
manifest "$T/md5bad.json" "$url" models/checkpoints/m.safetensors 00112233445566778899aabbccddeeff
exit_is 1 "md5 wrong, the origin's sha256 right: the model fails" mm mm-fetch "$T/md5bad.json"
err=$(json_get models.0.fetch.error "$T/out")
like "$err" "manifest says md5 00112233445566778899aabbccddeeff" "the error names the manifest's md5"
like "$err" "huggingface says sha256 $sha" "and Hugging Face's sha256"
like "$err" "md5 is $md5" "and the file's md5"
check "the file never reaches its final path" test ! -e "$dest"

# 3. A sha1 in the manifest is checked beside the origin's sha256 the same way.
rm -rf "$MM_ROOT"
fix_rule '{"path": "/org/repo/resolve/main/model.safetensors", "headers": {"X-Linked-Etag": "\"'$bad'\""}}'
manifest "$T/sha1.json" "$url" models/checkpoints/m.safetensors "sha1:$sha1"
exit_is 1 "sha1 right, the origin's sha256 wrong: the model fails" mm mm-fetch "$T/sha1.json"
like "$(json_get models.0.fetch.error "$T/out")" "manifest says sha1 $sha1, huggingface says sha256 $bad" \
	"the error names both"
check "the file never reaches its final path" test ! -e "$dest"

# 4. Both right: proved by the origin's sha256, the md5 checked too.
rm -rf "$MM_ROOT"
fix_reset
exit_is 0 "md5 and the origin's sha256 both right: downloaded" mm mm-fetch "$T/md5.json"
is "$(json_get models.0.fetch.hashSource "$T/out")" huggingface "proved by Hugging Face's sha256"
is "$(json_get models.0.fetch.sha256 "$T/out")" "$sha" "the sha256 recorded"
cp "$T/out" "$T/fetched.json"
check "the right bytes at the final path" cmp "$dest" "$f"
# The download recorded both digests in the verified cache: nothing is hashed again.
exit_is 0 "mm-verify" mm mm-verify "$T/fetched.json"
is "$(json_get models.0.verify.status "$T/out")" ok "verify ok"
is "$(json_get models.0.verify.cached "$T/out")" true "from the verified cache (the download's sha256)"
exit_is 0 "mm-verify against the md5 alone" mm mm-verify "$T/md5.json"
is "$(json_get models.0.verify.cached "$T/out") $(json_get models.0.verify.algorithm "$T/out")" \
	"true md5" "the md5 is in the verified cache too"

# 5. Civitai: a manifest md5 beside the version's SHA256, which disagrees with the bytes.
rm -rf "$MM_ROOT" "$MM_STATE_DIR"
fix_reset
civ_md5=$(md5_of "$civ")
civ_sha=$(sha256_of "$civ")
bad_uc=$(echo "$bad" | tr a-f A-F)
manifest "$T/civ.json" "$FIX_URL/api/download/models/4242" models/loras/l.safetensors "$civ_md5"
fix_rule '{"path": "/api/v1/model-versions/4242", "body": {"id": 4242, "files": [{"name": "lora.safetensors", "type": "Model", "primary": true, "metadata": {"format": "SafeTensor"}, "hashes": {"SHA256": "'"$bad_uc"'"}}]}}'
exit_is 1 "Civitai: md5 right, the version's SHA256 wrong: the model fails" mm mm-fetch "$T/civ.json"
like "$(json_get models.0.fetch.error "$T/out")" "manifest says md5 $civ_md5, civitai says sha256 $bad" \
	"the error names both"
check "the file never reaches its final path" test ! -e "$MM_ROOT/models/loras/l.safetensors"
rm -rf "$MM_STATE_DIR"
fix_reset
exit_is 0 "Civitai: md5 and the version's SHA256 both right" mm mm-fetch "$T/civ.json"
is "$(json_get models.0.fetch.hashSource "$T/out")" civitai "proved by Civitai's sha256 beside the md5"
is "$(json_get models.0.fetch.sha256 "$T/out")" "$civ_sha" "its sha256 recorded"
done_testing
