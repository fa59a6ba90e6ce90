/* render.h — a command list as the text mm_rcmds_render() writes, for tests. */
#ifndef T_RENDER_H
#define T_RENDER_H

#include "redis.h"

#include <stdio.h>

/* The caller frees the text. */
static char *render(const struct mm_rcmds *q)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	mm_rcmds_render(q, f);
	fclose(f);
	return buf;
}

#endif
