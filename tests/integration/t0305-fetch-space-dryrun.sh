#!/bin/sh
# mm-fetch checks disk space before downloading anything (exit 5), and
# --dry-run probes every missing file without downloading a body.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root"
make_file files/a.bin 100000
make_file files/b.bin 100000
A=$FIX_ROOT/files/a.bin
HUGE=4000000000000000   # 4 PB: no test machine has it free

cat > "$T/huge.json" <<EOF2
{"models": [
 {"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin", "fileSize": 100000},
 {"name": "huge", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/huge.bin", "fileSize": $HUGE}]}
EOF2
fetch 5 "too little space exits 5" "$T/huge.json"
like "$(cat "$T/log")" "not enough disk space: need [0-9.]+[KMGT]?B, [0-9.]+[KMGT]?B free on $MM_ROOT" \
	"the message says how much is needed and where"
is "$(fix_count --method GET)" 0 "nothing is downloaded"
check "not even the small file" test ! -e "$MM_ROOT/models/a.bin"
is "$(st 0) $(st 1)" "failed failed" "both models failed"
like "$(fe 1)" 'not enough disk space' "with the reason"

# A size the manifest does not give comes from a HEAD.
cat > "$T/head.json" <<EOF2
{"models": [{"name": "b.bin", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/b.bin"}]}
EOF2
fix_rule "{\"path\": \"/files/b.bin\", \"method\": \"HEAD\", \"headers\": {\"Content-Length\": \"$HUGE\"}}"
fetch 5 "a Content-Length too large for the disk exits 5" "$T/head.json"
is "$(fix_count --method HEAD /files/b.bin) $(fix_count --method GET /files/b.bin)" "1 0" "one HEAD, no GET"
fix_reset

# Dry run: a present file, a missing one, one whose server refuses HEAD,
# one that does not exist, and one with a bad URL.
rm -rf "$MM_ROOT/.mm"
mkdir -p "$MM_ROOT/models"
cp "$A" "$MM_ROOT/models/a.bin"
cat > "$T/dry.json" <<EOF2
{"models": [
 {"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin", "fileSize": 100000},
 {"name": "b.bin", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/b.bin"},
 {"name": "nohead", "downloadUrl": "$FIX_URL/files/b.bin?x=1", "saveTo": "models/c.bin"},
 {"name": "gone", "downloadUrl": "$FIX_URL/files/gone.bin", "saveTo": "models/gone.bin"},
 {"name": "down", "downloadUrl": "http://127.0.0.1:9/x.bin", "saveTo": "models/down.bin"}]}
EOF2
fix_rule '{"path": "/files/b.bin", "method": "HEAD", "no_head": true, "times": 1}'
fix_rule '{"path": "/files/b.bin", "method": "HEAD"}'
fetch 1 "a dry run with unreachable files exits 1" --dry-run "$T/dry.json"
is "$(st 0) $(st 1) $(st 2) $(st 3) $(st 4)" \
	"present would-download would-download unreachable unreachable" "every model has a status"
is "$(ff 1 bytes) $(ff 2 bytes)" "100000 100000" "the sizes come from the probes"
like "$(fe 3)" 'HTTP 404' "a 404 is named"
is "$(fix_log --method GET | python3 -c 'import json, sys
print(sorted(set(e["headers"].get("range", "none") for e in json.load(sys.stdin))))')" "['bytes=0-0']" \
	"the only GETs ask for one byte"
check "nothing is written" test ! -e "$MM_ROOT/models/b.bin" -a ! -e "$MM_ROOT/models/.b.bin.mm-part"
check "not even the state directory" test ! -e "$MM_ROOT/.mm"

cat > "$T/dry-ok.json" <<EOF2
{"models": [{"name": "b.bin", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/b.bin"}]}
EOF2
fetch 0 "a dry run where everything can be fetched exits 0" --dry-run "$T/dry-ok.json"
is "$(st 0)" would-download "would-download"
MM_ROOT=$T/nonexistent/root fetch 0 "a dry run does not need MM_ROOT to exist" --dry-run "$T/dry-ok.json"
check "and does not create it" test ! -e "$T/nonexistent"
fix_reset
fix_rule "{\"path\": \"/files/b.bin\", \"method\": \"HEAD\", \"headers\": {\"Content-Length\": \"$HUGE\"}}"
fetch 5 "a dry run checks disk space too" --dry-run "$T/head.json"
is "$(st 0)" would-download "the model itself could be fetched"
done_testing
