/*
 * fuzz_api.c — API answers, as mm_discover() reads them: the envelope, a
 * workflow's models (objects or names), a collection's workflows, a model
 * looked up by name, and the manifest built from them.
 *
 * The input is up to three answers separated by a 0xff byte (never part of
 * valid JSON text): the workflow "wf", the collection "c1" and the model
 * "m".  They are written where the answer cache keeps them and discovery
 * runs offline, so the same code reads them as reads the network's answers.
 */
#include "fuzz.h"
#include "api.h"
#include "paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char state[4200];

static void put(const char *rel, const uint8_t *p, size_t n)
{
	char path[4400];
	int fd;

	snprintf(path, sizeof(path), "%s/api/%s.json", state, rel);
	if (!p) {
		unlink(path);
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(write(fd, p, n) == (ssize_t)n);
	close(fd);
}

static void setup(void)
{
	static const char *const dirs[] = {
		"api", "api/workflows", "api/workflows/name", "api/collections",
		"api/collections/c1", "api/models", "api/models/name",
	};
	char path[4400];
	size_t i;

	const char *tmp = getenv("TMPDIR");

	snprintf(state, sizeof(state), "%s/mm-fuzz-api.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	FUZZ_ASSERT(mkdtemp(state) != NULL);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", state, dirs[i]);
		mkdir(path, 0700);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *part[3] = {NULL, NULL, NULL}, *p = data, *end = data + size, *sep;
	size_t len[3] = {0, 0, 0}, i;
	struct mm_api api = {0};
	struct mm_discover_req req = {0};
	struct mm_manifest *m = NULL;
	struct mm_err err = {0};
	char why[128];
	int rc;

	if (!state[0])
		setup();
	for (i = 0; i < 3; i++) {
		sep = memchr(p, 0xff, (size_t)(end - p));
		part[i] = p;
		len[i] = (size_t)((sep ? sep : end) - p);
		if (!sep)
			break;
		p = sep + 1;
	}
	put("workflows/name/wf", part[0], len[0]);
	put("collections/c1/public", part[1], len[1]);
	put("models/name/m", part[2], len[2]);
	api.state_dir = state;
	api.offline = 1;
	mm_list_add(&req.workflows, "wf");
	if (part[1])
		mm_list_add(&req.collections, "c1");
	rc = mm_discover(&api, &req, &m, &err);
	if (rc == 0) {
		/*
		 * What discovery hands on is a valid manifest with safe paths; a
		 * model with nothing to download from is kept, for mm-fetch to fail.
		 */
		FUZZ_ASSERT(m && m->nproblems == 0);
		for (i = 0; i < m->n; i++) {
			FUZZ_ASSERT(m->models[i].name && m->models[i].save_to);
			FUZZ_ASSERT(mm_path_check(m->models[i].save_to, strlen(m->models[i].save_to),
						  why, sizeof(why)) == 0);
		}
	} else {
		FUZZ_ASSERT(rc == MM_EINPUT || rc == MM_EUNAVAIL);
		FUZZ_ASSERT(err.msg[0] != '\0');
	}
	mm_manifest_free(m);
	mm_list_free(&req.workflows);
	mm_list_free(&req.collections);
	return 0;
}
