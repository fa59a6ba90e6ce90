/*
 * fuzz_manifest.c — mm_manifest_parse: parse, validate and normalise any
 * text.  An accepted manifest has only safe saveTo paths, none naming one
 * of mm's own files, and unique entries, and what it prints parses again to
 * the same text (normalising twice changes nothing).  The first byte holds
 * the flags.
 */
#include "fuzz.h"
#include "manifest.h"
#include "paths.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mm_manifest *m = NULL, *m2 = NULL;
	struct mm_err err = {0};
	char *out, *out2, why[128];
	size_t i, j;
	int flags, rc;

	if (size < 1)
		return 0;
	flags = data[0] & 1 ? MM_MANIFEST_NEED_URL : 0;
	rc = mm_manifest_parse((const char *)data + 1, size - 1, "<fuzz>", flags, &m, &err);
	if (rc != 0) {
		FUZZ_ASSERT(rc == MM_EINPUT && err.msg[0] != '\0');
		FUZZ_ASSERT(!m || m->nproblems > 0);
		mm_manifest_free(m);
		return 0;
	}
	FUZZ_ASSERT(m && m->nproblems == 0);
	for (i = 0; i < m->n; i++) {
		const struct mm_model *v = &m->models[i];

		FUZZ_ASSERT(v->save_to && mm_path_check(v->save_to, strlen(v->save_to), why,
							sizeof(why)) == 0);
		FUZZ_ASSERT(mm_path_reserved(v->save_to, NULL, why, sizeof(why)) == 0);
		FUZZ_ASSERT(v->name && v->name[0]);
		FUZZ_ASSERT(!(flags & MM_MANIFEST_NEED_URL) || v->url);
		FUZZ_ASSERT(v->size >= -1);
		for (j = 0; j < i; j++)
			FUZZ_ASSERT(strcmp(m->models[j].save_to, v->save_to) != 0);
	}
	out = mm_manifest_print(m);
	rc = mm_manifest_parse(out, strlen(out), "<printed>", flags, &m2, &err);
	if (rc != 0)
		fprintf(stderr, "printed manifest refused: %s\n%s\n", err.msg, out);
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(m2->n == m->n);
	out2 = mm_manifest_print(m2);
	if (strcmp(out, out2) != 0)
		fprintf(stderr, "first:\n%s\nsecond:\n%s\n", out, out2);
	FUZZ_ASSERT(strcmp(out, out2) == 0);
	free(out);
	free(out2);
	mm_manifest_free(m2);
	mm_manifest_free(m);
	return 0;
}
