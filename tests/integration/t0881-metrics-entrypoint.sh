#!/bin/sh
# mm-entrypoint with MM_METRICS_DIR: a boot leaves mm_entrypoint.prom (the
# boot's seconds) beside every tool's file, all accepted by promtool, the
# watcher keeps mm_report.prom fresh, and a directory that cannot be
# written is said once and changes nothing else.
. tests/lib.sh
. tests/lib-entry.sh

if ! command -v promtool > /dev/null 2>&1; then
	fail "promtool is installed (apt-get install prometheus; scripts/install-deps does)"
	done_testing
fi

# metric FILE NAME: the value of NAME's first sample.
metric() {
	awk -v n="$2" '!/^#/ { k = $1; sub(/\{.*/, "", k); if (k == n) { print $2; exit } }' "$1"
}

entry_setup
P=$T/prom
mkdir -p "$P"
export MM_METRICS_DIR="$P"

boot 0 "a cold boot with MM_METRICS_DIR"
for tool in entrypoint discover fetch verify report; do
	f=$P/mm_$tool.prom
	if [ -s "$f" ]; then
		pass "mm_$tool.prom is written"
	else
		fail "mm_$tool.prom is written" "$(ls -la "$P")"
		continue
	fi
	if out=$(promtool check metrics < "$f" 2>&1) && [ -z "$out" ]; then
		pass "promtool: mm_$tool.prom"
	else
		fail "promtool: mm_$tool.prom" "$out" "$(cat "$f")"
	fi
done
E=$P/mm_entrypoint.prom
secs=$(metric "$E" mm_entrypoint_boot_seconds)
like "$secs" '^[0-9]+\.[0-9]{3}$' "the boot's seconds, in ms ($secs)"
check "a boot takes more than nothing" test "$(echo "$secs" | tr -d .)" -gt 0
is "$(metric "$E" mm_entrypoint_failed_models)" 0 "no model failed"
ts=$(metric "$E" mm_entrypoint_last_boot_timestamp_seconds)
check "the boot's time is now" test "$(($(date +%s) - ts))" -le 60
is "$(metric "$P/mm_fetch.prom" mm_fetch_downloaded_bytes_total)" 600000 "bytes downloaded: the three models' sizes"
is "$(metric "$P/mm_discover.prom" mm_discover_models)" 3 "3 models discovered"
is "$(stat -c %a "$E")" 644 "readable by node_exporter's user"
is "$(find "$P" -name '.*' | wc -l)" 0 "no temporary file left"
unlike "$(cat "$T/boot.err")" "metrics" "nothing said about metrics"

# The watcher started by the boot reports at once: the file follows.
beats() { [ "$(metric "$P/mm_report.prom" mm_report_heartbeats_total)" -ge 2 ] 2> /dev/null; }
wait_until 15 beats && pass "the watcher rewrites mm_report.prom" \
	|| fail "the watcher rewrites mm_report.prom" "$(cat "$P/mm_report.prom")"
for f in "$MM_STATE_DIR"/watch-*.pid; do
	[ -s "$f" ] && kill -TERM "$(cat "$f")" 2> /dev/null
done

# A directory that cannot be written: one warning, the boot goes on.
MM_METRICS_DIR=$T/nonexistent boot 0 "a missing MM_METRICS_DIR: the boot goes on, exit 0"
is "$(grep -c 'metrics' "$T/boot.err")" 1 "it is said once" "$(cat "$T/boot.err")"
like "$(cat "$T/boot.err")" "mm-entrypoint: cannot write metrics to '$T/nonexistent' \\(MM_METRICS_DIR\\)" \
	"the warning names the directory and the variable"
is "$(head -n 1 "$T/comfy.saw")" ready "the command started"
for f in "$MM_STATE_DIR"/watch-*.pid; do
	[ -s "$f" ] && kill -TERM "$(cat "$f")" 2> /dev/null
done

done_testing
