/* fuzz_path.c — mm_path_check: an accepted saveTo can never leave MM_ROOT. */
#include "fuzz.h"
#include "paths.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[128], *s = fuzz_cstr(data, size), *part, *dir;
	const char *p, *comp;
	size_t i;

	if (mm_path_check(s, size, why, sizeof(why)) != 0) {
		FUZZ_ASSERT(why[0] != '\0');
		free(s);
		return 0;
	}
	/* Accepted: relative, no NUL, no backslash, no control character ... */
	FUZZ_ASSERT(size > 0 && size <= MM_PATH_MAX);
	FUZZ_ASSERT(strlen(s) == size);
	FUZZ_ASSERT(s[0] != '/');
	for (i = 0; i < size; i++) {
		unsigned char c = (unsigned char)s[i];

		FUZZ_ASSERT(c != '\\' && c >= 0x20 && c != 0x7f);
	}
	/* ... and every component a real name. */
	for (p = s;; p++) {
		comp = p;
		while (*p && *p != '/')
			p++;
		FUZZ_ASSERT(p > comp);
		FUZZ_ASSERT((size_t)(p - comp) <= MM_NAME_MAX);
		FUZZ_ASSERT(!(p - comp == 1 && comp[0] == '.'));
		FUZZ_ASSERT(!(p - comp == 2 && comp[0] == '.' && comp[1] == '.'));
		if (!*p)
			break;
	}
	/* The part file sits next to the final file, under the same root. */
	part = mm_part_path(s);
	dir = mm_dirname(s);
	FUZZ_ASSERT(part[0] != '/');
	FUZZ_ASSERT(strcmp(dir, ".") == 0 || strncmp(part, dir, strlen(dir)) == 0);
	FUZZ_ASSERT(strstr(part, ".mm-part") != NULL);
	FUZZ_ASSERT(strcmp(mm_basename(s), "") != 0);
	free(part);
	free(dir);
	free(s);
	return 0;
}
