#!/bin/sh
# The state directory is created by lib/state.c alone, mode 0700 whichever
# tool runs first: mm-discover, mm-fetch, mm-verify, and mm-report
# --install-job-matching (which made it 0755 with its own mkdir -p).  The
# jobMatching backup it writes is held to the same rule as every state file.
. tests/lib.sh

start_fixture
start_redis
umask 022
export EMPROPS_API_BASE_URL="$FIX_URL"
export MM_ROOT="$T/root"
make_file files/a.bin 1000
api_workflow wf "[{\"name\":\"a.bin\",\"downloadUrl\":\"$FIX_URL/files/a.bin\",\"saveTo\":\"models/a/a.bin\"}]"
cat > "$T/in.json" <<EOF2
{"models": [{"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a/a.bin",
  "hash": "$(sha256_of "$FIX_ROOT/files/a.bin")"}]}
EOF2
mode() {
	stat -c %a "$1" 2> /dev/null || echo none
}

# first NAME CMD...: CMD runs first against a fresh state directory.
first() {
	_who=$1
	shift
	export MM_STATE_DIR="$T/$_who/state"
	exit_is 0 "$_who runs first" "$@"
	is "$(mode "$MM_STATE_DIR")" 700 "$_who made the state directory 0700"
	is "$(mode "$T/$_who")" 755 "$_who made its missing parent as mkdir -p would (umask 022)"
}
first discover mm mm-discover -w wf
is "$(mode "$MM_STATE_DIR/api")" 700 "and its api/ folder 0700"
first fetch mm mm-fetch -q "$T/in.json"
is "$(mode "$MM_STATE_DIR/locks")" 700 "and its locks/ folder 0700"
first verify mm mm-verify -q "$T/in.json"
first report mm mm-report -q --install-job-matching
for f in jobmatching.dump jobmatching.json; do
	[ -e "$MM_STATE_DIR/$f" ] && is "$(mode "$MM_STATE_DIR/$f")" 600 "the backup $f is 0600"
done
exit_is 0 "mm-fetch after mm-report" mm mm-fetch -q "$T/in.json"
is "$(mode "$MM_STATE_DIR")" 700 "still 0700: the mode does not depend on which tool ran first"

# The backup is a state file: a symlink planted in its place is refused.
export MM_STATE_DIR="$T/planted/state"
mkdir -p "$MM_STATE_DIR" && chmod 700 "$MM_STATE_DIR"
echo victim > "$T/victim"
ln -s "$T/victim" "$MM_STATE_DIR/jobmatching.json"
mm mm-report -q --restore-job-matching > /dev/null 2>&1
exit_is 0 "install with a symlink planted where the backup goes" mm mm-report -q --install-job-matching
is "$(cat "$T/victim")" victim "the file the link points at is untouched"
check "the link was replaced by a file of mm's" test -f "$MM_STATE_DIR/jobmatching.json" -a ! -L "$MM_STATE_DIR/jobmatching.json"
done_testing
