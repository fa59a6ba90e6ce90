/* The size rule (size.h) that mm-fetch and mm-verify share, walked through
 * the manifest parser the way both tools get their models. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "size.h"
#include "tap.h"

/* Parse one model with the given size fields (JSON text after saveTo). */
static struct mm_manifest *one(const char *fields)
{
	struct mm_manifest *m = NULL;
	struct mm_err err = {0};
	char text[512];

	snprintf(text, sizeof(text), "{\"models\":[{\"name\":\"a\",\"saveTo\":\"m/a\"%s%s}]}",
		 *fields ? "," : "", fields);
	if (mm_manifest_parse(text, strlen(text), "test", 0, &m, &err) != 0) {
		mm_manifest_free(m);
		return NULL;
	}
	return m;
}

/* Which of have[] fit the model of fields: a string of 'y' and 'n'. */
static void fits(const char *fields, const long long *have, size_t n, const char *want)
{
	struct mm_manifest *m = one(fields);
	char got[32] = "";
	size_t i;

	if (!m) {
		ok(0, "%s parses", fields);
		return;
	}
	for (i = 0; i < n && i + 1 < sizeof(got); i++)
		got[i] = mm_size_fits(m->models[0].size, m->models[0].size_tol, have[i]) ? 'y' : 'n';
	is_str(got, want, "{%s}", fields);
	mm_manifest_free(m);
}

static void test_edges(void)
{
	static const long long k[] = {1023, 1024, 1025};
	/* "1KB": 1024 +- (102 + 512). */
	static const long long kb[] = {409, 410, 1024, 1638, 1639, 0};
	/* "1.5GB": 1610612736 +- (161061273 + 53687091). */
	static const long long gb[] = {1395864371LL, 1395864372LL, 1610612736LL, 1825361100LL,
				       1825361101LL, 1048576};
	/* "17.2GB": 18468359372 +- (1846835937 + 53687091); 1 MiB is far outside. */
	static const long long big[] = {1048576, 16567836343LL, 16567836344LL, 20368882400LL,
					20368882401LL};
	static const long long any[] = {0, 1, 1LL << 40};

	fits("\"fileSize\":\"1024B\"", k, 3, "nyn");
	fits("\"fileSize\":\"1024\"", k, 3, "nyn");
	fits("\"fileSize\":\" 1024 b \"", k, 3, "nyn");
	fits("\"fileSize\":1024", k, 3, "nyn");
	fits("\"sizeBytes\":1024", k, 3, "nyn");
	fits("\"sizeBytes\":1024,\"fileSize\":null", k, 3, "nyn");
	fits("\"fileSize\":\"1KB\"", kb, 6, "nyyynn");
	fits("\"fileSize\":\"1.5GB\"", gb, 6, "nyyynn");
	fits("\"fileSize\":\"17.2GB\"", big, 5, "nnyyn");
	/* What mm-fetch prints (sizeBytes added) reads back as the same hint. */
	fits("\"fileSize\":\"17.2GB\",\"sizeBytes\":18468359372", big, 5, "nnyyn");
	fits("\"fileSize\":null", any, 3, "yyy");
	fits("", any, 3, "yyy");
}

static void test_tolerance(void)
{
	cJSON *s = cJSON_CreateString("0.3GB"), *n = cJSON_CreateNumber(5);

	is_int(mm_size_tolerance(s, 322122547), 32212254 + 53687091, "0.3GB: 10%% and half of 0.1GB");
	is_int(mm_size_tolerance(s, -1), 0, "an unknown size has no tolerance");
	is_int(mm_size_tolerance(n, 5), 0, "a number is exact");
	is_int(mm_size_tolerance(NULL, 5), 0, "no fileSize: sizeBytes is exact");
	ok(mm_size_fits(-1, 0, 12345), "an unknown size fits anything");
	ok(!mm_size_fits(10, 5, -1), "no file does not fit a known size");
	cJSON_Delete(s);
	cJSON_Delete(n);
}

/* The same file wanted twice: the entry that takes the other's size takes
 * its hint, and prints so that it reads back the same. */
static void test_merge(void)
{
	const char *text = "{\"models\":[{\"name\":\"a\",\"saveTo\":\"m/a\"},"
			   "{\"name\":\"a\",\"saveTo\":\"m/a\",\"fileSize\":\"17.2GB\"}]}";
	struct mm_manifest *m = NULL, *m2 = NULL;
	struct mm_err err = {0};
	char *out;

	if (mm_manifest_parse(text, strlen(text), "test", 0, &m, &err) != 0 || m->n != 1) {
		ok(0, "the duplicate merges: %s", err.msg);
		mm_manifest_free(m);
		return;
	}
	ok(m->models[0].size_tol > 0, "the merged entry is a hint, not 18468359372 exact bytes");
	out = mm_manifest_print(m);
	ok(mm_manifest_parse(out, strlen(out), "test", 0, &m2, &err) == 0 &&
	   m2->models[0].size_tol == m->models[0].size_tol, "and reads back as the same hint");
	free(out);
	mm_manifest_free(m);
	mm_manifest_free(m2);
}

/* The one spelling of a size (mm_format_size), and the one parser reading it back. */
static void test_spelling(void)
{
	static const struct { long long b; const char *s; } cases[] = {
		{ 0, "0B" }, { 3, "3B" }, { 1023, "1023B" }, { 1024, "1.0KB" }, { 12288, "12.0KB" },
		{ 100000, "97.7KB" }, { 8LL << 20, "8.0MB" }, { 850LL << 20, "850MB" },
		{ 18468359372LL, "17.2GB" }, { 3LL << 40, "3.0TB" }, { 4000000000000000LL, "3638TB" },
	};
	char buf[32];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long back, b = cases[i].b;

		mm_format_size(b, buf, sizeof(buf));
		ok(strcmp(buf, cases[i].s) == 0, "%lld bytes are %s (got %s)", b, cases[i].s, buf);
		/* Read back, a spelling of three digits is within 5% of the bytes. */
		back = mm_parse_size(buf);
		ok(back >= 0 && (double)llabs(back - b) <= 0.05 * (double)b, "%s reads back near %lld (%lld)", buf,
		   b, back);
	}
	/* What --limit-rate and --segment-min take: the same parser. */
	is_int(mm_parse_size("20M"), 20LL << 20, "20M");
	is_int(mm_parse_size("500k"), 500LL << 10, "500k");
	is_int(mm_parse_size("1.5g"), 3LL << 29, "1.5g");
	is_int(mm_parse_size("20MiB"), 20LL << 20, "20MiB");
	is_int(mm_parse_size("0x10M"), -1, "no hex");
	is_int(mm_parse_size("1e3M"), -1, "no exponent");
}

int main(void)
{
	test_spelling();
	test_edges();
	test_tolerance();
	test_merge();
	return done_testing();
}
