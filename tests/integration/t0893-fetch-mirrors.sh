#!/bin/sh
# mm-fetch tries the mirrors of MM_MIRRORS (URL templates with {sha256},
# {name}, {saveTo}) in order before the origin, for a model whose sha256 is
# known; a mirror that answers 404 or 5xx, stalls, or has a file of another
# size hands over to the next source; one whose bytes fail the hash is named
# and skipped; a mirror gets no model token unless MM_AUTH_HOSTS binds it;
# a malformed MM_MIRRORS is a configuration error (exit 2).
. tests/lib.sh
. tests/lib-fetch.sh
need curl python3

start_fixture
make_file files/a.bin 3000000
make_file files/m.bin 200000
ha=$(sha256_of "$FIX_ROOT/files/a.bin")
mm5=$(md5_of "$FIX_ROOT/files/m.bin")
cat > "$T/in.json" <<EOF
{"models": [
 {"name": "a b.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/x y/a b.bin", "hash": "$ha",
  "fileSize": 3000000},
 {"name": "m.bin", "downloadUrl": "$FIX_URL/files/m.bin", "saveTo": "models/m.bin", "hash": "md5:$mm5"}]}
EOF
# The mirror's copies: by sha256 on 127.0.0.2, by saveTo on 127.0.0.1.
mkdir -p "$FIX_ROOT/cas/sha256" "$FIX_ROOT/tree/models/x y"
cp "$FIX_ROOT/files/a.bin" "$FIX_ROOT/cas/sha256/$ha"
cp "$FIX_ROOT/files/a.bin" "$FIX_ROOT/tree/models/x y/a b.bin"
CAS="$FIX_ALT_URL/cas/sha256/{sha256}"
TREE="$FIX_URL/tree/{saveTo}"

bf() {
	python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["models"][int(sys.argv[2])]
print(m.get("fetch", {}).get("bytesFrom", {}).get(sys.argv[3], ""))' "$T/res" "$1" "$2"
}
gets() { fix_count --method GET "$1"; }
n=0
run() {
	n=$((n + 1))
	_want=$1 _desc=$2
	shift 2
	MM_ROOT=$T/r$n fetch "$_want" "$_desc" "$@"
}

# ------------------------------------------------------------- in order
fix_reset
MM_MIRRORS="$CAS $TREE" run 0 "two mirrors: exit 0" "$T/in.json"
check "the right bytes" cmp "$T/r$n/models/x y/a b.bin" "$FIX_ROOT/files/a.bin"
is "$(fix_count --host 127.0.0.2 "/cas/sha256/$ha")" 1 "the first mirror was asked"
is "$(gets '/tree/*')" 0 "the second was not"
is "$(gets /files/a.bin)" 0 "nor the origin"
is "$(gets /files/m.bin)" 1 "m.bin (md5 only) comes from its origin"
is "$(gets '/cas/*')" 1 "and was never asked of a mirror (a.bin alone was)"
is "$(ff 0 source)" "mirror 1" "source: mirror 1"
is "$(bf 0 mirror)" 3000000 "bytesFrom.mirror"
like "$(cat "$T/log")" "bytes from peers 0B, mirrors 2\\.9MB" "the summary"
unlike "$(cat "$T/res" "$T/log")" "/cas/sha256" "no mirror URL in the manifest or the log"

fix_reset
MM_MIRRORS="$TREE" run 0 "{saveTo}, percent-encoded: exit 0" "$T/in.json"
check "the right bytes" cmp "$T/r$n/models/x y/a b.bin" "$FIX_ROOT/files/a.bin"
is "$(gets '/tree/models/x y/a b.bin')" 1 "asked by its path, spaces encoded"

# ------------------------------------------------------------- failures
for rule in '"status": 404' '"status": 500' '"status": 503, "retry_after": "30"' \
	'"close": true' '"body_size": 5000'; do
	fix_reset
	fix_rule "{\"prefix\": \"/cas/\", $rule}"
	MM_MIRRORS="$CAS $TREE" run 0 "mirror 1 answers {$rule}: exit 0" "$T/in.json"
	check "  the right bytes" cmp "$T/r$n/models/x y/a b.bin" "$FIX_ROOT/files/a.bin"
	is "$(ff 0 source)" "mirror 2" "  from mirror 2"
	is "$(fix_count --host 127.0.0.2 "/cas/sha256/$ha")" 1 "  mirror 1 was asked once"
	is "$(gets /files/a.bin)" 0 "  the origin not at all"
done
like "$(cat "$T/log")" "mirror 1: answered with another size or range; next: mirror 2" "another size: said"

fix_reset
fix_rule '{"prefix": "/cas/", "status": 404}'
fix_rule '{"prefix": "/tree/", "status": 502}'
MM_MIRRORS="$CAS $TREE" run 0 "both mirrors fail: exit 0" "$T/in.json"
check "the right bytes" cmp "$T/r$n/models/x y/a b.bin" "$FIX_ROOT/files/a.bin"
is "$(ff 0 source)" "origin" "from the origin"
like "$(cat "$T/log")" "mirror 1: HTTP 404; next: mirror 2" "mirror 1's 404 said"
like "$(cat "$T/log")" "mirror 2: HTTP 502; next: origin" "mirror 2's 502 said"

fix_reset
fix_rule '{"prefix": "/cas/", "method": "GET", "stall_after": 500000, "stall_seconds": 60}'
MM_MIRRORS="$CAS" run 0 "a mirror stalls after 500 KB: exit 0" --stall-timeout 2 --segments 1 "$T/in.json"
check "the right bytes" cmp "$T/r$n/models/x y/a b.bin" "$FIX_ROOT/files/a.bin"
like "$(fix_header --method GET /files/a.bin range)" "^bytes=[1-9][0-9]*-" "the origin continues where it stopped"
like "$(cat "$T/log")" "mirror 1: stalled" "the stall is said"

# Content-Range of another file: the first mirror drops, the second has another size.
make_file other.bin 2999000
fix_reset
fix_rule '{"prefix": "/cas/", "method": "GET", "drop_after": 1000000}'
fix_rule "{\"prefix\": \"/tree/\", \"redirect\": \"/other.bin\"}"
MM_MIRRORS="$CAS $TREE" run 0 "mirror 2's Content-Range says another size: exit 0" --segments 1 "$T/in.json"
check "the right bytes" cmp "$T/r$n/models/x y/a b.bin" "$FIX_ROOT/files/a.bin"
is "$(ff 0 source)" "origin" "the origin finished it"
like "$(cat "$T/log")" "mirror 2: answered with another size or range; next: origin" "said"

# ------------------------------------------------------------- a liar
fix_reset
fix_rule '{"prefix": "/cas/", "corrupt_at": 2000000}'
MM_MIRRORS="$CAS $TREE" run 0 "a mirror with wrong bytes: exit 0" "$T/in.json"
check "the file is right" cmp "$T/r$n/models/x y/a b.bin" "$FIX_ROOT/files/a.bin"
like "$(cat "$T/log")" "mirror 1 sent bytes that fail the hash" "the liar is named"
is "$(ff 0 liars)" "['mirror 1']" "in the fetch object too"
is "$(ff 0 source)" "mirror 2" "the next mirror gave the right bytes"

# ------------------------------------------------------------- tokens
cat > "$T/tok.json" <<EOF
{"models": [{"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin",
  "hash": "$ha", "isAuthReq": true, "authEnvVar": "MODEL_TOKEN"}]}
EOF
fix_reset
fix_rule '{"prefix": "/cas/", "require_token": "model-secret-1"}'
fix_rule '{"path": "/files/a.bin", "require_token": "model-secret-1"}'
MODEL_TOKEN=model-secret-1 HF_TOKEN=hf-secret-2 MM_SERVE_TOKEN=serve-secret-3 MM_ALLOW_HTTP_AUTH=1 \
	MM_AUTH_HOSTS=MODEL_TOKEN=127.0.0.1 MM_MIRRORS="$CAS" run 0 "a mirror on an unbound host: exit 0" "$T/tok.json"
fix_header --host 127.0.0.2 "/cas/sha256/$ha" authorization > /dev/null
is "$?" 1 "it gets no Authorization, though it asks for one (401)"
is "$(fix_header --method GET /files/a.bin authorization)" "Bearer model-secret-1" "the origin gets the model's token"
fix_log --host 127.0.0.2 > "$T/reqlog.json"
unlike "$(cat "$T/reqlog.json")" "secret" "no token of any kind reached the mirror"

fix_reset
fix_rule '{"prefix": "/cas/", "require_token": "model-secret-1"}'
MODEL_TOKEN=model-secret-1 MM_ALLOW_HTTP_AUTH=1 MM_AUTH_HOSTS="MODEL_TOKEN=127.0.0.1,127.0.0.2" \
	MM_MIRRORS="$CAS" run 0 "a mirror bound with MM_AUTH_HOSTS: exit 0" "$T/tok.json"
is "$(fix_header --host 127.0.0.2 "/cas/sha256/$ha" authorization)" "Bearer model-secret-1" \
	"it gets the model's token"
is "$(ff 0 source)" "mirror 1" "and serves the file"

# ------------------------------------------------------------- bad templates
for bad in 'https://m.example/{sha}' 'ftp://m.example/{sha256}' 'https://{name}.example/x' \
	'https://m.example/fixed.bin' 'https://m.example/{sha256'; do
	MM_MIRRORS="$CAS $bad" run 2 "MM_MIRRORS with '$bad': exit 2" "$T/in.json"
	like "$(cat "$T/log")" "MM_MIRRORS: entry 2 " "  it names the entry"
	is "$(nfiles "$T/r$n" '*.bin')" 0 "  nothing downloaded"
done
MM_MIRRORS='https://user:hunter2@m.example/{nope}' run 2 "a template with a secret: exit 2" "$T/in.json"
unlike "$(cat "$T/log")" "hunter2" "the secret is not shown"

# ------------------------------------------------------------- the origin's sha256
# No hash in the manifest: Civitai's published sha256 lets a mirror serve it;
# with an md5 in the manifest too, since the download checks both.
civitai_file 101 model.safetensors 300000
hv=$(sha256_of "$FIX_ROOT/_civitai/101/model.safetensors")
mv5=$(md5_of "$FIX_ROOT/_civitai/101/model.safetensors")
cp "$FIX_ROOT/_civitai/101/model.safetensors" "$FIX_ROOT/cas/sha256/$hv"
cat > "$T/cv.json" <<EOF
{"models": [{"name": "cv", "downloadUrl": "$FIX_URL/api/download/models/101", "saveTo": "models/cv.safetensors"}]}
EOF
fix_reset
CIVITAI_ENDPOINT=$FIX_URL MM_MIRRORS="$CAS" run 0 "no manifest hash, Civitai's sha256: exit 0" "$T/cv.json"
check "the right bytes" cmp "$T/r$n/models/cv.safetensors" "$FIX_ROOT/_civitai/101/model.safetensors"
is "$(ff 0 source)" "mirror 1" "from the mirror, by Civitai's sha256"
is "$(ff 0 hashSource)" "civitai" "proved by it"
is "$(gets '/_r2/*')" 0 "the origin's file was not downloaded"
cat > "$T/cv5.json" <<EOF
{"models": [{"name": "cv", "downloadUrl": "$FIX_URL/api/download/models/101", "saveTo": "models/cv.safetensors",
  "hash": "md5:$mv5"}]}
EOF
fix_reset
CIVITAI_ENDPOINT=$FIX_URL MM_MIRRORS="$CAS" run 0 "an md5 in the manifest and Civitai's sha256: exit 0" "$T/cv5.json"
check "the right bytes" cmp "$T/r$n/models/cv.safetensors" "$FIX_ROOT/_civitai/101/model.safetensors"
is "$(ff 0 source)" "mirror 1" "from the mirror: the md5 and Civitai's sha256 are both checked"
is "$(gets '/_r2/*')" 0 "the origin's file was not downloaded"

# ------------------------------------------------------------- none
fix_reset
MM_MIRRORS=" " run 0 "an empty MM_MIRRORS: exit 0" "$T/in.json"
is "$(gets /files/a.bin)" 1 "the origin"
is "$(ff 0 bytesFrom)" "" "a fetch object as before"

done_testing
