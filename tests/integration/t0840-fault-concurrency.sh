#!/bin/sh
# Three mm-fetch runs and an mm-verify --quarantine on one MM_ROOT at once.
# Each file is downloaded once (the others wait for it), a corrupt file
# planted at a final path is quarantined, never half-overwritten, and when
# the dust settles one more fetch and verify leave every model correct.
. tests/lib.sh
. tests/lib-fetch.sh
. tests/lib-fault.sh

[ -x "$MM_BIN/mm-fetch" ] || skip_all "mm-fetch is not built"
[ -x "$MM_BIN/mm-verify" ] || skip_all "mm-verify is not built"
start_fixture
export MM_ROOT="$T/root" MM_STATE_DIR="$T/state"
for f in a b c d; do make_file "files/$f.bin" 800000; done
python3 - "$FIX_ROOT" "$FIX_URL" > "$T/in.json" <<'PY'
import hashlib, json, sys
fix, url = sys.argv[1:3]
print(json.dumps({"models": [
    {"name": n + ".bin", "downloadUrl": "%s/files/%s.bin" % (url, n), "saveTo": "models/%s.bin" % n,
     "hash": hashlib.sha256(open("%s/files/%s.bin" % (fix, n), "rb").read()).hexdigest()}
    for n in "abcd"]}))
PY
# d.bin is already "there" but wrong: a run without --verify-present takes it
# as present; mm-verify --quarantine must move it away whole.
mkdir -p "$MM_ROOT/models"
head -c 800000 /dev/zero > "$MM_ROOT/models/d.bin"

fix_rule '{"prefix": "/files/", "method": "GET", "rate": 1000000}'
for i in 1 2 3; do
	"$MM_BIN/mm-fetch" "$T/in.json" > "$T/f$i.out" 2> "$T/f$i.err" &
	eval "pid$i=\$!"
	track_pid $!
done
fix_wait --bytes 200000 /files/a.bin
"$MM_BIN/mm-verify" --quarantine "$T/in.json" > "$T/v.out" 2> "$T/v.err"
vrc=$?
rcs=
for i in 1 2 3; do
	eval "wait \$pid$i"
	rcs="$rcs $?"
done
is "$rcs" " 0 0 0" "three concurrent runs all succeed"
like "$vrc" '^[01]$' "mm-verify --quarantine alongside them exits 0 or 1 ($vrc)"
for f in a b c; do
	is "$(fix_count --method GET "/files/$f.bin")" 1 "$f.bin is downloaded once, not three times"
	check "$f.bin is correct" cmp "$MM_ROOT/models/$f.bin" "$FIX_ROOT/files/$f.bin"
done
# d.bin may leave its path under a run that found it present: judge a, b, c.
for i in 1 2 3; do
	python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); m["models"] = m["models"][:3]; print(json.dumps(m))' \
		"$T/f$i.out" > "$T/res"
	end_state "concurrent run $i of three" "$T/res"
done
if [ -e "$MM_ROOT/models/d.bin" ]; then
	check "d.bin, if still at its path, is whole: zeros or the right bytes" sh -c \
		"cmp -s '$MM_ROOT/models/d.bin' '$FIX_ROOT/files/d.bin' || [ \"\$(tr -d '\\000' < '$MM_ROOT/models/d.bin' | wc -c)\" -eq 0 ]"
else
	pass "d.bin was moved away"
fi
is "$(python3 -c 'import json,sys; print([m["verify"]["status"] for m in json.load(open(sys.argv[1]))["models"]][3])' "$T/v.out")" \
	mismatch "mm-verify found d.bin wrong"
check "and quarantined it, whole" cmp "$MM_STATE_DIR/quarantine/models/d.bin" /dev/zero -n 800000
check "with a note of why" test -s "$MM_STATE_DIR/quarantine/models/d.bin.why"
is "$(nfiles "$MM_ROOT" '*.mm-part')" 0 "no part file is left"

fix_reset
fetch 0 "after the dust settles, one more fetch" "$T/in.json"
end_state "three fetches and a quarantine at once, then a fetch" "$T/res"
exit_is 0 "and every model verifies" mm mm-verify "$T/in.json"
done_testing
