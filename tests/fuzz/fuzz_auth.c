/* fuzz_auth.c — MM_AUTH_HOSTS parsing, and the binding it gives. */
#include "auth.h"
#include "fuzz.h"

#include <ctype.h>

/* Each bound host of var takes var's token over https, never over http. */
static void check_var(const struct mm_auth *a, const char *var)
{
	const struct mm_list *l = mm_auth_hosts(a, var);
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++) {
		char *u = mm_xasprintf("https://%s:8443/x", l->v[i]);
		char why[400];

		FUZZ_ASSERT(mm_auth_check(a, var, u, why, sizeof(why)) == MM_AUTH_OK);
		u[4] = ':';
		memmove(u + 5, u + 6, strlen(u + 6) + 1);
		FUZZ_ASSERT(mm_auth_check(a, var, u, why, sizeof(why)) == MM_AUTH_HTTP);
		FUZZ_ASSERT(strstr(why, "MM_ALLOW_HTTP_AUTH") != NULL);
		free(u);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mm_auth *a = NULL;
	struct mm_err err = {0};
	char *s = fuzz_cstr(data, size), *p, *save = NULL, *tok;
	char why[400];
	int rc = mm_auth_new(s, NULL, 0, &a, &err);

	if (rc != 0) {
		FUZZ_ASSERT(rc == MM_EUSAGE && a == NULL);
		FUZZ_ASSERT(strncmp(err.msg, "MM_AUTH_HOSTS: entry ", 21) == 0);
		for (p = err.msg; *p; p++)
			FUZZ_ASSERT((unsigned char)*p >= 0x20 && *p != 0x7f);
	} else {
		FUZZ_ASSERT(a != NULL);
		check_var(a, "HF_TOKEN");
		check_var(a, "CIVITAI_TOKEN");
		/* The input as a URL: judged without a crash, an unbound name never sent. */
		FUZZ_ASSERT(mm_auth_check(a, "MM_FUZZ_UNBOUND_", s, why, sizeof(why)) == MM_AUTH_UNBOUND);
		mm_auth_check(a, "HF_TOKEN", s, why, sizeof(why));
		for (tok = strtok_r(s, " \t\n\v\f\r", &save); tok; tok = strtok_r(NULL, " \t\n\v\f\r", &save)) {
			char *eq = strchr(tok, '=');

			if (eq) {
				*eq = '\0';
				check_var(a, tok);
			}
		}
	}
	(void)mm_auth_guess(s);
	mm_auth_free(a);
	free(s);
	return 0;
}
