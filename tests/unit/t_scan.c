/* t_scan.c — which files a scan lists, and under which saveTo. */
#include "tap.h"
#include "scan.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static char top[] = "/tmp/t_scan.XXXXXX";

static void mk(const char *rel, size_t size)
{
	char path[512], *slash;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	for (slash = strchr(path + strlen(top) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	if (rel[strlen(rel) - 1] == '/')
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0)
		printf("# cannot create %s\n", path);
	close(fd);
}

static void ln(const char *target, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	if (symlink(target, path) != 0)
		printf("# cannot link %s\n", path);
}

/* The scan's saveTo list, one per line. */
static char *listing(const struct mm_scan *s)
{
	static char buf[4096];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\n", s->v[i].save_to);
	return buf;
}

int main(void)
{
	char root[300], state[300], outside[300], dir[300];
	const char *allow[1];
	struct mm_scan s;
	struct mm_scan_opts o = { 0 };
	struct mm_err err = { 0 };
	int rc;

	if (!mkdtemp(top))
		return 1;
	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(state, sizeof(state), "%s/root/models/state", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	mk("root/models/checkpoints/a.safetensors", 10);
	mk("root/models/loras/sub/b.SAFETENSORS", 20);
	mk("root/models/loras/.hidden.safetensors", 1);
	mk("root/models/loras/.c.safetensors.mm-part", 1);
	mk("root/models/loras/d.safetensors.part", 1);
	mk("root/models/loras/e.safetensors.tmp", 1);
	mk("root/models/loras/f.gguf.aria2", 1);
	mk("root/models/loras/notes.txt", 1);
	mk("root/models/loras/config.yaml", 1);
	mk("root/models/.cache/g.safetensors", 1);
	mk("root/models/vae/h.gguf", 3);
	mk("root/models/vae/i.onnx", 4);
	mk("root/models/vae/j.ckpt", 5);
	mk("root/models/state/quarantine/q.safetensors", 1);
	mk("root/shared/k.pt", 6);
	mk("outside/l.safetensors", 7);
	ln("../shared", "root/models/linked");
	ln("../shared/k.pt", "root/models/filelink.pth");
	ln("../../outside", "root/models/external");
	ln("../../outside/l.safetensors", "root/models/ext.safetensors");
	ln("..", "root/models/vae/loop");
	ln("nowhere", "root/models/broken.safetensors");

	o.root = root;
	o.state_dir = state;
	rc = mm_scan(&o, &s, &err);
	is_int(rc, 0, "scan of MM_ROOT/models succeeds");
	is_str(listing(&s),
		"models/checkpoints/a.safetensors\n"
		"models/filelink.pth\n"
		"models/linked/k.pt\n"
		"models/loras/sub/b.SAFETENSORS\n"
		"models/vae/h.gguf\n"
		"models/vae/i.onnx\n"
		"models/vae/j.ckpt\n",
		"model files only: no hidden, partial, quarantined or outside files, no loops");
	ok(s.n > 1 && strcmp(s.v[0].name, "a.safetensors") == 0 && s.v[0].st.st_size == 10,
		"name and size of an entry");
	ok(s.n > 2 && s.v[2].st.st_size == 6, "a file through a symlinked folder has its size");
	mm_scan_free(&s);

	allow[0] = outside;
	o.allow_dirs = allow;
	o.nallow = 1;
	mm_scan(&o, &s, &err);
	ok(strstr(listing(&s), "models/external/l.safetensors\n") != NULL &&
		strstr(listing(&s), "models/ext.safetensors\n") != NULL,
		"an allowed directory lets links out of MM_ROOT be followed");
	mm_scan_free(&s);

	snprintf(dir, sizeof(dir), "%s/root/models/vae", top);
	o.dir = dir;
	o.nallow = 0;
	mm_scan(&o, &s, &err);
	is_str(listing(&s), "models/vae/h.gguf\nmodels/vae/i.onnx\nmodels/vae/j.ckpt\n",
		"a directory inside MM_ROOT keeps saveTo relative to MM_ROOT");
	mm_scan_free(&s);

	o.dir = outside;
	mm_scan(&o, &s, &err);
	is_str(listing(&s), "l.safetensors\n", "a directory outside MM_ROOT: saveTo relative to it");
	mm_scan_free(&s);

	snprintf(dir, sizeof(dir), "%s/nope", top);
	o.dir = dir;
	is_int(mm_scan(&o, &s, &err), MM_EUSAGE, "a missing directory named explicitly is an error");
	ok(strstr(err.msg, "nope") != NULL, "naming it: %s", err.msg);

	snprintf(root, sizeof(root), "%s/empty", top);
	o.root = root;
	o.dir = NULL;
	is_int(mm_scan(&o, &s, &err), 0, "a missing MM_ROOT/models is an empty scan");
	is_int(s.n, 0, "with nothing in it");
	mm_scan_free(&s);

	/* An empty folder: nothing to sort (UBSan: qsort of a NULL array). */
	mk("empty/models/loras/.keep", 0);
	is_int(mm_scan(&o, &s, &err), 0, "a models folder with an empty subfolder is scanned");
	is_int(s.n, 0, "and holds nothing");
	mm_scan_free(&s);

	/*
	 * Many folders, walked two at a time: every file listed once, in
	 * order, with its own size, on every run.
	 */
	{
		char rel[128];
		int good = 1, runs;

		for (int f = 0; f < 12; f++)
			for (int i = 0; i < 40; i++) {
				snprintf(rel, sizeof(rel), "many/models/t%02d/%s%02d.safetensors", f,
					 i % 4 ? "m" : "sub/m", i);
				mk(rel, (size_t)(f * 100 + i + 1));
			}
		mk("many/models/top.safetensors", 7);
		snprintf(root, sizeof(root), "%s/many", top);
		o.root = root;
		for (runs = 0; runs < 20 && good; runs++) {
			good = mm_scan(&o, &s, &err) == 0 && s.n == 12 * 40 + 1;
			for (size_t k = 0; good && k < s.n; k++) {
				int f, i;

				if (k + 1 < s.n && strcmp(s.v[k].save_to, s.v[k + 1].save_to) >= 0)
					good = 0;
				else if (sscanf(s.v[k].save_to, "models/t%d/m%d", &f, &i) == 2 ||
					 sscanf(s.v[k].save_to, "models/t%d/sub/m%d", &f, &i) == 2)
					good = s.v[k].st.st_size == f * 100 + i + 1;
				else
					good = strcmp(s.v[k].save_to, "models/top.safetensors") == 0;
			}
			mm_scan_free(&s);
		}
		ok(good, "12 folders of 40 files: each listed once, sorted, with its size (%d runs)", runs);
	}

	ok(mm_scan_is_model_name("x.SFT") && !mm_scan_is_model_name("x.yaml") &&
		!mm_scan_is_model_name(".x.pt") && !mm_scan_is_model_name("x.pt.crdownload") &&
		!mm_scan_is_model_name(".safetensors"), "extension rules");

	snprintf(dir, sizeof(dir), "rm -rf '%s'", top);
	if (system(dir) != 0)
		printf("# cleanup failed\n");
	return done_testing();
}
