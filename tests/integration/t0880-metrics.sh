#!/bin/sh
# MM_METRICS_DIR: every tool writes DIR/mm_<tool>.prom for node_exporter's
# textfile collector; promtool accepts every file, and the values read back
# are those of a known run (bytes, outcomes, failure reasons, hashes, the
# inventory, heartbeats).  Counters keep counting across runs; a directory
# that cannot be written is a warning, never a changed exit status.
. tests/lib.sh

# promtool comes with Debian's prometheus package (scripts/install-deps):
# without it this test fails, it does not skip.
if ! command -v promtool > /dev/null 2>&1; then
	fail "promtool is installed (apt-get install prometheus; scripts/install-deps does)"
	done_testing
fi

# metric FILE NAME [LABEL=VALUE...]: the value of the one sample of NAME
# with those labels (among others); empty when there is none.
metric() {
	_f=$1 _n=$2
	shift 2
	awk -v n="$_n" -v want="$*" '
		/^#/ { next }
		{
			key = $1; val = $2
			name = key; sub(/\{.*/, "", name)
			if (name != n) next
			k = split(want, w, " ")
			for (i = 1; i <= k; i++) {
				eq = index(w[i], "=")
				pat = substr(w[i], 1, eq - 1) "=\"" substr(w[i], eq + 1) "\""
				if (index(key, pat) == 0) next
			}
			print val; exit
		}' "$_f"
}

# promtool_ok FILE DESC: promtool check metrics finds nothing to say.
promtool_ok() {
	if out=$(promtool check metrics < "$1" 2>&1) && [ -z "$out" ]; then
		pass "$2"
	else
		fail "$2" "$out" "$(cat "$1")"
	fi
}

start_fixture
start_redis
export MM_ROOT="$T/root" MACHINE_ID=metrics-test MM_METRICS_DIR="$T/prom"
mkdir -p "$MM_METRICS_DIR"
P=$MM_METRICS_DIR

make_file files/a.bin 3000000
make_file files/b.bin 1000000
make_file files/d.bin 500000
fix_rule '{"path": "/files/c.bin", "status": 404}'
# Planted: c 404s, d has the wrong hash, the Civitai and Hugging Face models
# need a token that is not set (no request is made for them).
cat > "$T/in.json" <<EOF
{"models": [
 {"name": "a", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin",
  "hash": "$(sha256_of "$FIX_ROOT/files/a.bin")"},
 {"name": "b", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/b.bin",
  "hash": "$(sha256_of "$FIX_ROOT/files/b.bin")"},
 {"name": "c", "downloadUrl": "$FIX_URL/files/c.bin", "saveTo": "models/c.bin"},
 {"name": "d", "downloadUrl": "$FIX_URL/files/d.bin", "saveTo": "models/d.bin",
  "hash": "$(printf 'not d' | sha256sum | cut -d' ' -f1)"},
 {"name": "civ", "downloadUrl": "https://civitai.com/api/download/models/1", "saveTo": "models/civ.bin",
  "isAuthReq": true, "authEnvVar": "CIVITAI_TOKEN"},
 {"name": "hf", "downloadUrl": "https://huggingface.co/x/y/resolve/main/hf.bin", "saveTo": "models/hf.bin",
  "isAuthReq": true, "authEnvVar": "HF_TOKEN"}]}
EOF

# ---------------------------------------------------------------- mm-fetch
exit_is 1 "mm-fetch: two failures planted, exit 1" mm mm-fetch --progress none --retry-delay 0 "$T/in.json"
cp "$T/out" "$T/fetched.json"
F=$P/mm_fetch.prom
check "mm-fetch wrote mm_fetch.prom" test -s "$F"
promtool_ok "$F" "promtool: mm_fetch.prom"
is "$(metric "$F" mm_build_info tool=mm-fetch)" 1 "mm_build_info names the tool"
like "$(grep '^mm_build_info' "$F")" 'version="[0-9]+\.[0-9]+\.[0-9]+"' "and the version"
is "$(metric "$F" mm_fetch_downloaded_bytes_total source=other)" 4500000 \
	"bytes downloaded: a, b and the bad d, 3000000 + 1000000 + 500000"
is "$(metric "$F" mm_fetch_downloads_total source=other outcome=downloaded)" 2 "2 downloaded"
is "$(metric "$F" mm_fetch_downloads_total source=other outcome=failed)" 2 "2 failed from the fixture"
is "$(metric "$F" mm_fetch_failures_total source=other reason=not_found)" 1 "reason not_found: the 404"
is "$(metric "$F" mm_fetch_failures_total source=other reason=mismatch)" 1 "reason mismatch: the wrong hash"
is "$(metric "$F" mm_fetch_failures_total source=civitai reason=unauthorized)" 1 \
	"source civitai, reason unauthorized: its token is not set"
is "$(metric "$F" mm_fetch_failures_total source=huggingface reason=unauthorized)" 1 \
	"source huggingface, reason unauthorized"
is "$(grep -c '^mm_fetch_failures_total' "$F")" 4 "no other failure series"
is "$(json_get models.2.fetch.reason "$T/fetched.json")" not_found "the manifest says the reason too"
is "$(json_get models.0.fetch.reason "$T/fetched.json")" "" "a downloaded model has no reason"
is "$(metric "$F" mm_last_run_exit_code tool=mm-fetch)" 1 "the exit status"
is "$(metric "$F" mm_runs_total tool=mm-fetch code=1)" 1 "one run, exit 1"
unlike "$(cat "$F")" 'a\.bin|127\.0\.0\.1|civitai\.com|"a"' "no model name or URL in a label"
unlike "$(grep -v '^#' "$F")" 'e[+-]' "byte counts are written in full, not in exponent form"

# A second run: counters go on from the file the first left.
exit_is 1 "mm-fetch again" mm mm-fetch --progress none --retry-delay 0 "$T/in.json"
is "$(metric "$F" mm_fetch_downloads_total source=other outcome=present)" 2 "a and b now present"
is "$(metric "$F" mm_fetch_downloaded_bytes_total source=other)" 5000000 \
	"bytes downloaded counts on: d was fetched again"
is "$(metric "$F" mm_fetch_failures_total source=other reason=mismatch)" 2 "and failed again"
is "$(metric "$F" mm_runs_total tool=mm-fetch code=1)" 2 "two runs"
promtool_ok "$F" "promtool: mm_fetch.prom after a second run"

# A download resumed from a part file: resumed + downloaded = the size.
make_file files/r.bin 3000000
cat > "$T/r.json" <<EOF
{"models": [{"name": "r", "downloadUrl": "$FIX_URL/files/r.bin", "saveTo": "models/r.bin",
  "hash": "$(sha256_of "$FIX_ROOT/files/r.bin")"}]}
EOF
fix_rule '{"path": "/files/r.bin", "method": "GET", "stall_after": 1048576, "stall_seconds": 30, "times": 1}'
MM_METRICS_DIR='' "$MM_BIN/mm-fetch" --progress none "$T/r.json" > /dev/null 2> "$T/r.err" &
pid=$!
track_pid "$pid"
fix_wait --bytes 1048576 /files/r.bin
wait_until 10 test -s "$MM_ROOT/models/.r.bin.mm-state"
kill -TERM "$pid"
wait "$pid"
rm -f "${P:?}"/*.prom
exit_is 0 "the interrupted download completes" mm mm-fetch --progress none "$T/r.json"
resumed=$(json_get models.0.fetch.resumedFrom "$T/out")
down=$(json_get models.0.fetch.bytes "$T/out")
isnt "$resumed" "" "it resumed"
is "$(metric "$F" mm_fetch_resumed_bytes_total source=other)" "$resumed" "resumed bytes as the manifest says"
is "$(metric "$F" mm_fetch_downloaded_bytes_total source=other)" "$down" "downloaded bytes as the manifest says"
is "$((resumed + down))" 3000000 "resumed + downloaded = the file's size"
promtool_ok "$F" "promtool: mm_fetch.prom after a resume"

# ---------------------------------------------------------------- mm-verify
V=$P/mm_verify.prom
exit_is 1 "mm-verify: the failed ones are missing" mm mm-verify "$T/fetched.json"
cp "$T/out" "$T/verified.json"
promtool_ok "$V" "promtool: mm_verify.prom"
is "$(metric "$V" mm_verify_results_total outcome=ok)" 2 "2 ok"
is "$(metric "$V" mm_verify_results_total outcome=missing)" 4 "4 missing"
is "$(metric "$V" mm_verify_results_total outcome=mismatch)" 0 "0 mismatch (a zero series is there)"
is "$(metric "$V" mm_verify_cache_hits_total)" 2 "mm-fetch's digests are cache hits"
is "$(metric "$V" mm_verify_hashed_bytes_total)" 0 "nothing hashed"
exit_is 1 "mm-verify --rehash" mm mm-verify --rehash "$T/fetched.json"
is "$(metric "$V" mm_verify_hashed_bytes_total)" 4000000 "bytes hashed: a and b"
is "$(metric "$V" mm_verify_hashed_files_total)" 2 "files hashed: 2"
is "$(metric "$V" mm_verify_results_total outcome=ok)" 4 "ok counts on: 4"
hs=$(metric "$V" mm_verify_hash_seconds_total)
like "$hs" '^[0-9.]+$' "hash seconds: a number ($hs)"

# ---------------------------------------------------------------- mm-report
R=$P/mm_report.prom
t1=$(date +%s)
exit_is 0 "mm-report: it reports what is there" mm mm-report "$T/verified.json"
[ "$(cat "$T/err")" = "" ] || diag "$(cat "$T/err")"
t2=$(date +%s)
promtool_ok "$R" "promtool: mm_report.prom"
is "$(metric "$R" mm_models state=present)" 3 "present: a, b and r"
is "$(metric "$R" mm_models state=missing)" 4 "missing: c, d, civ, hf"
is "$(metric "$R" mm_models state=unverified)" 1 "unverified: r, on disk but in no manifest, so no hash"
is "$(metric "$R" mm_models_disk_bytes)" 7000000 "bytes on disk: 3000000 + 1000000 + 3000000"
pub=$(metric "$R" mm_report_last_publish_timestamp_seconds)
hb=$(metric "$R" mm_report_last_heartbeat_timestamp_seconds)
check "the publish time is the report's" test "$pub" -ge "$t1" -a "$pub" -le "$t2"
check "the heartbeat time is the report's" test "$hb" -ge "$t1" -a "$hb" -le "$t2"
is "$(rcli scard machine:metrics-test:model_names)" 3 "and Redis holds the 3"
sleep 1.1
exit_is 0 "mm-report again, nothing changed" mm mm-report "$T/verified.json"
is "$(metric "$R" mm_report_heartbeats_total)" 2 "two heartbeats"
is "$(metric "$R" mm_report_publishes_total)" 1 "one publish: the second changed nothing"
is "$(metric "$R" mm_report_last_publish_timestamp_seconds)" "$pub" "the publish time is kept"
check "the heartbeat time moved on" test "$(metric "$R" mm_report_last_heartbeat_timestamp_seconds)" -gt "$hb"

# --watch refreshes the file at each report and heartbeat.
"$MM_BIN/mm-report" --watch --interval 0.3 --keep-on-exit < /dev/null > /dev/null 2> "$T/w.err" &
pid=$!
track_pid "$pid"
beats() { [ "$(metric "$R" mm_report_heartbeats_total)" -ge "$1" ] 2> /dev/null; }
wait_until 10 beats 5 && pass "--watch: the file follows the heartbeats" \
	|| fail "--watch: the file follows the heartbeats" "$(cat "$R")" "$(cat "$T/w.err")"
printf 'new' > "$MM_ROOT/models/n.bin"
present() { [ "$(metric "$R" mm_models state=present)" = "$1" ]; }
wait_until 10 present 4 && pass "--watch: a new file is in the next file" || fail "--watch: a new file is in the next file"
promtool_ok "$R" "promtool: mm_report.prom from --watch"
stop_redis
down() { [ -n "$(metric "$R" mm_report_failures_total reason=unreachable)" ]; }
wait_until 15 down && pass "--watch: Redis gone is counted as unreachable" \
	|| fail "--watch: Redis gone is counted as unreachable" "$(cat "$R")"
promtool_ok "$R" "promtool: mm_report.prom with Redis down"
kill -TERM "$pid"
wait "$pid"
is "$(metric "$R" mm_last_run_exit_code tool=mm-report)" 143 "the watcher's exit status, 143 on SIGTERM"
start_redis

# ---------------------------------------------------------------- mm-discover
api_workflow wf '[{"name": "x.bin", "downloadUrl": "http://example.com/x.bin", "saveTo": "models/x.bin"},
 {"name": "y.bin", "downloadUrl": "http://example.com/y.bin", "saveTo": "models/y.bin"}]'
D=$P/mm_discover.prom
EMPROPS_API_BASE_URL=$FIX_URL MM_STATE_DIR=$T/state exit_is 0 "mm-discover" mm mm-discover -w wf
promtool_ok "$D" "promtool: mm_discover.prom"
is "$(metric "$D" mm_discover_models)" 2 "2 models wanted"

# ---------------------------------------------------------------- mm-route
Q=$P/mm_route.prom
exit_is 0 "mm-report installs the routing functions" mm mm-report --install-functions
exit_is 0 "mm-report, for mm-route to read" mm mm-report "$T/verified.json"
exit_is 0 "mm-route machine" mm mm-route machine metrics-test
promtool_ok "$Q" "promtool: mm_route.prom"
is "$(metric "$Q" mm_runs_total tool=mm-route code=0)" 1 "mm-route: one run, exit 0"
exit_is 1 "mm-route where, a model nobody holds" mm mm-route where no-such-model
is "$(metric "$Q" mm_last_run_exit_code tool=mm-route)" 1 "mm-route: the last run's exit status"
is "$(metric "$Q" mm_runs_total tool=mm-route code=0)" 1 "and the first run is still counted"

# Every file every tool wrote, once more, and nothing half-written left.
for f in "$P"/*.prom; do
	promtool_ok "$f" "promtool: ${f##*/}"
done
is "$(find "$P" -name '.*' | wc -l)" 0 "no temporary file left in the directory"
is "$(stat -c %a "$F")" 644 "the files are readable by node_exporter's user"

# --metrics-dir wins over the variable.
mkdir "$T/other"
exit_is 0 "--metrics-dir" mm mm-fetch --progress none --metrics-dir "$T/other" "$T/r.json"
check "--metrics-dir: the file is there" test -s "$T/other/mm_fetch.prom"
is "$(metric "$T/other/mm_fetch.prom" mm_fetch_downloads_total outcome=present)" 1 "and holds this run"

# ---------------------------------------------------------------- a bad directory
# It warns, once, and changes no exit status; nothing is written elsewhere.
MM_METRICS_DIR=$T/nonexistent exit_is 0 "a missing directory: exit status unchanged" \
	mm mm-fetch --progress none "$T/r.json"
like "$(cat "$T/err")" "warning: cannot write metrics to '$T/nonexistent/mm_fetch.prom': No such file or directory" \
	"a missing directory: a warning that names the file and why"
is "$(json_get models.0.fetch.status "$T/out")" present "the manifest is written all the same"
: > "$T/plain"
MM_METRICS_DIR=$T/plain exit_is 1 "not a directory: exit status unchanged (1)" mm mm-verify "$T/fetched.json"
like "$(cat "$T/err")" "warning: cannot write metrics to '$T/plain/mm_verify.prom': Not a directory" \
	"not a directory: the warning says so"
MM_METRICS_DIR=$T/nonexistent exit_is 0 "mm-report with a missing directory: exit status unchanged" \
	mm mm-report "$T/verified.json"
is "$(grep -c 'cannot write metrics' "$T/err")" 1 "one warning"
MM_METRICS_DIR='' exit_is 0 "MM_METRICS_DIR empty: no metrics, no warning" mm mm-fetch --progress none "$T/r.json"
unlike "$(cat "$T/err")" "metrics" "nothing said"

done_testing
