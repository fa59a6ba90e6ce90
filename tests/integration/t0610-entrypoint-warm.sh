#!/bin/sh
# mm-entrypoint on a warm restart: everything present and verified reaches
# the command with no HTTP request and no file hashed again; a change of
# configuration asks the API again.
. tests/lib.sh
. tests/lib-entry.sh

entry_setup

boot 0 "a cold boot"
cold=$(fix_count)
isnt "$cold" 0 "the cold boot asked the API and downloaded"

fix_reset
entry_rules
start=$(date +%s%N)
boot 0 "a warm restart"
end=$(date +%s%N)
diag "warm restart to the command and back: $(((end - start) / 1000000)) ms"
is "$(fix_count)" 0 "no HTTP request at all"
m=$MM_STATE_DIR/manifest.json
is "$(json_get models.0.fetch.status "$m") $(json_get models.1.fetch.status "$m") $(json_get models.2.fetch.status "$m")" \
	"present present present" "every model is present"
is "$(json_get models.0.verify.cached "$m") $(json_get models.1.verify.cached "$m") $(json_get models.2.verify.cached "$m")" \
	"true true true" "and verified from the cache, not hashed again"
like "$(cat "$T/boot.err")" 'discover [0-9.]+ m?s \(cached\)' "the stage line says the API answers came from the cache"
like "$(cat "$T/boot.err")" 'models ready in [0-9.]+ s: 3 present, 0 downloaded, 0 failed' "the totals line"
is "$(head -n 1 "$T/comfy.saw")" ready "the command started after the ready marker"

# A file changed on disk is hashed again and, being wrong, replaced.
printf 'X' | dd of="$MM_ROOT/models/vae/c.safetensors" bs=1 seek=10 conv=notrunc 2>/dev/null
boot 0 "a restart after a file was damaged"
check "the damaged file is replaced with the right bytes" \
	cmp "$MM_ROOT/models/vae/c.safetensors" "$FIX_ROOT/files/c.safetensors"
like "$(cat "$T/boot.err")" 'fetching the quarantined files again' "the entrypoint says so"
like "$(cat "$T/boot.err")" '2 present, 1 downloaded .*, 0 failed' "and counts it"

# Another workflow list asks the API again.
api_workflow wf2 '[]'
fix_reset
entry_rules
WORKFLOW_IDS=wf,wf2 boot 0 "a restart with another configuration"
is "$(fix_count /workflows/name/wf2)" 1 "asks the API"
unlike "$(cat "$T/boot.err")" '\(cached\)' "and says nothing of a cache"

# MM_API_MAX_AGE=0 asks the API at every boot.
fix_reset
entry_rules
WORKFLOW_IDS=wf,wf2 MM_API_MAX_AGE=0 boot 0 "MM_API_MAX_AGE=0"
is "$(fix_count /workflows/name/wf)" 1 "asks the API every time"
is "$(fix_count '/files/*')" 0 "but downloads nothing"

done_testing
