/* config.c: the environment's one reader — names, aliases, defaults, errors. */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "tap.h"

static void clear(void)
{
	static const char *const vars[] = {
		"MM_ROOT", "COMFYUI_PATH", "MM_STATE_DIR", "REDIS_URL", "REDIS_CA_CERT",
		"CURL_CA_BUNDLE", "SSL_CERT_FILE", "HF_ENDPOINT", "MM_AUTH_HOSTS", "MM_T_NUM",
		"MM_T_BOOL", "MM_T_SECS", "MM_T_A", "MM_T_B", "MM_PEER_WAIT", "MM_SERVE",
		"MM_SERVE_URL", NULL,
	};

	for (const char *const *v = vars; *v; v++)
		unsetenv(*v);
}

static void test_env(void)
{
	struct mm_err err = {0};
	long n = 7;
	double d = 1.5;

	ok(mm_env("MM_T_A", "MM_T_B") == NULL, "unset, unset: NULL");
	setenv("MM_T_B", "b", 1);
	is_str(mm_env("MM_T_A", "MM_T_B"), "b", "the alias when the name is unset");
	setenv("MM_T_A", "", 1);
	is_str(mm_env("MM_T_A", "MM_T_B"), "b", "an empty value counts as unset");
	setenv("MM_T_A", "a", 1);
	is_str(mm_env("MM_T_A", "MM_T_B"), "a", "the name wins over its alias");
	ok(mm_env("MM_T_A", NULL) && mm_env("MM_T_B", NULL), "no alias: the name alone");

	ok(mm_env_long("MM_T_NUM", 1, 10, &n, &err) == 0 && n == 7, "unset: the default stays");
	setenv("MM_T_NUM", "4", 1);
	ok(mm_env_long("MM_T_NUM", 1, 10, &n, &err) == 0 && n == 4, "a number in range");
	setenv("MM_T_NUM", "11", 1);
	is_int(mm_env_long("MM_T_NUM", 1, 10, &n, &err), MM_EUSAGE, "out of range: a usage error");
	is_str(err.msg, "MM_T_NUM must be a whole number from 1 to 10, not '11'",
	       "which names the variable, the range and the value");
	ok(n == 4, "and leaves the value alone");
	setenv("MM_T_NUM", "3 ", 1);
	is_int(mm_env_long("MM_T_NUM", 1, 10, &n, &err), MM_EUSAGE, "trailing junk is refused");

	ok(mm_env_seconds("MM_T_SECS", 0, 60, &d, &err) == 0 && d == 1.5, "seconds: unset keeps the default");
	setenv("MM_T_SECS", "0.25", 1);
	ok(mm_env_seconds("MM_T_SECS", 0, 60, &d, &err) == 0 && d == 0.25, "fractions of a second");
	setenv("MM_T_SECS", "soon", 1);
	is_int(mm_env_seconds("MM_T_SECS", 0, 60, &d, &err), MM_EUSAGE, "not a number: a usage error");
	is_str(err.msg, "MM_T_SECS: not a number of seconds: 'soon'", "naming the variable");

	ok(!mm_env_bool("MM_T_BOOL"), "a flag unset is false");
	for (const char *const *v = (const char *const[]){"1", "true", "YES", "On", NULL}; *v; v++) {
		setenv("MM_T_BOOL", *v, 1);
		ok(mm_env_bool("MM_T_BOOL"), "'%s' is true", *v);
	}
	for (const char *const *v = (const char *const[]){"0", "false", "no", "2", "", NULL}; *v; v++) {
		setenv("MM_T_BOOL", *v, 1);
		ok(!mm_env_bool("MM_T_BOOL"), "'%s' is false", *v);
	}
}

static void test_settings(void)
{
	struct mm_auth *a = NULL;
	struct mm_err err = {0};
	char *s;

	clear();
	is_str(mm_config_root(), "/workspace/ComfyUI", "MM_ROOT's default");
	setenv("COMFYUI_PATH", "/c", 1);
	is_str(mm_config_root(), "/c", "COMFYUI_PATH is MM_ROOT's alias");
	setenv("MM_ROOT", "/r", 1);
	is_str(mm_config_root(), "/r", "MM_ROOT wins");
	s = mm_config_state_dir("/r");
	is_str(s, "/r/.mm", "the state directory defaults to $MM_ROOT/.mm");
	free(s);
	setenv("MM_STATE_DIR", "/s", 1);
	s = mm_config_state_dir("/r");
	is_str(s, "/s", "MM_STATE_DIR wins");
	free(s);

	ok(mm_config_redis_url() == NULL, "REDIS_URL unset: NULL (redis.h's default)");
	setenv("REDIS_URL", "redis://h:1/2", 1);
	is_str(mm_config_redis_url(), "redis://h:1/2", "REDIS_URL");
	setenv("REDIS_CA_CERT", "", 1);
	is_str(mm_env_raw("REDIS_CA_CERT"), "", "REDIS_CA_CERT set empty: kept, for redis.c to refuse");

	ok(mm_config_ca_bundle() == NULL, "no CA bundle: libcurl's own");
	setenv("SSL_CERT_FILE", "/ssl.pem", 1);
	is_str(mm_config_ca_bundle(), "/ssl.pem", "SSL_CERT_FILE, as the curl tool reads it");
	setenv("CURL_CA_BUNDLE", "/curl.pem", 1);
	is_str(mm_config_ca_bundle(), "/curl.pem", "CURL_CA_BUNDLE wins over SSL_CERT_FILE");
	setenv("CURL_CA_BUNDLE", "", 1);
	is_str(mm_config_ca_bundle(), "/ssl.pem", "an empty CURL_CA_BUNDLE does not hide SSL_CERT_FILE");

	ok(mm_config_hf_endpoint() == NULL, "HF_ENDPOINT unset");
	ok(mm_config_auth(&a, &err) == 0 && a, "the built-in token bindings");
	mm_auth_free(a);
	a = NULL;
	setenv("HF_ENDPOINT", "not a url", 1);
	is_int(mm_config_auth(&a, &err), MM_EUSAGE, "a malformed HF_ENDPOINT is a usage error");
	ok(strstr(err.msg, "HF_ENDPOINT") != NULL, "naming it: %s", err.msg);
	mm_auth_free(a);
	a = NULL;
	unsetenv("HF_ENDPOINT");
	setenv("MM_AUTH_HOSTS", "HF_TOKEN", 1);
	is_int(mm_config_auth(&a, &err), MM_EUSAGE, "a malformed MM_AUTH_HOSTS is a usage error");
	ok(strstr(err.msg, "MM_AUTH_HOSTS") != NULL, "naming it: %s", err.msg);
	mm_auth_free(a);
	clear();
}

static void test_peer_wait(void)
{
	struct mm_err err = {0};
	double d = -1;

	clear();
	ok(mm_config_peer_wait(&d, &err) == 0 && d == 600, "MM_PEER_WAIT unset: 600 s");
	setenv("MM_PEER_WAIT", "0", 1);
	ok(mm_config_peer_wait(&d, &err) == 0 && d == 0, "0: never wait");
	setenv("MM_PEER_WAIT", "2.5", 1);
	ok(mm_config_peer_wait(&d, &err) == 0 && d == 2.5, "fractions of a second");
	setenv("MM_PEER_WAIT", "-1", 1);
	is_int(mm_config_peer_wait(&d, &err), MM_EUSAGE, "a negative wait is a usage error");
	setenv("MM_PEER_WAIT", "soon", 1);
	is_int(mm_config_peer_wait(&d, &err), MM_EUSAGE, "so is a word");
	is_str(err.msg, "MM_PEER_WAIT: not a number of seconds: 'soon'", "naming the variable");

	ok(!mm_config_serving(), "neither MM_SERVE nor MM_SERVE_URL: not serving");
	setenv("MM_SERVE", "yes", 1);
	ok(!mm_config_serving(), "MM_SERVE=yes: not serving (the entrypoint starts mm-serve for 1 alone)");
	setenv("MM_SERVE", "1", 1);
	ok(mm_config_serving(), "MM_SERVE=1: serving");
	unsetenv("MM_SERVE");
	setenv("MM_SERVE_URL", "http://10.0.0.7:8190", 1);
	ok(mm_config_serving(), "MM_SERVE_URL set: serving");
	clear();
}

static void test_lists(void)
{
	struct mm_list l = {0};

	mm_list_add(&l, NULL);
	ok(l.n == 0, "NULL adds nothing");
	mm_list_add(&l, " a , b,,a ,  ,c ");
	ok(l.n == 3 && !strcmp(l.v[0], "a") && !strcmp(l.v[1], "b") && !strcmp(l.v[2], "c"),
	   "split at commas, trimmed, empty items and repeats dropped, order kept");
	mm_list_push(&l, "b");
	mm_list_push(&l, "d,e");
	ok(l.n == 4 && !strcmp(l.v[3], "d,e"), "push: one item as it is, no repeat");
	ok(mm_list_has(&l, "c") && !mm_list_has(&l, "e"), "has");
	mm_list_free(&l);
	ok(l.n == 0 && l.v == NULL, "freed and empty");
}

int main(void)
{
	clear();
	test_env();
	test_settings();
	test_peer_wait();
	test_lists();
	return done_testing();
}
