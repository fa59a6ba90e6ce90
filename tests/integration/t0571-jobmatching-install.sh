#!/bin/sh
# mm-report --install-job-matching and --restore-job-matching: the library
# replaced is saved (in Redis and the state directory) before ours is
# loaded, and put back byte for byte (FUNCTION DUMP before and after); both
# are idempotent and say what they did; other libraries keep their code.
. tests/lib.sh

start_redis
export MM_STATE_DIR="$T/state"

# The job queue's library, as far as a worker can tell: one function.
deployed() {
	printf '#!lua name=jobMatching\n-- the job queue %s\nredis.register_function("findMatchingJob", function(k, a) return "deployed" end)\n' "$1"
}
dump_sum() {
	rcli function dump | sha256sum | cut -d ' ' -f 1
}
code_of() {
	rcli function list libraryname "$1" withcode | sed -n '/^library_code$/,$p' | sed 1d
}
# Every library's name and code, sorted by name: FUNCTION DUMP orders the
# libraries by Redis's hash table, which a RESTORE does not keep when there
# are several.
libs_sum() {
	for _n in $(rcli function list | sed -n '/^library_name$/{n;p;}' | sort); do
		echo "$_n"
		code_of "$_n"
	done | sha256sum | cut -d ' ' -f 1
}
fm() {
	rcli fcall findMatchingJob 0 '{"worker_id":"w1"}' 1
}

# The job queue's server: its library alone.
deployed v1 | rcli -x function load > /dev/null
is "$(fm)" deployed "the job queue's library answers"
before=$(dump_sum)
i=0 same=0
while [ $i -lt 8 ]; do
	mm mm-report -q --install-job-matching > /dev/null && [ "$(fm)" = "" ] &&
		mm mm-report -q --restore-job-matching > /dev/null && [ "$(dump_sum)" = "$before" ] &&
		[ "$(fm)" = deployed ] && same=$((same + 1))
	i=$((i + 1))
done
is "$same" 8 "install then restore, 8 times: FUNCTION DUMP after each restore is the one before, byte for byte"

# With mm's own library too.
check "mm-report --install-functions loads mm" mm mm-report --install-functions
before=$(dump_sum)
libs=$(libs_sum)

exit_is 0 "--install-job-matching" mm mm-report --install-job-matching
is "$(cat "$T/out")" '{"job_matching":"replaced"}' "stdout says it replaced a library"
like "$(cat "$T/err")" "the one it replaced is saved in mm:jobmatching:saved and $T/state/jobmatching.dump" \
	"stderr says where the saved one is"
is "$(fm)" "" "findMatchingJob is mm's now (nil on an empty queue)"
is "$(code_of jobMatching)" "$(cat scripts/redis/jobMatching.lua)" "the library loaded is jobMatching.lua, byte for byte"
like "$(code_of mm)" '^#!lua name=mm' "mm's own library is still there"
is "$(rcli hget mm:jobmatching:saved dump | sha256sum | cut -d ' ' -f 1)" "$before" \
	"Redis keeps the FUNCTION DUMP taken before, byte for byte"
is "$( (cat "$T/state/jobmatching.dump"; echo) | sha256sum | cut -d ' ' -f 1)" "$before" \
	"so does the state directory"
is "$(stat -c %a "$T/state/jobmatching.dump")" 600 "the saved dump is mode 0600"
is "$(rcli hget mm:jobmatching:saved had_library)" 1 "it records that there was a jobMatching"

exit_is 0 "--install-job-matching again" mm mm-report --install-job-matching
is "$(cat "$T/out")" '{"job_matching":"unchanged"}' "the second install changes nothing"
like "$(cat "$T/err")" "already loaded" "and says so"
is "$(rcli hget mm:jobmatching:saved dump | sha256sum | cut -d ' ' -f 1)" "$before" \
	"the saved library is still the job queue's, not ours"

exit_is 0 "--restore-job-matching" mm mm-report --restore-job-matching
is "$(cat "$T/out")" '{"job_matching":"restored"}' "stdout says it restored"
like "$(cat "$T/err")" "put the saved jobMatching library back" "stderr says so"
is "$(libs_sum)" "$libs" "every library's code after the restore is the code before the install, byte for byte"
is "$(fm)" deployed "the job queue's findMatchingJob answers again"
is "$(rcli exists mm:jobmatching:saved)" 0 "the saved copy in Redis is gone"
test -e "$T/state/jobmatching.dump" && fail "the state file is gone" || pass "the state file is gone"
exit_is 0 "--restore-job-matching again" mm mm-report --restore-job-matching
is "$(cat "$T/out")" '{"job_matching":"nothing_saved"}' "the second restore has nothing to do"
is "$(libs_sum)" "$libs" "and changes nothing"

# Restoring from the state directory when Redis lost its copy; another
# library changed meanwhile keeps its new code.
check "install again" mm mm-report --install-job-matching
rcli del mm:jobmatching:saved > /dev/null
{ cat scripts/redis/mm.lua; echo '-- a newer mm'; } | rcli -x function load replace > /dev/null
printf '#!lua name=other\nredis.register_function("other_fn", function(k, a) return 1 end)\n' | rcli -x function load > /dev/null
exit_is 0 "--restore-job-matching from the state directory" mm mm-report --restore-job-matching
like "$(cat "$T/err")" "not in Redis; using $T/state/jobmatching.dump" "says where the saved library came from"
is "$(code_of jobMatching)" "$(deployed v1)" "jobMatching is the job queue's again, byte for byte"
like "$(code_of mm)" "a newer mm" "mm's library keeps the code it had just before"
is "$(rcli fcall other_fn 0)" 1 "a library loaded since the install is kept"

# No jobMatching before: restoring deletes ours.
rcli function delete jobMatching > /dev/null
libs=$(libs_sum)
exit_is 0 "install where there was no jobMatching" mm mm-report --install-job-matching
is "$(cat "$T/out")" '{"job_matching":"installed"}' "stdout says installed"
like "$(cat "$T/err")" "there was none before" "stderr says there was none"
exit_is 0 "restore" mm mm-report --restore-job-matching
is "$(cat "$T/out")" '{"job_matching":"deleted"}' "restoring deletes ours"
is "$(libs_sum)" "$libs" "the libraries are as before the install"

# Someone loads their own jobMatching after ours: restore leaves it alone.
check "install" mm mm-report --install-job-matching
deployed v2 | rcli -x function load replace > /dev/null
exit_is 0 "restore over a library that is not mm's" mm mm-report --restore-job-matching
is "$(cat "$T/out")" '{"job_matching":"not_mm"}' "stdout says it is not mm's"
like "$(cat "$T/err")" "not mm's; left it alone" "stderr says it left it alone"
is "$(code_of jobMatching)" "$(deployed v2)" "their library is untouched"
# Installing over it saves it (the one now replaced).
exit_is 0 "install over it" mm mm-report --install-job-matching
is "$(cat "$T/out")" '{"job_matching":"replaced"}' "replaced"
exit_is 0 "restore" mm mm-report --restore-job-matching
is "$(code_of jobMatching)" "$(deployed v2)" "the library restored is the one the last install replaced"

# Exit statuses.
exit_is 2 "both flags at once: usage error" mm mm-report --install-job-matching --restore-job-matching
exit_is 2 "with --watch: usage error" mm mm-report --watch --install-job-matching
REDIS_URL=redis://127.0.0.1:1 MM_REDIS_RETRY_SECONDS=0 mm mm-report --install-job-matching > "$T/out" 2> "$T/err"
is "$?" 4 "Redis unreachable: exit 4"
chmod 500 "$T/state"
if [ "$(id -u)" != 0 ]; then
	exit_is 1 "a state directory that cannot be written: nothing is loaded" mm mm-report --install-job-matching
	is "$(code_of jobMatching)" "$(deployed v2)" "the library is still theirs"
fi
chmod 700 "$T/state"

done_testing
