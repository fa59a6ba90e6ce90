#!/bin/sh
# mm_peers finds a peer's digests in the set mm-report publishes beside the
# models JSON (machine:<id>:sha256s), not by decoding every live machine's
# JSON on every call; the set follows the disk, leaves with the machine, and
# a machine an older mm-report published (JSON, no set) is still found.
. tests/lib.sh
. tests/lib-fetch.sh
need curl python3

start_fixture
start_redis
make_file files/a.bin 300000
make_file files/c.bin 200000
ha=$(sha256_of "$FIX_ROOT/files/a.bin")
hc=$(sha256_of "$FIX_ROOT/files/c.bin")
hz=$(printf '%064d' 0)
cat > "$T/in.json" <<EOF
{"models": [
 {"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/loras/a.bin", "hash": "$ha"},
 {"name": "c.bin", "downloadUrl": "$FIX_URL/files/c.bin", "saveTo": "models/loras/c.bin", "hash": "$hc"}]}
EOF
export REDIS_URL

# peers SHA...: "id index..." a line per peer that holds some, as gpu-z asks.
peers() {
	redis-cli -s "$REDIS_SOCK" --no-raw fcall_ro mm_peers 0 gpu-z 120 "$@" 2>&1 |
		tr -d '"' | awk '/\) [0-9]+\) / { print } / \(error\)/ { print }' | tr -s ' ' | tr '\n' ' '
}
holders() {
	redis-cli -s "$REDIS_SOCK" fcall_ro mm_peers 0 gpu-z 120 "$@" 2>&1 |
		grep -E '^(peer|old|bad)-' | sort | tr '\n' ' '
}

MM_ROOT=$T/a MACHINE_ID=peer-a sh -c \
	'"$MM_BIN/mm-fetch" -q "$1" | "$MM_BIN/mm-verify" -q | "$MM_BIN/mm-report" -q' sh "$T/in.json" \
	> /dev/null 2> "$T/a.err"
is "$?" 0 "machine A fetches, verifies and reports"
is "$(rcli smembers machine:peer-a:sha256s | sort | tr '\n' ' ')" "$(printf '%s\n' "$ha" "$hc" | sort | tr '\n' ' ')" \
	"its proved digests are a set of their own"
rcli hset machine:peer-a:models serve_url http://127.0.0.2:8190 > /dev/null

is "$(holders "$ha")" "peer-a " "mm_peers finds A by a.bin's digest"
is "$(holders "$hz")" "" "and nobody for a digest no one holds"

# The set is what is asked: a models JSON that says otherwise is not read.
rcli hset machine:peer-a:models models '[]' > /dev/null
is "$(holders "$ha")" "peer-a " "found through the set, whatever the JSON says"
rcli srem machine:peer-a:sha256s "$ha" > /dev/null
rcli hset machine:peer-a:models models "[{\"name\":\"a.bin\",\"saveTo\":\"models/loras/a.bin\",\"size\":1,\"sha256\":\"$ha\"}]" > /dev/null
is "$(holders "$ha")" "" "a digest gone from the set is not held, whatever the JSON says"
is "$(holders "$hc")" "peer-a " "the rest of the set still is"

# A machine an older mm-report published: a models JSON and no set.
rcli hset machine:old-b:models serve_url http://127.0.0.3:8190 \
	models "[{\"name\":\"a.bin\",\"saveTo\":\"models/loras/a.bin\",\"size\":1,\"sha256\":\"$ha\"}]" > /dev/null
rcli zadd machines:models:heartbeat "$(rcli time | head -n 1)" old-b > /dev/null
is "$(holders "$ha")" "old-b " "a machine without the set is read from its JSON"

# Keys of the wrong type are passed over, never an error for the caller.
rcli hset machine:bad-c:models serve_url http://127.0.0.4:8190 > /dev/null
rcli set machine:bad-c:sha256s "$ha" > /dev/null
rcli zadd machines:models:heartbeat "$(rcli time | head -n 1)" bad-c > /dev/null
is "$(holders "$ha")" "old-b " "a sha256s key that is not a set: passed over"
unlike "$(peers "$ha")" "error" "with no error"

# The set follows the disk: a file removed is gone from it at the next report.
rm "$T/a/models/loras/c.bin"
MM_ROOT=$T/a MACHINE_ID=peer-a sh -c \
	'"$MM_BIN/mm-verify" -q "$1" | "$MM_BIN/mm-report" -q' sh "$T/in.json" > /dev/null 2> "$T/a2.err"
rcli hset machine:peer-a:models serve_url http://127.0.0.2:8190 > /dev/null
is "$(rcli smembers machine:peer-a:sha256s | tr '\n' ' ')" "$ha " "after c.bin is removed, the set holds a.bin alone"
is "$(holders "$hc")" "" "and nobody holds c.bin"

# mm-report --full writes it whole, and --deregister takes it away.
rcli del machine:peer-a:sha256s > /dev/null
MM_ROOT=$T/a MACHINE_ID=peer-a sh -c \
	'"$MM_BIN/mm-verify" -q "$1" | "$MM_BIN/mm-report" -q --full' sh "$T/in.json" > /dev/null 2> "$T/a3.err"
is "$(rcli smembers machine:peer-a:sha256s | tr '\n' ' ')" "$ha " "--full writes the set again"
MACHINE_ID=peer-a "$MM_BIN/mm-report" -q --deregister > /dev/null 2>&1
is "$(rcli exists machine:peer-a:sha256s)" 0 "--deregister removes it"

done_testing
