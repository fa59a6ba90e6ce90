#!/bin/sh
# mm-report writes the inventory of DESIGN.md: the keys and fields after a
# report, a deleted model leaving the index, verification failures left out,
# the manifest passed through unchanged, --dry-run, deregister, prune.
. tests/lib.sh

start_redis
export MM_ROOT="$T/root" MACHINE_ID=gpu-7
m=$MM_ROOT/models
mkdir -p "$m/unet" "$m/loras" "$m/vae"
head -c 1000 /dev/zero > "$m/unet/flux.safetensors"
head -c 200 /dev/zero > "$m/loras/style.safetensors"
head -c 30 /dev/zero > "$m/vae/ae.safetensors"
printf 'partial' > "$m/unet/.big.safetensors.mm-part"
printf 'cfg' > "$m/unet/config.yaml"

exit_is 0 "a report succeeds" mm mm-report
is "$(cat "$T/out")" "" "no manifest in, nothing out"
is "$(rcli smembers machine:gpu-7:model_names | sort | tr '\n' ' ')" \
	"ae.safetensors flux.safetensors style.safetensors " "model_names holds the model files, no part files or configs"
is "$(rcli hget machine:gpu-7:models machine_id)" gpu-7 "hash: machine_id"
is "$(rcli hget machine:gpu-7:models total_models)" 3 "hash: total_models"
like "$(rcli hget machine:gpu-7:models total_size_gb)" '^0(\.0+)?$' "hash: total_size_gb"
like "$(rcli hget machine:gpu-7:models last_updated)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' \
	"hash: last_updated is ISO 8601"
is "$(rcli hget machine:gpu-7:models models | python3 -c '
import json, sys
for r in json.load(sys.stdin): print(r["name"], r["saveTo"], r["size"])')" \
"style.safetensors models/loras/style.safetensors 200
flux.safetensors models/unet/flux.safetensors 1000
ae.safetensors models/vae/ae.safetensors 30" "hash: models lists name, saveTo, size, sorted by saveTo"
for n in flux.safetensors style.safetensors ae.safetensors; do
	is "$(rcli smembers "models:index:$n")" gpu-7 "models:index:$n holds the machine"
done
hb=$(rcli zscore machines:models:heartbeat gpu-7)
now=$(date +%s)
if [ -n "$hb" ] && [ $((now - ${hb%.*})) -le 60 ]; then pass "heartbeat is recent"; else fail "heartbeat is recent" "$hb vs $now"; fi

# A second machine (its own disk) sharing one model.
mkdir -p "$T/root8/models/vae"
head -c 30 /dev/zero > "$T/root8/models/vae/ae.safetensors"
MACHINE_ID=gpu-8 MM_ROOT=$T/root8 mm mm-report > /dev/null
is "$(rcli smembers models:index:ae.safetensors | sort | tr '\n' ' ')" "gpu-7 gpu-8 " "two machines in one index"

# A model deleted from disk leaves the index on the next report.
rm "$m/loras/style.safetensors"
exit_is 0 "report after a deletion" mm mm-report
is "$(rcli exists models:index:style.safetensors)" 0 "the deleted model's index entry is gone"
is "$(rcli sismember machine:gpu-7:model_names style.safetensors)" 0 "and it left model_names"
is "$(rcli hget machine:gpu-7:models total_models)" 2 "total_models follows"
is "$(rcli smembers models:index:ae.safetensors | sort | tr '\n' ' ')" "gpu-7 gpu-8 " "other indexes untouched"

# A manifest piped in: verify failures are not reported, names and hashes come from it,
# and the manifest goes out unchanged.
cat > "$T/in.json" <<EOT
{"models": [
 {"name": "FLUX Dev", "downloadUrl": "http://x/f", "saveTo": "models/unet/flux.safetensors",
  "hash": "sha256:$(printf '%064d' 0)", "verify": {"status": "ok"}},
 {"name": "ae.safetensors", "downloadUrl": "http://x/a", "saveTo": "models/vae/ae.safetensors",
  "verify": {"status": "mismatch"}}
], "extra": {"kept": true}}
EOT
exit_is 0 "report with a manifest on stdin" sh -c '"$MM_BIN/mm-report" < "$1"' sh "$T/in.json"
cp "$T/out" "$T/passed.json"
check "the manifest passes through byte for byte" cmp "$T/passed.json" "$T/in.json"
is "$(rcli sismember machine:gpu-7:model_names ae.safetensors)" 0 "a hash mismatch is not reported"
is "$(rcli smembers models:index:ae.safetensors)" gpu-8 "and leaves the index for this machine"
is "$(rcli sismember models:index:FLUX\ Dev gpu-7)" 1 "the manifest's name is the one reported"
like "$(rcli hget machine:gpu-7:models models)" "\"hash\":\"sha256:0+\"" "the manifest's hash is reported"
exit_is 3 "a malformed manifest is bad input" sh -c 'echo "{not json" | "$MM_BIN/mm-report"'
is "$(rcli sismember machine:gpu-7:model_names FLUX\ Dev)" 1 "and changes nothing in Redis"

# Nothing changed: the next report sends only the heartbeat.
rcli hset machine:gpu-7:models models_marker untouched > /dev/null
before=$(rcli hget machine:gpu-7:models models)
exit_is 0 "report with nothing changed" sh -c '"$MM_BIN/mm-report" -v < "$1"' sh "$T/in.json"
like "$(cat "$T/err")" '\+0 -0' "nothing added or removed"
unlike "$(cat "$T/err")" 'models rewritten' "the models JSON is not sent again"
is "$(rcli hget machine:gpu-7:models models)" "$before" "models unchanged"

# --full rewrites everything, repairing a hand-edited index.
rcli srem "models:index:FLUX Dev" gpu-7 > /dev/null
exit_is 0 "--full" sh -c '"$MM_BIN/mm-report" --full < "$1"' sh "$T/in.json"
is "$(rcli sismember "models:index:FLUX Dev" gpu-7)" 1 "--full repairs the index"

# --dry-run connects to nothing and prints redis-cli commands.
exit_is 0 "--dry-run with Redis unreachable" env REDIS_URL=redis://127.0.0.1:1 MM_REDIS_RETRY_SECONDS=0 \
	"$MM_BIN/mm-report" --dry-run
is "$(sed -n 1p "$T/out")" MULTI "dry run starts with MULTI"
is "$(tail -n 1 "$T/out")" EXEC "and ends with EXEC"
like "$(cat "$T/out")" '^SADD models:index:flux\.safetensors gpu-7$' "an index command"
like "$(cat "$T/out")" '^ZADD machines:models:heartbeat [0-9]+ gpu-7$' "the heartbeat"
like "$(cat "$T/out")" '^HSET machine:gpu-7:models machine_id gpu-7 last_updated [^ ]+ models "\[\{\\"name\\":' \
	"the models JSON is quoted the redis-cli way"
cp "$T/out" "$T/dry.txt"
rcli flushall > /dev/null
check "the dry-run output, fed to redis-cli, writes the inventory" sh -c 'redis-cli -s "$REDIS_SOCK" < "$1"' sh "$T/dry.txt"
is "$(rcli smembers machine:gpu-7:model_names | sort | tr '\n' ' ')" "ae.safetensors flux.safetensors " \
	"same keys as a real report"
exit_is 0 "--dry-run with a manifest" sh -c '"$MM_BIN/mm-report" --dry-run < "$1"' sh "$T/in.json"
cp "$T/out" "$T/passed.json"
like "$(cat "$T/err")" '^MULTI$' "the commands go to stderr then"
check "stdout still carries the manifest" cmp "$T/passed.json" "$T/in.json"

# Deregister and prune.
mm mm-report > /dev/null
MACHINE_ID=gpu-8 MM_ROOT=$T/root8 mm mm-report > /dev/null
exit_is 0 "--deregister" mm mm-report --deregister --machine-id gpu-8
is "$(rcli exists machine:gpu-8:models machine:gpu-8:model_names)" 0 "its keys are gone"
is "$(rcli zscore machines:models:heartbeat gpu-8)" "" "its heartbeat is gone"
is "$(rcli smembers models:index:ae.safetensors)" gpu-7 "its index entries are gone"

MACHINE_ID=old-1 MM_ROOT=$T/root8 mm mm-report > /dev/null
rcli zadd machines:models:heartbeat $(( $(date +%s) - 4000 )) old-1 > /dev/null
exit_is 0 "--prune-stale" mm mm-report --prune-stale 3600
is "$(cat "$T/out")" '{"pruned":1}' "one machine pruned"
is "$(rcli exists machine:old-1:models machine:old-1:model_names)" 0 "the stale machine's keys are gone"
is "$(rcli smembers models:index:ae.safetensors)" gpu-7 "its index entries are gone, the live one's stay"
is "$(rcli sismember machine:gpu-7:model_names flux.safetensors)" 1 "the live machine is untouched"
exit_is 0 "--prune-stale again finds nothing" mm mm-report --prune-stale 3600
is "$(cat "$T/out")" '{"pruned":0}' "nothing pruned"

# A file mm-verify could not read is not offered to the fleet either.
sed 's/"status": "ok"/"status": "unreadable"/' "$T/in.json" > "$T/unreadable.json"
exit_is 0 "report with an unreadable model" sh -c '"$MM_BIN/mm-report" < "$1"' sh "$T/unreadable.json"
is "$(rcli sismember machine:gpu-7:model_names "FLUX Dev")" 0 "an unreadable file is not reported"
is "$(rcli sismember "models:index:FLUX Dev" gpu-7)" 0 "and leaves the index"

exit_is 2 "--prune-stale needs a number" mm mm-report --prune-stale soon
exit_is 2 "an unknown flag is a usage error" mm mm-report --frobnicate
exit_is 0 "--help" mm mm-report --help
like "$(cat "$T/out")" '^usage: mm-report' "usage on stdout"

done_testing
