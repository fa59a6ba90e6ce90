#!/bin/sh
# mm-fetch draws the pieces of one file from several sources at once: fleet
# peers and a mirror each serve ranges of it, the origin none, and
# bytesFrom adds up to the file.  A peer that sends wrong bytes in part of
# the file is found piece by piece: the file is right, that peer alone is
# named, the honest one never, and the origin serves only the bytes where
# two peers disagreed, never the liar's pieces.  A peer that drops mid-file
# is left, its bytes kept, and the others serve its missing ranges.
# Without peers the origin alone serves the file, as before.
. tests/lib.sh
. tests/lib-fetch.sh
need curl python3

start_fixture
start_redis
export REDIS_URL
size=12000000
make_file files/a.bin $size
ha=$(sha256_of "$FIX_ROOT/files/a.bin")
cat > "$T/in.json" <<EOF
{"models": [
 {"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/loras/a.bin", "hash": "$ha"}]}
EOF
for p in p1 p2 cas; do
	mkdir -p "$FIX_ROOT/$p/sha256"
	cp "$FIX_ROOT/files/a.bin" "$FIX_ROOT/$p/sha256/$ha"
done

# fake ID URL [SHA]: machine ID in the inventory, live, serving at URL, holding a.bin (or SHA).
fake() {
	rcli hset "machine:$1:models" serve_url "$2" \
		models "[{\"name\":\"x\",\"saveTo\":\"models/x\",\"size\":1,\"sha256\":\"${3:-$ha}\"}]" > /dev/null
	rcli zadd machines:models:heartbeat "$(rcli time | head -n 1)" "$1" > /dev/null
}
unfake() {
	rcli del "machine:$1:models" > /dev/null
	rcli zrem machines:models:heartbeat "$1" > /dev/null
}
bf() {
	python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["models"][0]
print(int(m.get("fetch", {}).get("bytesFrom", {}).get(sys.argv[2], 0)))' "$T/res" "$1"
}
# served PATH: body bytes the fixture sent for GETs of PATH (a prefix with *).
served() {
	fix_log --method GET "$1" | python3 -c 'import json, sys
print(sum(e["bytes"] for e in json.load(sys.stdin)))'
}
# ranges PATH: how many GETs of PATH were answered with a range (206).
ranges() { fix_count --method GET --status 206 "$1"; }

# Small pieces (2 MB) so a 12 MB file has several.
seg="--segment-min 1MB --segments 4"

# ------------------------------------------------ two peers and a mirror at once
fake p1 "$FIX_ALT_URL/p1"
fake p2 "$FIX_ALT_URL/p2"
fix_reset
MM_MIRRORS="$FIX_ALT_URL/cas/sha256/{sha256}" MM_ROOT=$T/all MACHINE_ID=gpu-b \
	fetch 0 "two peers and a mirror: exit 0" $seg "$T/in.json"
check "the right bytes" cmp "$T/all/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
n=0
for p in p1 p2 cas; do
	[ "$(served "/$p/*")" -gt 0 ] && n=$((n + 1))
done
is "$n" 3 "each of the three sources served bytes of the file"
check "peer p1 answered ranges" [ "$(ranges '/p1/*')" -ge 1 ]
check "peer p2 answered ranges" [ "$(ranges '/p2/*')" -ge 1 ]
is "$(fix_count --method GET /files/a.bin)" 0 "the origin was not asked"
is "$(( $(bf peer) + $(bf mirror) + $(bf origin) ))" $size "bytesFrom adds up to the file"
check "bytesFrom.peer is the peers' part ($(bf peer))" [ "$(bf peer)" -gt 0 ]
check "bytesFrom.mirror is the mirror's part ($(bf mirror))" [ "$(bf mirror)" -gt 0 ]
like "$(ff 0 source)" "^(peer p[12]|mirror 1)$" "source: the one that gave most"
is "$(ff 0 liars)" "" "no one named"

# ------------------------------------------------ a peer that lies in part of the file
# p2's copy has one wrong byte in every 2 MB (so whichever pieces it
# serves, it lies in some); p1 is honest.
cp "$FIX_ROOT/p2/sha256/$ha" "$T/good"
python3 -c 'import sys
f = open(sys.argv[1], "r+b")
for off in range(1000000, int(sys.argv[2]), 2097152):
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xff]))' "$FIX_ROOT/p2/sha256/$ha" $size
fix_reset
MM_ROOT=$T/liar MACHINE_ID=gpu-b fetch 0 "one lying peer: exit 0" $seg "$T/in.json"
check "the file is still right" cmp "$T/liar/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
is "$(ff 0 status)" "downloaded" "downloaded"
is "$(ff 0 liars)" "['peer p2']" "the liar alone is named in the fetch object"
like "$(cat "$T/log")" "a.bin: peer p2 sent bytes that fail the hash" "the log names it"
unlike "$(cat "$T/log")" "peer p1 sent bytes" "the honest peer is never named"
is "$(nfiles "$T/liar" '*.mm-part')" 0 "no part file left"
o=$(served /files/a.bin) l=$(served '/p2/*')
check "the origin served at most the liar's part ($o of the $l bytes p2 sent)" [ "$o" -le "$l" ]
check "a byte or so per disagreement, not a piece ($o bytes)" [ "$o" -le 65536 ]
check "p1 served ranges" [ "$(ranges '/p1/*')" -ge 1 ]
like "$(cat "$T/log")" "checked against each other" "the pieces of the two peers were checked"
cp "$T/good" "$FIX_ROOT/p2/sha256/$ha"

# ------------------------------------------------ a peer that drops mid-file
fix_reset
fix_rule "{\"prefix\": \"/p2/\", \"method\": \"GET\", \"drop_after\": 1000000}"
MM_ROOT=$T/drop MACHINE_ID=gpu-b fetch 0 "a peer drops after 1 MB: exit 0" $seg "$T/in.json"
check "the file is right" cmp "$T/drop/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
like "$(cat "$T/log")" "peer p2: .*; next: peer p1" "the peer that dropped is left, p1 takes over"
is "$(fix_count --method GET /files/a.bin)" 0 "the origin was not asked"
is "$(bf peer)" $size "every byte from the peers, none twice: what p2 sent is kept"
is "$(ff 0 source)" "peer p1" "source: p1, which gave most"
is "$(ff 0 liars)" "" "a peer that drops is no liar"

# ------------------------------------------------ honest peers, a wrong manifest hash
# Both peers and the origin serve the same bytes, which are not the ones the
# manifest names: the pieces agree, no one is named, the file fails.
hx=$(printf 'not a.bin' | sha256sum | cut -d ' ' -f 1)
for p in p1 p2; do
	cp "$FIX_ROOT/files/a.bin" "$FIX_ROOT/$p/sha256/$hx"
	fake "$p" "$FIX_ALT_URL/$p" "$hx"
done
sed "s/$ha/$hx/" "$T/in.json" > "$T/wrong.json"
fix_reset
MM_ROOT=$T/wrong MACHINE_ID=gpu-b fetch 1 "a wrong manifest hash, honest peers: exit 1" $seg "$T/wrong.json"
is "$(ff 0 status)" "failed" "failed"
is "$(ff 0 liars)" "" "no honest peer is named"
unlike "$(cat "$T/log")" "sent bytes that fail" "nor in the log"
check "no file at the final path" [ ! -e "$T/wrong/models/loras/a.bin" ]

# ------------------------------------------------ no peers: the origin, as before
unfake p1
unfake p2
fix_reset
MM_ROOT=$T/none MACHINE_ID=gpu-b fetch 0 "no peers: exit 0" $seg "$T/in.json"
check "the file is right" cmp "$T/none/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
check "the origin served it" [ "$(served /files/a.bin)" -ge $size ]
is "$(ff 0 bytesFrom)" "" "no bytesFrom, as before"
is "$(ff 0 source)" "" "no source, as before"

done_testing
