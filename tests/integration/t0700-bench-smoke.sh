#!/bin/sh
# The benchmark harness (make bench) runs end to end in its smallest mode:
# its own nginx and redis-server, every case, the tables and the chart.
# Timings mean nothing at this size; only that it all works is checked.
. tests/lib.sh
need nginx aria2c wget gnuplot redis-server openssl
[ -x /usr/bin/time ] || skip_all "GNU time is not installed"
/usr/bin/python3 -c 'import redis' 2>/dev/null || skip_all "python3-redis is not installed"

exit_is 0 "the smoke run completes" \
	sh tests/bench/run --smoke --no-install --no-priority --out "$T/results" --tmpdir "$T"
out=$(cat "$T/out")
R=$T/results/RESULTS.md
check "RESULTS.md is written" test -s "$R"
check "the chart is drawn" test -s "$T/results/bench.png"
check "results.json is JSON" python3 -c 'import json, sys; json.load(open(sys.argv[1]))' \
	"$T/results/results.json"
for n in 1 2 3 4 5 6 7 9 11 12; do
	like "$(cat "$R")" "^### $n\. " "case $n is reported"
done
like "$out" '^\| curl \(no verification\)' "peers are measured"
unlike "$(cat "$R")" '\| failed' "no tool failed"
unlike "$(cat "$R")" 'not available' "every mm tool was found"
like "$(cat "$R")" 'same jobs in the same order: yes' \
	"mm_find_matching_job and the baseline claim the same jobs"
check "the temporary data is gone" sh -c '! ls -d "$1"/mm-bench.* 2>/dev/null' - "$T"
done_testing
