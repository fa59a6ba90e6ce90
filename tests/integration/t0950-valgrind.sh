#!/bin/sh
# Every binary once under valgrind memcheck on an ordinary run, and once on
# a failing one: no invalid read or write, no use of uninitialised memory,
# no definite or indirect leak.  Binaries not built yet are skipped.
. tests/lib.sh

[ "${MM_SAN:-0}" = 1 ] && skip_all "the binaries are a sanitizer build; valgrind runs on the plain one"
need valgrind

# vg DESC WANT BIN ARGS…: BIN under memcheck exits WANT (99: valgrind found errors).
vg() {
	_d=$1 _w=$2 _b=$3
	shift 3
	if [ ! -x "$MM_BIN/$_b" ]; then
		skip "$_d" "$_b is not built"
		return 0
	fi
	valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --track-origins=yes \
		"$MM_BIN/$_b" "$@" > "$T/out" 2> "$T/err"
	_rc=$?
	if [ "$_rc" -eq "$_w" ]; then
		pass "$_d"
	else
		fail "$_d" "exit status: $_rc, wanted $_w (99: memcheck errors)" "$(head -c 4000 "$T/err")"
	fi
}

have() {
	[ -x "$MM_BIN/$1" ]
}

start_fixture
export MM_STATE_DIR="$T/state" MM_ROOT="$T/root" EMPROPS_API_BASE_URL="$FIX_URL"
mkdir -p "$MM_ROOT"
make_file files/a.bin 300000
make_file files/b.bin 200000
a_sha=$(sha256_of "$FIX_ROOT/files/a.bin")
b_md5=$(md5_of "$FIX_ROOT/files/b.bin")
api_workflow wf "[{\"name\":\"a.bin\",\"downloadUrl\":\"$FIX_URL/files/a.bin\",\"saveTo\":\"models/a.bin\",\"hash\":\"$a_sha\",\"fileSize\":\"300KB\"},\"b.bin\"]"
api_model b.bin "{\"name\":\"b.bin\",\"downloadUrl\":\"$FIX_URL/files/b.bin\",\"saveTo\":\"models/b.bin\",\"hash\":\"$b_md5\"}"
api_collection c1 '["wf"]'

vg "mm-discover: a workflow and a collection, names resolved" 0 mm-discover -w wf -c c1
cp "$T/out" "$T/manifest.json"
vg "mm-discover: the same from the cache, offline" 0 mm-discover --offline -w wf
vg "mm-discover: an unknown workflow" 3 mm-discover -w nope
vg "mm-discover: a bad flag" 2 mm-discover --no-such-flag

if have mm-fetch; then
	fix_rule '{"path": "/files/a.bin", "drop_after": 100000, "times": 1}'
fi
vg "mm-fetch: two files, one dropped and resumed" 0 mm-fetch "$T/manifest.json"
cp "$T/out" "$T/fetched.json" 2>/dev/null
if have mm-fetch; then
	check "the resumed file is whole" cmp "$MM_ROOT/models/a.bin" "$FIX_ROOT/files/a.bin"
	check "the other one too" cmp "$MM_ROOT/models/b.bin" "$FIX_ROOT/files/b.bin"
fi
vg "mm-fetch: a second run finds them present" 0 mm-fetch "$T/fetched.json"
printf '{"models":[{"name":"x","downloadUrl":"%s/files/missing","saveTo":"models/x"}]}\n' "$FIX_URL" > "$T/missing.json"
vg "mm-fetch: a missing file" 1 mm-fetch "$T/missing.json"

vg "mm-verify: both files intact" 0 mm-verify "$T/fetched.json"
cp "$T/out" "$T/verified.json" 2>/dev/null
if have mm-verify; then
	printf 'x' | dd of="$MM_ROOT/models/b.bin" bs=1 seek=10 conv=notrunc 2>/dev/null
fi
vg "mm-verify: a changed byte is a mismatch" 1 mm-verify --no-cache "$T/fetched.json"
vg "mm-verify: --scan" 0 mm-verify --scan "$MM_ROOT"

if have mm-report || have mm-route; then
	start_redis
	export MACHINE_ID=vg-1
fi
vg "mm-report: an inventory" 0 mm-report "$T/verified.json"
vg "mm-report: --dry-run" 0 mm-report --dry-run "$T/verified.json"
vg "mm-route: where is a model" 0 mm-route where a.bin
vg "mm-route: machine" 0 mm-route machine vg-1
vg "mm-route: fleet --table" 0 mm-route --table fleet
vg "mm-route: models" 0 mm-route models

done_testing
