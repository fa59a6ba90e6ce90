#!/bin/sh
# Terminal escapes in names from Redis, manifests and servers never reach the
# terminal: mm-route --table, mm-verify --table and log lines (mm-fetch's
# progress and summary, mm-verify -v) show ESC[2J, OSC titles, BEL, CR, C1
# controls and bidi overrides escaped, while a UTF-8 name prints as it is
# and the JSON output keeps every name exact.
. tests/lib.sh
. tests/lib-fetch.sh

start_redis
now=$(date +%s)

esc=$(printf '\033')
bel=$(printf '\007')
cr=$(printf '\r')
clear="wipe${esc}[2Jout.safetensors"
title="${esc}]0;pwned${bel}title.safetensors"
ring="ring${bel}.safetensors"
over="real.safetensors${cr}fake.safetensors"
c1=$(printf 'c1\302\2332J.safetensors')
rlo=$(printf 'abc\342\200\256fdp.safetensors')
utf8='モデル-ü-λ.safetensors'
mid="gpu${esc}[31m-red"

# clean FILE DESC: no byte or character a terminal acts on in FILE, other
# than newlines.
clean() {
	if python3 -c '
import re, sys
data = open(sys.argv[1], "rb").read()
bad = re.search(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]", data)
if bad:
    print("offending bytes at %d: %r" % (bad.start(), data[max(0, bad.start() - 20):bad.end() + 20]))
    sys.exit(1)' "$1" > "$T/clean.why"; then
		pass "$2"
	else
		fail "$2" "$(cat "$T/clean.why")"
	fi
}

# has FILE TEXT DESC: FILE holds TEXT, literally.
has() {
	if grep -qF -- "$2" "$1"; then pass "$3"; else fail "$3" "no '$2' in: $(head -c 2000 "$1")"; fi
}

names="$clear|$title|$ring|$over|$c1|$rlo|$utf8"
rcli zadd machines:models:heartbeat "$now" "$mid" > /dev/null
old_ifs=$IFS
IFS='|'
for n in $names; do
	rcli sadd "machine:$mid:model_names" "$n" > /dev/null
	rcli sadd "models:index:$n" "$mid" > /dev/null
done
IFS=$old_ifs
models=$(python3 -c '
import json, sys
print(json.dumps([{"name": n, "saveTo": "models/" + n, "size": 1} for n in sys.argv[1].split("|")]))' "$names")
rcli hset "machine:$mid:models" machine_id "$mid" last_updated "2026-01-01T00:00:00Z${esc}[2J" \
	total_models 7 models "$models" > /dev/null
job="job${esc}]0;owned${bel}"
req=$(python3 -c 'import json, sys; print(json.dumps({"models": sys.argv[1:]}))' "$clear" "$utf8" "$over")
rcli hset "job:$job" id "$job" service_required comfyui requirements "$req" \
	payload "{\"prompt\":\"${esc}[2J${esc}]0;x${bel}\"}" > /dev/null
rcli zadd jobs:pending 10 "$job" > /dev/null
rcli hset "job:lacking" id lacking service_required comfyui \
	requirements "{\"models\":[\"$utf8\",\"missing${esc}[5m\"]}" > /dev/null

exit_is 0 "where --table" mm mm-route --table where "$clear" "$utf8"
clean "$T/out" "where --table: no control character"
has "$T/out" 'gpu\x1b[31m-red' "the machine id shows its ESC as \\x1b"

exit_is 0 "machine --table" mm mm-route --table machine "$mid"
clean "$T/out" "machine --table: no control character"
has "$T/out" 'wipe\x1b[2Jout.safetensors' "ESC[2J shown escaped"
has "$T/out" '\x1b]0;pwned\x07title.safetensors' "an OSC title and its BEL shown escaped"
has "$T/out" 'ring\x07.safetensors' "a BEL shown escaped"
has "$T/out" 'real.safetensors\rfake.safetensors' "a CR shown escaped"
has "$T/out" 'c1\u009b2J.safetensors' "a C1 CSI shown escaped"
has "$T/out" 'abc\u202efdp.safetensors' "a right-to-left override shown escaped"
has "$T/out" "models/$utf8" "a UTF-8 name and saveTo print as they are"
has "$T/out" '2026-01-01T00:00:00Z\x1b[2J' "last_updated escaped too"

exit_is 0 "explain --table" mm mm-route --table explain "$job"
clean "$T/out" "explain --table: no control character"
has "$T/out" 'job\x1b]0;owned\x07' "the job id escaped"
exit_is 0 "explain --table, a machine lacking a model" mm mm-route --table explain lacking
clean "$T/out" "the missing list: no control character"
has "$T/out" 'missing\x1b[5m' "the missing name escaped"

exit_is 0 "match --table" mm mm-route --table match "$mid" w1 comfyui
clean "$T/out" "match --table: no control character"
has "$T/out" '{"prompt":"\x1b[2J\x1b]0;x\x07"}' "job fields escaped"

rcli set "machine:bad${esc}[2J:models" x > /dev/null
rcli zadd machines:models:heartbeat "$now" "bad${esc}[2J" > /dev/null
exit_is 0 "fleet --table" mm mm-route --table fleet
clean "$T/out" "fleet --table: no control character"
has "$T/out" 'gpu\x1b[31m-red' "the machine id escaped"
has "$T/out" 'cannot read machine:bad\x1b[2J:models' "and in the problem it names"
exit_is 0 "models --table" mm mm-route --table models
clean "$T/out" "models --table: no control character"
has "$T/out" 'wipe\x1b[2Jout.safetensors' "model names escaped"
has "$T/out" 'real.safetensors\rfake.safetensors' "a CR shown escaped"
rcli del "machine:bad${esc}[2J:models" > /dev/null
rcli zrem machines:models:heartbeat "bad${esc}[2J" > /dev/null

exit_is 0 "machine as JSON" mm mm-route machine "$mid"
is "$(json_get machine_id "$T/out")" "$mid" "JSON keeps the id exact"
is "$(json_get models.0.name "$T/out")" "$clear" "JSON keeps the names exact"
like "$(cat "$T/out")" 'wipe\\u001b\[2J' "and escapes them the JSON way"

# Log lines: a manifest's model names, in mm-fetch's progress and summary.
start_fixture
make_file files/a.bin 20000
cat > "$T/in.json" <<EOF2
{"models": [
 {"name": "a\u001b[2J\u001b]0;pwned\u0007\r\u202e.bin", "downloadUrl": "$FIX_URL/files/a.bin",
  "saveTo": "models/a.bin", "hash": "sha256:$(sha256_of "$FIX_ROOT/files/a.bin")"},
 {"name": "gone\u001b[2J\u0085.bin", "downloadUrl": "$FIX_URL/files/none.bin", "saveTo": "models/gone.bin"}]}
EOF2
export MM_ROOT="$T/root" MODEL_DOWNLOAD_RETRY_ATTEMPTS=1
fetch 1 "mm-fetch: one model downloads, one fails" --progress plain "$T/in.json"
clean "$T/log" "mm-fetch's log lines: no control character"
has "$T/log" 'a\x1b[2J\x1b]0;pwned\x07\r\u202e.bin: downloaded' "the downloaded line shows the name escaped"
has "$T/log" 'gone\x1b[2J\u0085.bin:' "the failure line too"
is "$(json_get models.0.name "$T/res")" "$(printf 'a\033[2J\033]0;pwned\007\r\342\200\256.bin')" \
	"the manifest on stdout keeps the name exact"
fetch 1 "mm-fetch with the bar display" --progress bar "$T/in.json"
if grep -q "$(printf '\033\\[2J')\|$(printf '\033')]0;" "$T/log"; then
	fail "the bar display draws no name's escape"
else
	pass "the bar display draws no name's escape"
fi

# mm-verify: a file on disk named with a C1 control and an RLO, in a scan table.
mkdir -p "$MM_ROOT/models/loras"
printf 'x' > "$MM_ROOT/models/loras/$c1"
printf 'y' > "$MM_ROOT/models/loras/$rlo"
printf 'z' > "$MM_ROOT/models/loras/$utf8"
exit_is 0 "mm-verify --scan --table" mm mm-verify --scan --table
clean "$T/out" "the scan table: no control character"
has "$T/out" 'models/loras/c1\u009b2J.safetensors' "a C1 control in a file name escaped"
has "$T/out" "models/loras/$utf8" "a UTF-8 file name as it is"
mm mm-verify --scan "$MM_ROOT/models" > "$T/scan.json" 2> /dev/null
exit_is 0 "mm-verify --table -v on that manifest" mm mm-verify --table -v "$T/scan.json"
clean "$T/out" "the verify table: no control character"
clean "$T/err" "its log lines: no control character"

done_testing
