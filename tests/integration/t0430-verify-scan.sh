#!/bin/sh
# mm-verify --scan lists what a machine really holds: model files in nested
# folders, through symlinks that stay inside MM_ROOT (or an --allow-dir), and
# never part files, hidden files, other files or the quarantine.
. tests/lib.sh

export MM_ROOT="$T/root" MM_STATE_DIR="$T/root/.mm"
R=$MM_ROOT

mkf() {
	mkdir -p "$(dirname "$1")"
	head -c "$2" /dev/zero | tr '\0' "${3:-a}" > "$1"
}
mkf "$R/models/checkpoints/sd15.safetensors" 1000
mkf "$R/models/checkpoints/sdxl/base.ckpt" 2000
mkf "$R/models/loras/style/deep/er/lora.SAFETENSORS" 300
mkf "$R/models/unet/flux.gguf" 400
mkf "$R/models/unet/.flux2.gguf.mm-part" 10
mkf "$R/models/unet/flux3.gguf.part" 10
mkf "$R/models/unet/x.safetensors.tmp" 10
mkf "$R/models/unet/y.safetensors.aria2" 10
mkf "$R/models/unet/.hidden.safetensors" 10
mkf "$R/models/.trash/old.safetensors" 10
mkf "$R/models/vae/README.md" 10
mkf "$R/models/vae/config.yaml" 10
mkf "$R/models/vae/ae.sft" 500
mkf "$R/models/onnx/face.onnx" 600
mkf "$R/.mm/quarantine/models/vae/bad.safetensors" 10
mkf "$R/shared/upscale/esrgan.pth" 700
mkf "$T/volume/clip/t5.safetensors" 800
ln -s ../shared/upscale "$R/models/upscale_models"
ln -s ../../shared/upscale/esrgan.pth "$R/models/vae/linked.pth"
ln -s "$T/volume/clip" "$R/models/clip"
ln -s .. "$R/models/loras/up"
ln -s missing "$R/models/vae/broken.safetensors"

saveto() {
	python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
for x in m["models"]:
    print(x["saveTo"], x["name"], x["sizeBytes"], x.get("hash", "-"))' "$1"
}

exit_is 0 "--scan of MM_ROOT/models" mm mm-verify --scan
cp "$T/out" "$T/scan.json"
saveto "$T/scan.json" > "$T/scan.txt"
cat > "$T/want.txt" <<EOF
models/checkpoints/sd15.safetensors sd15.safetensors 1000 -
models/checkpoints/sdxl/base.ckpt base.ckpt 2000 -
models/loras/style/deep/er/lora.SAFETENSORS lora.SAFETENSORS 300 -
models/onnx/face.onnx face.onnx 600 -
models/unet/flux.gguf flux.gguf 400 -
models/upscale_models/esrgan.pth esrgan.pth 700 -
models/vae/ae.sft ae.sft 500 -
models/vae/linked.pth linked.pth 700 -
EOF
check "model files only, through links inside MM_ROOT, no part, hidden or quarantined files" \
	diff -u "$T/want.txt" "$T/scan.txt"
is "$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["total_models"])' "$T/scan.json")" 8 \
	"the scan is a manifest with totals"

exit_is 0 "--allow-dir lets a network volume in" mm mm-verify --scan --allow-dir "$T/volume"
like "$(saveto "$T/out")" "^models/clip/t5.safetensors t5.safetensors 800 -" "the linked volume is listed"

exit_is 0 "--scan DIR inside MM_ROOT" mm mm-verify --scan "$R/models/checkpoints"
is "$(saveto "$T/out" | cut -d ' ' -f 1 | tr '\n' ' ')" \
	"models/checkpoints/sd15.safetensors models/checkpoints/sdxl/base.ckpt " "saveTo stays relative to MM_ROOT"

exit_is 0 "--scan --hash" mm mm-verify --scan --hash "$R/models/vae"
is "$(saveto "$T/out")" "models/vae/ae.sft ae.sft 500 $(sha256_of "$R/models/vae/ae.sft")
models/vae/linked.pth linked.pth 700 $(sha256_of "$R/shared/upscale/esrgan.pth")" "sha256 digests added"
exit_is 0 "--scan --hash=md5" mm mm-verify --scan --hash=md5 "$R/models/vae"
like "$(saveto "$T/out")" "ae.sft 500 $(md5_of "$R/models/vae/ae.sft")" "md5 digests on request"

# The output is a manifest mm-verify reads back: all ok.
mm mm-verify --scan --hash > "$T/inv.json" 2> /dev/null
exit_is 0 "a hashed scan verifies" mm mm-verify "$T/inv.json"
like "$(cat "$T/out")" '"status":[[:space:]]*"ok"' "as ok"

exit_is 0 "--scan --table" mm mm-verify --scan --table
like "$(cat "$T/out")" "^SIZE +HASH +SAVETO" "a header"
like "$(cat "$T/out")" "models/unet/flux.gguf" "and a row per file"

exit_is 0 "an empty MM_ROOT scans to no models" env MM_ROOT="$T/empty" "$MM_BIN/mm-verify" --scan
is "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["models"]))' "$T/out")" 0 "none"
exit_is 2 "--scan of a missing directory exits 2" mm mm-verify --scan "$T/nowhere"
exit_is 2 "--hash without --scan is a usage error" mm mm-verify --hash "$T/inv.json"
exit_is 2 "--hash=autov2 is refused" mm mm-verify --scan --hash=autov2

done_testing
