/* jobmatch: the Redis version that --install-job-matching and --restore-job-matching need. */
#include "jobmatch.h"
#include "tap.h"

int main(void)
{
	is_int(mm_jobmatch_server_major("# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n"), 7,
	       "7.0.15 is 7");
	is_int(mm_jobmatch_server_major("# Server\r\nredis_version:6.2.14\r\n"), 6, "6.2.14 is 6");
	is_int(mm_jobmatch_server_major("redis_version:10.1.0\r\n"), 10, "10.1.0 is 10");
	is_int(mm_jobmatch_server_major("# Server\r\nredis_mode:standalone\r\n"), -1, "no version line: -1");
	is_int(mm_jobmatch_server_major("redis_version:\r\n"), -1, "an empty version: -1");
	is_int(mm_jobmatch_server_major(NULL), -1, "no text: -1");
	is_str(mm_jobmatch_outcome_name(MM_JM_REPLACED), "replaced", "outcome names");
	is_str(mm_jobmatch_outcome_name(MM_JM_NOTHING_SAVED), "nothing_saved", "outcome names");
	ok(mm_redis_jobmatching_lua_len > 100 &&
	   strncmp(mm_redis_jobmatching_lua, "#!lua name=jobMatching\n", 23) == 0,
	   "the embedded library is jobMatching.lua, on its own");
	ok(strstr(mm_redis_jobmatching_lua, "name=mm\n") == NULL, "and mm.lua is not in it");
	ok(strstr(mm_redis_jobmatching_lua, MM_JOBMATCH_MARK) != NULL, "it carries mm's mark");
	return done_testing();
}
