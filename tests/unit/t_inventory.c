/* t_inventory.c — the models JSON a report writes: the bytes cJSON would print. */
#include "inventory.h"
#include "redis.h"
#include "render.h"
#include "tap.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

/* The models JSON as cJSON prints it, in the order given. */
static char *cjson_models(const struct mm_inv_model *v, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	char *s;

	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", v[i].name);
		cJSON_AddStringToObject(o, "saveTo", v[i].save_to ? v[i].save_to : "");
		cJSON_AddNumberToObject(o, "size", (double)(v[i].size > 0 ? v[i].size : 0));
		if (v[i].hash && *v[i].hash)
			cJSON_AddStringToObject(o, "hash", v[i].hash);
		cJSON_AddItemToArray(arr, o);
	}
	s = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	return s;
}

/* 1 when the rendered dry-run commands of v[0..n) hold want (or, with !expect, do not). */
static int commands_have(const struct mm_inv_model *v, size_t n, long long missing,
			 const char *want, int expect)
{
	struct mm_rcmds *q = mm_inv_full_commands("m1", v, n, missing, 1700000000);
	char *got = render(q);
	int found = (strstr(got, want) != NULL) == expect;

	if (!found)
		printf("# %s %s\n# got  %s\n", expect ? "want" : "do not want", want, got);
	free(got);
	mm_rcmds_free(q);
	return found;
}

/* 1 when the dry-run commands carry exactly want as the models field. */
static int has_models(const struct mm_inv_model *v, size_t n, const char *want)
{
	struct mm_rcmds *q = mm_inv_full_commands("m1", v, n, -1, 1700000000), *w = mm_rcmds_new();
	char *got, *arg, *needle;
	int found;

	mm_rcmds_begin(w);
	mm_rcmds_arg(w, want);
	got = render(q);
	arg = render(w);
	arg[strlen(arg) - 1] = '\0';
	needle = malloc(strlen(arg) + 64);
	sprintf(needle, " models %s total_models ", arg);
	found = strstr(got, needle) != NULL;
	if (!found)
		printf("# want %s\n# got  %s\n", needle, got);
	free(needle);
	free(arg);
	free(got);
	mm_rcmds_free(q);
	mm_rcmds_free(w);
	return found;
}

int main(void)
{
	/* In saveTo order, as a report sorts them. */
	static const struct mm_inv_model v[] = {
		{"a \"quoted\" \\ name.safetensors", "models/a/1.safetensors", 0, NULL, NULL, NULL, 0},
		{"ctl \b\f\n\r\t\x01\x1f\x7f end.pt", "models/a/2.pt", 1, "", NULL, NULL, 0},
		{"caf\xc3\xa9 \xe2\x98\x83.ckpt", "models/b/3.ckpt", 2147483647LL,
		 "sha256:7fac5935ad7b22c0e9147b26ae3f890b7fac5935ad7b22c0e9147b26ae3f890b", NULL, NULL, 0},
		{"big.gguf", "models/c/4.gguf", 2147483648LL, "7fac5935ad", NULL, NULL, 1},
		{"huge.gguf", "models/c/5.gguf", 999999999999999LL, NULL, NULL, NULL, 0},
		{"huger.gguf", "models/c/6.gguf", 1000000000000000LL, NULL, NULL, NULL, 0},
		{"hugest.gguf", "models/c/7.gguf", 123456789012345678LL, "x\"y", NULL, NULL, 1},
		{"negative.bin", "models/d/8.bin", -5, NULL, NULL, NULL, 0},
		{"no-save-to.bin", NULL, 7, NULL, NULL, NULL, 0},
	};
	size_t n = sizeof(v) / sizeof(v[0]);
	char *want;

	/* NULL saveTo sorts first, as "". */
	struct mm_inv_model sorted[sizeof(v) / sizeof(v[0])];

	sorted[0] = v[n - 1];
	memcpy(sorted + 1, v, (n - 1) * sizeof(v[0]));
	want = cjson_models(sorted, n);
	ok(has_models(v, n, want), "quotes, backslashes, control bytes, UTF-8, sizes either side of "
	   "2^31 and 1e15, hashes or none: byte for byte what cJSON prints");
	free(want);

	ok(has_models(v, 0, "[]"), "no models: []");

	ok(commands_have(v, n, 3, " unverified_models 7 missing_models 3\n", 1),
	   "the files no digest proved (7 of 9) and the wanted ones missing (3) are published");
	ok(commands_have(v, n, 0, " missing_models 0\n", 1), "none missing is 0, not left out");
	ok(commands_have(v, n, -1, "HDEL machine:m1:models missing_models", 1),
	   "without a manifest the missing count is unknown: removed, not left as it was");
	ok(commands_have(v, n, 5, "HDEL", 0), "with one it is not removed");
	ok(commands_have(v, n, -1, " total_bytes 125456793307312980 ", 1),
	   "total_bytes: the exact sum of the sizes, negative ones left out");

	want = cjson_models(v + 3, 1);
	ok(has_models(v + 3, 1, want), "one model");
	free(want);
	return done_testing();
}
