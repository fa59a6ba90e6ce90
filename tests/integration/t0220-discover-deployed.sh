#!/bin/sh
# mm-discover speaks the API as it is deployed: every model spelling in use,
# models that arrive without a URL or a path, and mm-fetch's verdict on a
# model with nothing to download from.
. tests/lib.sh

need python3
start_fixture
unset HF_ENDPOINT
export MM_STATE_DIR="$T/state"
export EMPROPS_API_BASE_URL="$FIX_URL"

# jqish FILE EXPR: evaluate a Python expression over the manifest `m`.
jqish() {
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"
}
# model FILE NAME EXPR: EXPR over the model `x` called NAME.
model() {
	python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
x = [x for x in m["models"] if x["name"] == sys.argv[2]][0]
print(eval(sys.argv[3]))' "$@"
}

# The model specification's example, and the dependencies endpoint's, verbatim.
spec='{"name":"flux1-dev.safetensors","download_url":"https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/flux1-dev.safetensors","file_size_gb":23.8,"hash":"7fac5935ad7b22c0e9147b26ae3f890b","auth_required":true,"auth_provider":"huggingface","save_path":"checkpoints/flux1-dev.safetensors","dependencies":[]}'
hfonly='{"id":"m1","name":"flux1-dev-fp8.safetensors","type":"diffusion","description":"Flux development model","huggingface_id":"lllyasviel/flux1_dev","status":"active"}'
api_workflow deployed "[$spec,$hfonly]"

exit_is 0 "the model specification's shapes are read" mm mm-discover -w deployed
cp "$T/out" "$T/dep.json"
is "$(model "$T/dep.json" flux1-dev.safetensors 'x["saveTo"]')" "models/checkpoints/flux1-dev.safetensors" \
	"save_path is relative to MM_ROOT/models"
is "$(model "$T/dep.json" flux1-dev.safetensors 'x["downloadUrl"], x["isAuthReq"], x["authEnvVar"]')" \
	"('https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/flux1-dev.safetensors', True, 'HF_TOKEN')" \
	"download_url, auth_required and auth_provider become downloadUrl, isAuthReq and authEnvVar"
is "$(model "$T/dep.json" flux1-dev.safetensors 'x["fileSize"], x["sizeBytes"]')" "('23.8GB', 25555055411)" \
	"file_size_gb becomes fileSize and sizeBytes"
is "$(model "$T/dep.json" flux1-dev.safetensors 'sorted(k for k in x if "_" in k)')" "[]" \
	"no deployed spelling is left in the manifest"
is "$(model "$T/dep.json" flux1-dev-fp8.safetensors 'x["downloadUrl"]')" \
	"https://huggingface.co/lllyasviel/flux1_dev/resolve/main/flux1-dev-fp8.safetensors" \
	"a huggingface_id-only model gets the hub's URL"
is "$(model "$T/dep.json" flux1-dev-fp8.safetensors 'x["saveTo"], x["authEnvVar"], "saveToGuessed" in x')" \
	"('models/diffusion_models/flux1-dev-fp8.safetensors', 'HF_TOKEN', False)" \
	"in its type's ComfyUI folder, with HF_TOKEN, not marked as a guess"
is "$(model "$T/dep.json" flux1-dev-fp8.safetensors 'x["id"], x["huggingface_id"], x["status"]')" \
	"('m1', 'lllyasviel/flux1_dev', 'active')" "id, huggingface_id and status pass through"
unlike "$(cat "$T/err")" "warning" "an active model with a type draws no warning"

exit_is 0 "HF_ENDPOINT moves the hub" env HF_ENDPOINT="$FIX_TLS_URL/hf/" "$MM_BIN/mm-discover" -w deployed
is "$(model "$T/out" flux1-dev-fp8.safetensors 'x["downloadUrl"]')" \
	"$FIX_TLS_URL/hf/lllyasviel/flux1_dev/resolve/main/flux1-dev-fp8.safetensors" "the URL is on HF_ENDPOINT"

# Every spelling of every field, agreeing, in one object each.
api_workflow spellings '[
 {"filename":"a.bin","url":"http://example.com/a","save_to":"models/a.bin","size":1000,"is_auth_req":false},
 {"name":"b.bin","downloadUrl":"http://example.com/b","saveTo":"models/b.bin","fileSize":"1KB","authEnvVar":"X_TOKEN","isAuthReq":true},
 {"name":"c.bin","download_url":"http://example.com/c","save_path":"loras/","file_size":2048,"auth_env_var":"Y_TOKEN","auth_required":true},
 {"name":"d.bin","filename":"d.bin","url":"http://example.com/d","download_url":"http://example.com/d","modelType":"vae","auth_provider":"civitai","auth_required":true},
 {"name":"e.bin","url":"http://example.com/e","type":"checkpoint","auth_provider":null}]'
exit_is 0 "every spelling in use is read" mm mm-discover -w spellings
cp "$T/out" "$T/sp.json"
is "$(jqish "$T/sp.json" '[(x["name"], x["downloadUrl"], x["saveTo"]) for x in m["models"]]')" \
	"[('a.bin', 'http://example.com/a', 'models/a.bin'), ('b.bin', 'http://example.com/b', 'models/b.bin'), ('c.bin', 'http://example.com/c', 'models/loras/c.bin'), ('d.bin', 'http://example.com/d', 'models/vae/d.bin'), ('e.bin', 'http://example.com/e', 'models/checkpoints/e.bin')]" \
	"names, URLs and paths in the manifest's own fields"
is "$(jqish "$T/sp.json" '[x.get("sizeBytes") for x in m["models"]]')" "[1000, 1024, 2048, None, None]" \
	"size, fileSize and file_size as bytes"
is "$(jqish "$T/sp.json" '[(x.get("isAuthReq"), x.get("authEnvVar")) for x in m["models"]]')" \
	"[(False, None), (True, 'X_TOKEN'), (True, 'Y_TOKEN'), (True, 'CIVITAI_TOKEN'), (None, None)]" \
	"every auth spelling"
is "$(jqish "$T/sp.json" '[x.get("type") for x in m["models"]]')" "[None, None, None, 'vae', 'checkpoint']" \
	"modelType is written as type"
exit_is 0 "the manifest it wrote reads back the same" mm mm-discover --validate "$T/sp.json"
is "$(jqish "$T/out" '[x["saveTo"] for x in m["models"]]')" "$(jqish "$T/sp.json" '[x["saveTo"] for x in m["models"]]')" \
	"  with the same paths"

# Spellings that disagree inside one object: exit 3, naming the model.
disagree() {
	# disagree NAME MODEL PATTERN DESC
	api_workflow "$1" "[$2]"
	exit_is 3 "disagreeing spellings are bad input: $4" mm mm-discover -w "$1"
	like "$(cat "$T/err")" "$3" "  naming the model and both fields ($4)"
	is "$(wc -c < "$T/out")" 0 "  and nothing on stdout ($4)"
}
disagree dis1 '{"name":"m.bin","filename":"other.bin","url":"http://e/m","saveTo":"models/m"}' \
	'models\[0\] \(m\.bin\): both name and filename' "name and filename"
disagree dis2 '{"name":"m.bin","url":"http://e/m","download_url":"http://e/n","saveTo":"models/m"}' \
	'\(m\.bin\): both downloadUrl and url' "url and download_url"
disagree dis3 '{"name":"m.bin","url":"http://e/m","saveTo":"models/m","save_path":"vae/m.bin"}' \
	"\\(m\\.bin\\): saveTo 'models/m' and save_path 'vae/m.bin'" "saveTo and save_path"
disagree dis4 '{"name":"m.bin","url":"http://e/m","saveTo":"models/m","size":5,"file_size":6}' \
	'\(m\.bin\): size 5 and sizeBytes 6 disagree' "size and file_size"
disagree dis5 '{"name":"m.bin","url":"http://e/m","saveTo":"models/m","fileSize":"1GB","file_size_gb":23.8}' \
	'\(m\.bin\): file_size_gb 23.8 and a size' "fileSize and file_size_gb"
disagree dis6 '{"name":"m.bin","url":"http://e/m","saveTo":"models/m","auth_provider":"huggingface","authEnvVar":"CIVITAI_TOKEN"}' \
	"\\(m\\.bin\\): auth_provider 'huggingface' \\(HF_TOKEN\\) and authEnvVar 'CIVITAI_TOKEN' disagree" \
	"auth_provider and authEnvVar"
disagree dis7 '{"name":"m.bin","url":"http://e/m","saveTo":"models/m","isAuthReq":true,"auth_required":false}' \
	'\(m\.bin\): both isAuthReq and auth_required' "isAuthReq and auth_required"
disagree dis8 '{"name":"m.bin","url":"http://e/m","saveTo":"models/m","auth_provider":"dropbox"}' \
	"\\(m\\.bin\\): auth_provider 'dropbox' is not one mm knows" "an unknown auth_provider"
disagree dis9 '{"name":"m.bin","url":"http://e/m","save_path":"../../../etc/m"}' \
	"\\(m\\.bin\\): saveTo 'models/../../../etc/m'" "a save_path that climbs out"

# No path: the type's folder, else a guess from the name, marked and warned once.
api_workflow guess '[
 {"name":"sdxl-vae-fp16.safetensors","url":"http://e/1","type":"text-to-image"},
 {"name":"t5xxl_fp8.safetensors","url":"http://e/2"},
 {"name":"RealESRGAN_x4.pth","url":"http://e/3"},
 {"name":"detail-lora.safetensors","url":"http://e/4"},
 {"name":"sd15.ckpt","url":"http://e/5","status":"deprecated"},
 {"name":"ip.bin","url":"http://e/6","type":"ipadapter"}]'
exit_is 0 "models without a path are placed" mm mm-discover -w guess
cp "$T/out" "$T/guess.json"
is "$(jqish "$T/guess.json" '[(x["saveTo"], x.get("saveToGuessed")) for x in m["models"]]')" \
	"[('models/vae/sdxl-vae-fp16.safetensors', True), ('models/clip/t5xxl_fp8.safetensors', True), ('models/upscale_models/RealESRGAN_x4.pth', True), ('models/loras/detail-lora.safetensors', True), ('models/checkpoints/sd15.ckpt', True), ('models/ipadapter/ip.bin', None)]" \
	"from the name as the component manager guesses, or the type's folder"
is "$(grep -c 'saveTo guessed' "$T/err")" 1 "one warning for every guessed path"
like "$(grep 'saveTo guessed' "$T/err")" "5 models.*models/vae/sdxl-vae-fp16.safetensors.*models/checkpoints/sd15.ckpt" \
	"naming each guessed path"
like "$(cat "$T/err")" "warning: model sd15.ckpt has status 'deprecated', not active" "a status other than active is warned about"
is "$(jqish "$T/guess.json" 'm["models"][4]["status"]')" "deprecated" "and the model is still listed"
exit_is 0 "a discovered manifest is not guessed again" mm mm-discover --validate "$T/guess.json"
is "$(grep -c . "$T/err")" 0 "  without a warning"

# Nothing to download from: kept, warned about, and failed by mm-fetch.
api_workflow nourl '[{"name":"ghost.safetensors","type":"lora"},
 {"name":"real.bin","url":"'"$FIX_URL"'/files/real.bin","saveTo":"models/real.bin"}]'
make_file files/real.bin 1000
exit_is 0 "a model with nothing to download from is kept" mm mm-discover -w nourl
cp "$T/out" "$T/nourl.json"
is "$(jqish "$T/nourl.json" '[x["saveTo"] for x in m["models"]]')" "['models/loras/ghost.safetensors', 'models/real.bin']" \
	"with its path"
like "$(cat "$T/err")" "warning: model ghost.safetensors has nothing to download from" "and a warning saying so"
export MM_ROOT="$T/root"
exit_is 1 "mm-fetch fails that model, and only it" mm mm-fetch --progress none "$T/nourl.json"
is "$(jqish "$T/out" '[(x["name"], x["fetch"]["status"], x["fetch"].get("error")) for x in m["models"]]')" \
	"[('ghost.safetensors', 'failed', 'no download URL'), ('real.bin', 'downloaded', None)]" \
	"reported failed with 'no download URL'"
like "$(cat "$T/err")" "ghost.safetensors.*no download URL" "and says so on stderr"
check "the other model arrived" cmp "$MM_ROOT/models/real.bin" "$FIX_ROOT/files/real.bin"

done_testing
