/* Token binding: which hosts a variable's value may go to, and over what. */
#include "auth.h"
#include "tap.h"

#include <stdlib.h>

static struct mm_err err;

/* verdict SPEC ENDPOINT ALLOW VAR URL: mm_auth_check under that configuration. */
static int verdict(const char *spec, const char *endpoint, int allow, const char *var,
		   const char *url, char *why, size_t n)
{
	struct mm_auth *a = NULL;
	int v;

	memset(&err, 0, sizeof(err));
	if (mm_auth_new(spec, endpoint, allow, &a, &err) != 0)
		return -1;
	v = (int)mm_auth_check(a, var, url, why, n);
	mm_auth_free(a);
	return v;
}

static int check(const char *spec, const char *var, const char *url)
{
	return verdict(spec, NULL, 0, var, url, NULL, 0);
}

static void bad_spec(const char *spec, const char *want)
{
	struct mm_auth *a = NULL;

	memset(&err, 0, sizeof(err));
	is_int(mm_auth_new(spec, NULL, 0, &a, &err), MM_EUSAGE, "MM_AUTH_HOSTS='%s' is refused", spec);
	ok(a == NULL, "and gives no table");
	if (!ok(strstr(err.msg, "MM_AUTH_HOSTS") && strstr(err.msg, want),
		"its message names MM_AUTH_HOSTS and '%s'", want))
		printf("#   message: %s\n", err.msg);
	mm_auth_free(a);
}

int main(void)
{
	static const char *const hf_ok[] = {
		"https://huggingface.co/x/y.safetensors",
		"https://HuggingFace.CO/x",
		"https://cdn-lfs.huggingface.co/x",
		"https://hf.co/x",
		"https://huggingface.co:8443/x",
		"https://a.b.hf.co/x",
		"https://huggingface%2eco/x",
	};
	static const char *const hf_no[] = {
		"https://evilhuggingface.co/x",
		"https://huggingface.co.evil.example/x",
		"https://127.0.0.1/mirror/.huggingface.co/x",
		"https://127.0.0.1/x?u=https://huggingface.co/",
		"https://huggingface.co@evil.example/x",
		"https://evil.example#@huggingface.co/",
		"https://evil.example/huggingface.co",
		"https://xhf.co/x",
		"https://huggingface.com/x",
		"https://huggingface.co./x",
		"https://civitai.com/x",
	};
	struct mm_auth *a = NULL;
	const struct mm_list *l;
	char why[400];
	size_t i;

	/* Built in. */
	for (i = 0; i < sizeof(hf_ok) / sizeof(hf_ok[0]); i++)
		is_int(check(NULL, "HF_TOKEN", hf_ok[i]), MM_AUTH_OK, "HF_TOKEN may go to %s", hf_ok[i]);
	for (i = 0; i < sizeof(hf_no) / sizeof(hf_no[0]); i++)
		is_int(check(NULL, "HF_TOKEN", hf_no[i]), MM_AUTH_HOST, "HF_TOKEN may not go to %s", hf_no[i]);
	is_int(check(NULL, "CIVITAI_TOKEN", "https://civitai.com/api/download/models/1"), MM_AUTH_OK,
	       "CIVITAI_TOKEN to civitai.com");
	is_int(check(NULL, "CIVITAI_TOKEN", "https://image.civitai.com/x"), MM_AUTH_OK,
	       "CIVITAI_TOKEN to a subdomain");
	is_int(check(NULL, "CIVITAI_TOKEN", "https://huggingface.co/x"), MM_AUTH_HOST,
	       "CIVITAI_TOKEN not to huggingface.co");
	is_int(mm_auth_check(NULL, "HF_TOKEN", "https://hf.co/x", NULL, 0), MM_AUTH_OK,
	       "a NULL table is the built-in one");
	is_int(mm_auth_check(NULL, "HF_TOKEN", "http://hf.co/x", NULL, 0), MM_AUTH_HTTP,
	       "and https only");

	/* Unbound variables. */
	static const char *const unbound[] = {"REDIS_URL", "AWS_SECRET_ACCESS_KEY", "PATH", "hf_token"};
	for (i = 0; i < sizeof(unbound) / sizeof(unbound[0]); i++) {
		is_int(verdict(NULL, NULL, 1, unbound[i], "https://huggingface.co/x", why, sizeof(why)),
		       MM_AUTH_UNBOUND, "%s is bound to no host", unbound[i]);
		ok(strstr(why, unbound[i]) && strstr(why, "MM_AUTH_HOSTS"),
		   "the message names %s and MM_AUTH_HOSTS", unbound[i]);
	}

	/* https only, unless allowed. */
	is_int(verdict(NULL, NULL, 0, "HF_TOKEN", "http://huggingface.co/x", why, sizeof(why)),
	       MM_AUTH_HTTP, "plain http is refused");
	ok(strstr(why, "HF_TOKEN") && strstr(why, "MM_ALLOW_HTTP_AUTH"),
	   "the message names HF_TOKEN and MM_ALLOW_HTTP_AUTH");
	is_int(verdict(NULL, NULL, 0, "HF_TOKEN", "HTTP://huggingface.co/x", NULL, 0), MM_AUTH_HTTP,
	       "whatever the scheme's case");
	is_int(verdict(NULL, NULL, 1, "HF_TOKEN", "http://huggingface.co/x", NULL, 0), MM_AUTH_OK,
	       "allowed with MM_ALLOW_HTTP_AUTH");
	is_int(verdict(NULL, NULL, 1, "HF_TOKEN", "http://evil.example/x", why, sizeof(why)),
	       MM_AUTH_HOST, "which does not widen the hosts");
	ok(strstr(why, "'evil.example'") && strstr(why, "huggingface.co, hf.co") &&
	   strstr(why, "MM_AUTH_HOSTS"), "the message names the host, the bound ones and MM_AUTH_HOSTS");
	is_int(verdict(NULL, NULL, 1, "HF_TOKEN", "https://huggingface.co x", NULL, 0), MM_AUTH_BADURL,
	       "a URL libcurl cannot parse");

	/* HF_ENDPOINT. */
	is_int(verdict(NULL, "https://hf-mirror.example:8443/", 0, "HF_TOKEN",
		       "https://hf-mirror.example/x", NULL, 0), MM_AUTH_OK, "HF_ENDPOINT's host, any port");
	is_int(verdict(NULL, "https://hf-mirror.example", 0, "HF_TOKEN", "https://huggingface.co/x",
		       NULL, 0), MM_AUTH_OK, "besides the built-in hosts");
	is_int(verdict(NULL, "https://hf-mirror.example", 0, "CIVITAI_TOKEN",
		       "https://hf-mirror.example/x", NULL, 0), MM_AUTH_HOST, "for HF_TOKEN only");
	is_int(verdict(NULL, "http://127.0.0.1:8080", 1, "HF_TOKEN", "http://127.0.0.1:9/x", NULL, 0),
	       MM_AUTH_OK, "an address");
	is_int(verdict(NULL, "http://127.0.0.1:8080", 1, "HF_TOKEN", "http://10.127.0.0.1/x", NULL, 0),
	       MM_AUTH_HOST, "an address has no subdomains");
	memset(&err, 0, sizeof(err));
	is_int(mm_auth_new(NULL, "ftp://u:EndpointSecret@x/", 0, &a, &err), MM_EUSAGE,
	       "an HF_ENDPOINT that is not http(s) is a configuration error");
	ok(strstr(err.msg, "HF_ENDPOINT") && !strstr(err.msg, "EndpointSecret"),
	   "naming HF_ENDPOINT, not showing it");
	is_int(mm_auth_new(NULL, "not a url", 0, &a, &err), MM_EUSAGE, "so is one that is no URL");

	/* MM_AUTH_HOSTS. */
	is_int(check("MY_TOKEN=models.example", "MY_TOKEN", "https://models.example/x"), MM_AUTH_OK,
	       "MM_AUTH_HOSTS binds a variable");
	is_int(check("MY_TOKEN=models.example", "MY_TOKEN", "https://eu.cdn.Models.Example:444/x"),
	       MM_AUTH_OK, "with its subdomains, any case, any port");
	is_int(check("MY_TOKEN=models.example", "MY_TOKEN", "https://evilmodels.example/x"), MM_AUTH_HOST,
	       "not a look-alike");
	is_int(check("MY_TOKEN=models.example", "MY_TOKEN", "https://example/x"), MM_AUTH_HOST,
	       "not the parent");
	is_int(check("MY_TOKEN=models.example", "HF_TOKEN", "https://huggingface.co/x"), MM_AUTH_OK,
	       "the built-in bindings stay");
	is_int(check("HF_TOKEN=mirror.example", "HF_TOKEN", "https://huggingface.co/x"), MM_AUTH_HOST,
	       "an entry for HF_TOKEN replaces its built-in hosts");
	is_int(verdict("HF_TOKEN=mirror.example", "https://endpoint.example", 0, "HF_TOKEN",
		       "https://endpoint.example/x", NULL, 0), MM_AUTH_HOST, "HF_ENDPOINT's host included");
	is_int(check("HF_TOKEN=mirror.example", "HF_TOKEN", "https://mirror.example/x"), MM_AUTH_OK,
	       "and binds the new one");
	is_int(check(" A=a.example,b.example\tB=c.example \n A=d.example ", "A", "https://d.example/"),
	       MM_AUTH_OK, "white space separates entries; a variable named twice has both");
	is_int(check(" A=a.example,b.example\tB=c.example \n A=d.example ", "A", "https://b.example/"),
	       MM_AUTH_OK, "(the first entry too)");
	is_int(check(" A=a.example,b.example\tB=c.example \n A=d.example ", "A", "https://c.example/"),
	       MM_AUTH_HOST, "(not B's host)");
	is_int(check("A=127.0.0.1", "A", "https://127.0.0.1:9/"), MM_AUTH_OK, "an IPv4 address");
	is_int(check("A=0x7f.1", "A", "https://127.0.0.1/"), MM_AUTH_OK, "normalised as libcurl does");
	is_int(check("A=0.0.1", "A", "https://127.0.0.1/"), MM_AUTH_HOST, "no suffix of an address");
	is_int(check("A=[::1]", "A", "https://[0:0::1]:8443/"), MM_AUTH_OK, "an IPv6 address");
	is_int(check("", "A", "https://a.example/"), MM_AUTH_UNBOUND, "an empty MM_AUTH_HOSTS binds nothing");

	memset(&err, 0, sizeof(err));
	ok(mm_auth_new("A=a.example,b.example A=a.example", NULL, 0, &a, &err) == 0 &&
	   (l = mm_auth_hosts(a, "A")) && l->n == 2, "hosts are kept once");
	ok(mm_auth_hosts(a, "REDIS_URL") == NULL, "an unbound variable has no hosts");
	mm_auth_free(a);
	a = NULL;

	bad_spec("HF_TOKEN", "entry 1 'HF_TOKEN' has no '='");
	bad_spec("A=a.example oops", "entry 2 'oops'");
	bad_spec("A=", "names no host");
	bad_spec("=a.example", "variable name");
	bad_spec("1A=a.example", "variable name");
	bad_spec("A-B=a.example", "variable name");
	bad_spec("A=https://a.example", "'https://a.example' is not a host name");
	bad_spec("A=a.example:443", "'a.example:443' is not a host name");
	bad_spec("A=a.example/x", "not a host name");
	bad_spec("A=*.a.example", "not a host name");
	bad_spec("A=.a.example", "not a host name");
	bad_spec("A=a.example.", "not a host name");
	bad_spec("A=a..example", "not a host name");
	bad_spec("A=a,,b", "'' is not a host name");
	bad_spec("A=u@a.example", "not a host name");
	bad_spec("A=a%2eexample", "not a host name");
	bad_spec("A=[::1", "not a host name");
	bad_spec("A=\x1b[2J", "'?[2J'");
	bad_spec("A=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
		 "not a host name");

	/* The manifest's guess: the parsed host, never the text. */
	is_str(mm_auth_guess("https://huggingface.co/x"), "HF_TOKEN", "guess: huggingface.co");
	is_str(mm_auth_guess("https://cdn-lfs.hf.co/x"), "HF_TOKEN", "guess: a subdomain of hf.co");
	is_str(mm_auth_guess("https://civitai.com/api/download/models/1"), "CIVITAI_TOKEN", "guess: civitai.com");
	is_str(mm_auth_guess("http://127.0.0.1/mirror/.huggingface.co/x"), NULL, "guess: not from a path");
	is_str(mm_auth_guess("https://huggingface.co@127.0.0.1/x"), NULL, "guess: not from user info");
	is_str(mm_auth_guess("https://evilhuggingface.co/x"), NULL, "guess: not a look-alike");
	is_str(mm_auth_guess("https://x.civitai.com.evil.example/"), NULL, "guess: not a prefix");
	is_str(mm_auth_guess(NULL), NULL, "guess: no URL");

	/* Names. */
	ok(mm_auth_var_ok("HF_TOKEN") && mm_auth_var_ok("_x1"), "variable names");
	ok(!mm_auth_var_ok("") && !mm_auth_var_ok("1A") && !mm_auth_var_ok("A=B") && !mm_auth_var_ok(NULL),
	   "and what is not one");
	return done_testing();
}
