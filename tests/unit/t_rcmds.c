/* Command lists: rendering the way redis-cli reads them back. */
#include "redis.h"
#include "render.h"
#include "tap.h"

#include <stdlib.h>

int main(void)
{
	struct mm_rcmds *q = mm_rcmds_new();
	char *s;
	int i;

	mm_rcmds_add(q, "MULTI", (char *)NULL);
	mm_rcmds_add(q, "SADD", "models:index:flux1-dev.safetensors", "gpu-7", (char *)NULL);
	mm_rcmds_begin(q);
	mm_rcmds_arg(q, "HSET");
	mm_rcmds_arg(q, "k");
	mm_rcmds_arg(q, "models");
	mm_rcmds_arg(q, "[{\"name\":\"a b\"}]");
	mm_rcmds_begin(q);
	mm_rcmds_arg(q, "SET");
	mm_rcmds_argn(q, "a\0b", 3);
	mm_rcmds_arg(q, "");
	mm_rcmds_begin(q);
	mm_rcmds_arg(q, "SET");
	mm_rcmds_arg(q, "back\\slash\ttab\nnl'q");
	mm_rcmds_argf(q, "%d", 42);
	mm_rcmds_add(q, "EXEC", (char *)NULL);
	is_int(mm_rcmds_count(q), 6, "six commands");
	s = render(q);
	is_str(s,
	       "MULTI\n"
	       "SADD models:index:flux1-dev.safetensors gpu-7\n"
	       "HSET k models \"[{\\\"name\\\":\\\"a b\\\"}]\"\n"
	       "SET \"a\\x00b\" \"\"\n"
	       "SET \"back\\\\slash\\ttab\\nnl'q\" 42\n"
	       "EXEC\n",
	       "plain words bare; quotes, spaces, NUL, empty and control bytes escaped");
	free(s);
	mm_rcmds_free(q);

	q = mm_rcmds_new();
	for (i = 0; i < 20000; i++) {
		mm_rcmds_begin(q);
		mm_rcmds_arg(q, "SADD");
		mm_rcmds_argf(q, "models:index:m%d", i);
		mm_rcmds_arg(q, "id");
	}
	is_int(mm_rcmds_count(q), 20000, "20000 commands kept");
	s = render(q);
	ok(strstr(s, "SADD models:index:m19999 id\n") != NULL, "the last one renders");
	ok(strncmp(s, "SADD models:index:m0 id\nSADD models:index:m1 id\n", 48) == 0, "in order");
	free(s);
	mm_rcmds_free(q);
	return done_testing();
}
