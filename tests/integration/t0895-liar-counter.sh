#!/bin/sh
# A peer caught sending bytes that fail the hash is reported to the fleet:
# a real mm-serve whose verified cache lies, a real redis-server, real HTTP
# on loopback.  After the run, machine:<liar>:liar counts it (count, last_by,
# last_at, expiring within 7 days), a second run adds one and renews the
# expiry, the honest peer and the origin get no key, a lying mirror (no
# machine id) gets none either, and mm-route fleet (JSON and --table) shows
# the count, a reported machine ahead of one that only misses a model.  A
# planted key of the wrong type is started anew.  Redis gone when the report
# is sent costs a warning, never the run; MM_PEERS=0 sends nothing.
. tests/lib.sh
. tests/lib-fetch.sh
need curl python3

start_fixture
start_redis
export REDIS_URL
make_file files/a.bin 3000000
make_file files/c.bin 400000
ha=$(sha256_of "$FIX_ROOT/files/a.bin")
hc=$(sha256_of "$FIX_ROOT/files/c.bin")
cat > "$T/in.json" <<EOF
{"models": [
 {"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/loras/a.bin", "hash": "$ha"},
 {"name": "c.bin", "downloadUrl": "$FIX_URL/files/c.bin", "saveTo": "models/loras/c.bin", "hash": "$hc"}]}
EOF

# serve ID ROOT: a real mm-serve for machine ID on 127.0.0.2, advertised in
# Redis; the machine is live and holds what its verified cache says.
serve() {
	MM_ROOT=$2 MACHINE_ID=$1 "$MM_BIN/mm-serve" -v --listen 127.0.0.2:0 < /dev/null > /dev/null \
		2> "$T/serve-$1.log" &
	track_pid "$!"
	wait_until 20 sh -c "[ -n \"\$(redis-cli -s $REDIS_SOCK hget machine:$1:models serve_url)\" ]" ||
		fail "mm-serve $1 advertises its URL" "$(cat "$T/serve-$1.log")"
}
# inventory ID MISSING SHA256: what mm-report would have published, by hand.
inventory() {
	rcli hset "machine:$1:models" machine_id "$1" last_updated 2026-01-01T00:00:00Z total_models 1 \
		total_bytes 1000 total_size_gb 0.00 unverified_models 0 missing_models "$2" > /dev/null
	rcli sadd "machine:$1:sha256s" "$3" > /dev/null
	rcli zadd machines:models:heartbeat "$(rcli time | head -n 1)" "$1" > /dev/null
}

# The honest peer holds c.bin, verified for real.
mkdir -p "$T/h/models/loras"
cp "$FIX_ROOT/files/c.bin" "$T/h/models/loras/c.bin"
MM_ROOT=$T/h "$MM_BIN/mm-verify" --scan --hash -q > /dev/null 2>&1
inventory honest-h 1 "$hc"
serve honest-h "$T/h"

# The liar holds other bytes of a.bin's size, and a verified cache that
# says they are a.bin's: its record of their real digest, rewritten.
mkdir -p "$T/l/models/loras"
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[1234567] ^= 0xff
open(sys.argv[2], "wb").write(b)' "$FIX_ROOT/files/a.bin" "$T/l/models/loras/a.bin"
hx=$(sha256_of "$T/l/models/loras/a.bin")
MM_ROOT=$T/l "$MM_BIN/mm-verify" --scan --hash -q > /dev/null 2>&1
python3 -c 'import sys
p, hx, ha = sys.argv[1:]
lines = open(p).read().split("\n")
out = [lines[0]]
for l in lines[1:]:
    f = l.split(" ")
    if hx in f:
        f[5] = "0"
        f = [ha if x == hx else x for x in f]
    out.append(" ".join(f))
open(p, "w").write("\n".join(out))' "$T/l/.mm/verified" "$hx" "$ha"
inventory liar-l 0 "$ha"
serve liar-l "$T/l"
like "$(cat "$T/serve-liar-l.log")" "serving 1 verified file" "the liar's mm-serve takes the forged record"

# ------------------------------------------------- the first catch
MM_ROOT=$T/b MACHINE_ID=gpu-b fetch 0 "machine B, a lying peer and an honest one: exit 0" -j 1 "$T/in.json"
check "a.bin is right" cmp "$T/b/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
check "c.bin is right" cmp "$T/b/models/loras/c.bin" "$FIX_ROOT/files/c.bin"
like "$(cat "$T/log")" "a.bin: peer liar-l sent bytes that fail the hash" "the liar is named in the log"
like "$(cat "$T/log")" "reported 1 lying peer to the fleet" "and the log says it was reported"
is "$(ff 1 source)" "peer honest-h" "c.bin came from the honest peer"
now=$(rcli time | head -n 1)
is "$(rcli type machine:liar-l:liar)" hash "machine:liar-l:liar is a hash"
is "$(rcli hget machine:liar-l:liar count)" 1 "count 1"
is "$(rcli hget machine:liar-l:liar last_by)" gpu-b "last_by: the machine that caught it"
at=$(rcli hget machine:liar-l:liar last_at)
# between LO HI N: LO <= N <= HI.
between() { [ "$1" -le "$3" ] && [ "$3" -le "$2" ]; }
check "last_at: the server's time of the report ($at, now $now)" between $((now - 60)) "$now" "${at:-0}"
ttl=$(rcli ttl machine:liar-l:liar)
check "it expires within 7 days (TTL $ttl)" between $((7 * 86400 - 120)) $((7 * 86400)) "$ttl"
is "$(rcli exists machine:honest-h:liar)" 0 "the honest peer gets no key"
is "$(rcli --scan --pattern '*:liar' | tr '\n' ' ')" "machine:liar-l:liar " "nor the origin, nor anyone else"

# ------------------------------------------------- a second catch
rcli expire machine:liar-l:liar 100 > /dev/null
MM_ROOT=$T/c MACHINE_ID=gpu-c fetch 0 "machine C: exit 0" "$T/in.json"
check "a.bin is right" cmp "$T/c/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
is "$(rcli hget machine:liar-l:liar count)" 2 "a second run: count 2"
is "$(rcli hget machine:liar-l:liar last_by)" gpu-c "last_by: the second reporter"
ttl=$(rcli ttl machine:liar-l:liar)
check "the expiry is renewed (TTL $ttl)" [ "$ttl" -gt 100000 ]
is "$(rcli exists machine:honest-h:liar)" 0 "still no key for the honest peer"

# ------------------------------------------------- the fleet view
exit_is 0 "mm-route fleet" mm mm-route fleet
python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
by = {m["machine_id"]: m for m in o}
assert [m["machine_id"] for m in o] == ["liar-l", "honest-h"], o
l, h = by["liar-l"], by["honest-h"]
assert l["liars"] == 2 and l["liar_last_by"] == "gpu-c" and isinstance(l["liar_last_at"], (int, float)), l
assert h["liars"] == 0 and h["liar_last_by"] is None and h["liar_last_at"] is None, h
assert l["problem"] is None and h["problem"] is None, o
' "$T/out" && pass "fleet JSON: liars 2, the last reporter and time; 0 for the honest; the reported machine first" ||
	fail "fleet JSON with a liar" "$(cat "$T/out")"
exit_is 0 "mm-route --table fleet" mm mm-route --table fleet
like "$(head -n 1 "$T/out")" ' MISSING +LIARS  LAST REPORT' "the table has a LIARS column"
like "$(grep '^liar-l ' "$T/out")" '^liar-l +live +[0-9]+s +1 +[^ ]+ +0 +0 +2  2026-' "the liar's line: 2 reports"
like "$(grep '^honest-h ' "$T/out")" '^honest-h +live +[0-9]+s +1 +[^ ]+ +0 +1 +0  2026-' "the honest one's: 0"

# ------------------------------------------------- a planted key of the wrong type
rcli del machine:liar-l:liar > /dev/null
rcli set machine:liar-l:liar planted > /dev/null
exit_is 0 "fleet with a liar key of the wrong type" mm mm-route fleet
like "$(python3 -c 'import json,sys; print([m for m in json.load(open(sys.argv[1])) if m["machine_id"] == "liar-l"][0]["problem"])' "$T/out")" \
	"machine:liar-l:liar.*WRONGTYPE" "fleet says the key is broken"
MM_ROOT=$T/d MACHINE_ID=gpu-d fetch 0 "a run over the planted key: exit 0" "$T/in.json"
is "$(rcli type machine:liar-l:liar)" hash "the key is a hash again"
is "$(rcli hget machine:liar-l:liar count)" 1 "counting anew from 1"

# ------------------------------------------------- a lying mirror; MM_PEERS=0
mkdir -p "$FIX_ROOT/mirror"
cp "$FIX_ROOT/files/a.bin" "$FIX_ROOT/mirror/$ha"
fix_reset
fix_rule "{\"path\": \"/mirror/$ha\", \"corrupt_at\": 1000}"
before=$(grep -c "GET /sha256/" "$T/serve-liar-l.log")
MM_PEERS=0 MM_MIRRORS="$FIX_URL/mirror/{sha256}" MM_ROOT=$T/e MACHINE_ID=gpu-e \
	fetch 0 "MM_PEERS=0, a lying mirror: exit 0" "$T/in.json"
check "a.bin is right" cmp "$T/e/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
like "$(cat "$T/log")" "a.bin: mirror 1 sent bytes that fail the hash" "the mirror is named in the log"
is "$(grep -c "GET /sha256/" "$T/serve-liar-l.log")" "$before" "the liar was not asked"
is "$(rcli hget machine:liar-l:liar count)" 1 "MM_PEERS=0: the count is unchanged"
is "$(rcli --scan --pattern '*:liar' | tr '\n' ' ')" "machine:liar-l:liar " "and the mirror has no key"

# ------------------------------------------------- Redis gone when the report is sent
# The origin sends a.bin slowly after the liar is caught; Redis stops meanwhile.
fix_reset
fix_rule '{"path": "/files/a.bin", "rate": 1000000}'
MM_ROOT=$T/f MACHINE_ID=gpu-f "$MM_BIN/mm-fetch" -j 1 "$T/in.json" > "$T/f.out" 2> "$T/f.err" &
fpid=$!
track_pid "$fpid"
wait_until 30 grep -q "peer liar-l sent bytes that fail the hash" "$T/f.err" ||
	fail "the liar is caught before Redis stops" "$(cat "$T/f.err")"
stop_redis
wait "$fpid"
is "$?" 0 "Redis gone during the report: exit 0"
check "a.bin is right" cmp "$T/f/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
is "$(json_get models.0.fetch.status "$T/f.out")" downloaded "the manifest on stdout says downloaded"
like "$(cat "$T/f.err")" "warning: cannot report 1 lying peer to Redis" "a warning says the report is lost"
is "$(grep -c 'cannot report' "$T/f.err")" 1 "once"

done_testing
