#!/bin/sh
# A manifest or an API answer that is ambiguous JSON (a key given twice at
# any level, a raw NUL byte), gives a size that is not decimal, or has a
# saveTo naming one of mm's own files (a part, state or quarantined file, or
# anything in the state directory) is refused whole: exit 3, a message naming
# the model and why, and no request.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root"
mkdir -p "$MM_ROOT/models"

# validate WANT DESC FILE: mm-discover --validate FILE exits WANT.
validate() {
	exit_is "$1" "$2" mm mm-discover --validate "$3"
}

# --- saveTo naming another model's part file (finding 6) ---------------------
# A is large and slow; B, saved at A's part file, is small: the old engine
# renamed B's bytes into A's final path and said "sha256 verified".
make_file files/x.bin 8388608
make_file files/b.bin 1001
XH=$(sha256_of "$FIX_ROOT/files/x.bin")
fix_rule '{"path": "/files/x.bin", "method": "GET", "rate": 2000000}'
cat > "$T/part.json" <<EOF
{"models": [
 {"name": "A", "downloadUrl": "$FIX_URL/files/x.bin", "saveTo": "models/x.bin", "hash": "$XH"},
 {"name": "B", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/.x.bin.mm-part"}]}
EOF
fetch 3 "a saveTo naming another model's part file is refused" "$T/part.json"
like "$(cat "$T/log")" "models\[1\] \(B\): saveTo 'models/\.x\.bin\.mm-part' names one of mm's own files" \
	"the message names the model and why"
is "$(fix_count)" 0 "no request is made"
if [ -e "$MM_ROOT/models/x.bin" ] && cmp -s "$MM_ROOT/models/x.bin" "$FIX_ROOT/files/b.bin"; then
	fail "x.bin never holds B's bytes"
else
	pass "x.bin never holds B's bytes"
fi
check "nothing is written at x.bin" test ! -e "$MM_ROOT/models/x.bin"

n=0
for bad in models/.x.bin.mm-state models/.x.bin.mm-state.tmp models/.x.bin.mm-quarantined \
	'.x.bin.mm-part' models/sub/.a.gguf.mm-whatever .mm .mm/verified .mm/locks/0000000000000001.lock \
	.mm/quarantine/models/x.bin; do
	n=$((n + 1))
	cat > "$T/r$n.json" <<EOF
{"models": [{"name": "B", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "$bad"}]}
EOF
	fetch 3 "saveTo '$bad' is refused" "$T/r$n.json"
	validate 3 "mm-discover --validate refuses '$bad' too" "$T/r$n.json"
done
is "$(fix_count)" 0 "still no request"

# Names that only look like mm's are ordinary.
for good in models/x.bin.mm-part models/..mm-part models/.hidden.bin models/.mm/x.bin models/.mmx/y.bin; do
	cat > "$T/g.json" <<EOF
{"models": [{"name": "B", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "$good"}]}
EOF
	validate 0 "saveTo '$good' is accepted" "$T/g.json"
done

# --- saveTo poisoning the API cache --------------------------------------------
cat > "$FIX_ROOT/files/poison.json" <<EOF
{"data": {"name": "w", "models": [{"name": "evil", "downloadUrl": "$FIX_URL/files/b.bin",
  "saveTo": "models/evil.bin"}]}, "error": null}
EOF
poison() {  # poison SAVETO: a manifest writing poison.json at SAVETO
	cat > "$T/poison-in.json" <<EOF
{"models": [{"name": "p", "downloadUrl": "$FIX_URL/files/poison.json", "saveTo": "$1"}]}
EOF
}
poison .mm/api/workflows/name/w.json
fetch 3 "a saveTo inside the default state directory is refused" "$T/poison-in.json"
like "$(cat "$T/log")" "saveTo '\.mm/api/workflows/name/w\.json' is inside mm's state directory" "saying why"
check "no cached answer is planted" test ! -e "$MM_ROOT/.mm/api/workflows/name/w.json"
exit_is 4 "so mm-discover --offline has nothing to serve" mm mm-discover --offline -w w
unlike "$(cat "$T/out")" evil "and serves no planted model"

export MM_STATE_DIR="$MM_ROOT/state"
poison state/api/workflows/name/w.json
fetch 3 "a saveTo inside MM_STATE_DIR (inside MM_ROOT) is refused" "$T/poison-in.json"
validate 3 "by mm-discover --validate too" "$T/poison-in.json"
poison .mm/api/workflows/name/w.json
fetch 3 "and .mm stays reserved when MM_STATE_DIR is elsewhere" "$T/poison-in.json"
poison models/../state/x
fetch 3 "'..' still cannot reach it" "$T/poison-in.json"
MM_STATE_DIR="$MM_ROOT//state/./"
poison state/x.json
fetch 3 "MM_STATE_DIR is compared without its extra slashes and dots" "$T/poison-in.json"
unset MM_STATE_DIR
poison st2/api/x.json
fetch 3 "a saveTo inside --state-dir is refused" --state-dir "$MM_ROOT/st2" "$T/poison-in.json"
exit_is 3 "by mm-verify --state-dir too" mm mm-verify --state-dir "$MM_ROOT/st2" "$T/poison-in.json"
exit_is 3 "by mm-discover --validate --state-dir too" mm mm-discover --state-dir "$MM_ROOT/st2" \
	--validate "$T/poison-in.json"
poison st2x/api/x.json
validate 0 "a sibling of the state directory is an ordinary folder" "$T/poison-in.json"
is "$(fix_count)" 0 "no request for any refused manifest"

# --- duplicate keys (finding 16) ------------------------------------------------
M='"name": "a", "downloadUrl": "'$FIX_URL'/files/b.bin"'
printf '{"models": [], "models": [{%s, "saveTo": "../x"}]}\n' "$M" > "$T/d1.json"
validate 3 "a top-level key given twice is refused" "$T/d1.json"
like "$(cat "$T/err")" "key 'models' is given twice at the top level" "naming the key"
fetch 3 "by mm-fetch too" "$T/d1.json"
check "and nothing is written outside MM_ROOT" test ! -e "$T/x"
printf '{"models": [{%s, "saveTo": "models/a.bin", "saveTo": "../a.bin"}]}\n' "$M" > "$T/d2.json"
validate 3 "a model key given twice is refused" "$T/d2.json"
like "$(cat "$T/err")" "models\[0\]: key 'saveTo' is given twice" "naming the model and the key"
printf '{"models": [{%s, "saveTo": "models/a.bin", "extra": {"k": [{"z": 1, "z": 2}]}}]}\n' "$M" > "$T/d3.json"
validate 3 "a key given twice in a nested object is refused" "$T/d3.json"
like "$(cat "$T/err")" "models\[0\]\.extra\.k\[0\]: key 'z' is given twice" "naming where"
printf '{"models": [{%s, "saveTo": "models/a.bin"}], "source": {"x": 1, "x": 1}}\n' "$M" > "$T/d4.json"
validate 3 "even with the same value twice" "$T/d4.json"

# --- NUL bytes -------------------------------------------------------------------
printf '{"models": [{%s, "saveTo": "models/x.bin\000/../.."}]}\n' "$M" > "$T/n1.json"
validate 3 "a raw NUL byte inside a string is refused" "$T/n1.json"
like "$(cat "$T/err")" "line 1, column [0-9]+: a raw NUL byte" "with its place"
fetch 3 "by mm-fetch too" "$T/n1.json"
printf '{"models": [{%s, "saveTo": "models/x.bin\\u0000/../.."}]}\n' "$M" > "$T/n2.json"
validate 3 "an escaped NUL inside a string is refused" "$T/n2.json"
printf '{"models": [{%s, "saveTo": "models/x.bin", "note": "a\tb"}]}\n' "$M" > "$T/n3.json"
validate 3 "a raw control character inside a string is refused" "$T/n3.json"
printf '{"models":\t[{%s,\r\n "saveTo": "models/x.bin"}]}\n' "$M" > "$T/n4.json"
validate 0 "tabs and CR/LF between values are white space" "$T/n4.json"
is "$(fix_count)" 0 "no request for any refused manifest"

# --- sizes -----------------------------------------------------------------------
size_of() {  # size_of FILESIZE_JSON: sizeBytes, or "refused"
	printf '{"models": [{%s, "saveTo": "models/a.bin", "fileSize": %s}]}\n' "$M" "$1" > "$T/s.json"
	if mm mm-discover --validate "$T/s.json" > "$T/s.out" 2> "$T/s.err"; then
		json_get models.0.sizeBytes "$T/s.out"
	else
		echo "refused $?"
	fi
}
for v in '"0x10"' '"0x1p4GB"' '"0X10MB"' '"inf"' '"nan"' '"infinityGB"' '"1e3"' '"1E3GB"' '"-5"' \
	'"+5"' '"1.5"' '"1.5B"' '".5GB"' '"5.GB"' '"1,5GB"' '"12 XB"' '1.5' '-1' '1e400' '"17.2GB;"'; do
	is "$(size_of "$v")" "refused 3" "fileSize $v is refused"
done
is "$(size_of '"17.2GB"')" 18468359372 'fileSize "17.2GB" is binary gigabytes'
is "$(size_of '" 0.5 KiB "')" 512 'fileSize " 0.5 KiB " is read'
is "$(size_of '"1024"')" 1024 'fileSize "1024" is bytes'
is "$(size_of '"1024B"')" 1024 'fileSize "1024B" is bytes'
is "$(size_of '1024')" 1024 'fileSize 1024 is bytes'
is "$(size_of '1e3')" 1000 'fileSize 1e3 is a JSON number, 1000'

# --- API answers -------------------------------------------------------------------
export EMPROPS_API_BASE_URL="$FIX_URL" MM_STATE_DIR="$T/state"
good='{"name":"a","downloadUrl":"'$FIX_URL'/files/b.bin","saveTo":"models/a.bin"}'
evil='{"name":"a","downloadUrl":"'$FIX_URL'/files/b.bin","saveTo":"../evil.bin"}'
mkdir -p "$FIX_ROOT/workflows/name"
printf '{"data":{"name":"w1","models":[%s]},"data":{"name":"w1","models":[%s]},"error":null}\n' \
	"$good" "$evil" > "$FIX_ROOT/workflows/name/w1"
exit_is 3 "an API answer giving data twice is refused" mm mm-discover -w w1
like "$(cat "$T/err")" "workflow 'w1' is ambiguous: key 'data' is given twice" "saying so"
check "and is not cached" test ! -e "$T/state/api/workflows/name/w1.json"
printf '{"data":{"name":"w2","models":[{"name":"a","downloadUrl":"%s/files/b.bin","saveTo":"models/a.bin","saveTo":"../a"}]},"error":null}\n' \
	"$FIX_URL" > "$FIX_ROOT/workflows/name/w2"
exit_is 3 "a model object in an answer giving saveTo twice is refused" mm mm-discover -w w2
like "$(cat "$T/err")" "key 'saveTo' is given twice in data\.models\[0\]" "naming where"
api_workflow w3 "[$good]"
exit_is 0 "the same answer without the repeat is fine" mm mm-discover -w w3

done_testing
