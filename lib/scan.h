/*
 * scan.h — what model files a machine really holds: a walk of MM_ROOT/models
 * (or another directory), shared by mm-verify --scan and mm-report.
 *
 * What counts as a model file: a regular file whose name ends in one of the
 * extensions ComfyUI loads weights from — .safetensors .sft .ckpt .pt .pt2
 * .pth .bin .pkl — or .gguf (ComfyUI-GGUF) or .onnx (annotators, face
 * models); case-insensitive.  Configs (.yaml, .json) are not models.
 *
 * What is skipped:
 *   - hidden files and directories (a leading '.'): this covers mm-fetch's
 *     part files (".<name>.mm-part") and the default MM_STATE_DIR ($MM_ROOT/.mm);
 *   - other tools' partial downloads: *.part *.tmp *.aria2 *.crdownload
 *     *.download *.incomplete *.mm-part;
 *   - the state directory (and so its quarantine) wherever MM_STATE_DIR is;
 *   - symlinks, to files or folders, whose target is outside MM_ROOT, the
 *     scanned directory and every allowed directory (network volumes are
 *     usually mounted outside MM_ROOT and linked in: name them as allowed);
 *   - broken symlinks, and a folder already open higher up the same path
 *     (a symlink loop);
 *   - a path no manifest could carry as saveTo (a backslash, a control
 *     character; see mm_path_check()), with a warning.  Each skip of a symlink is logged at debug level,
 *     an unreadable folder as a warning; neither fails the scan.
 *
 * saveTo is the path as ComfyUI sees it, through any symlinked folder,
 * relative to MM_ROOT when the scanned directory is inside MM_ROOT, else
 * relative to the scanned directory.  A file reachable by two paths (through
 * a link) is listed once per path.  Entries are sorted by saveTo.
 *
 * Ownership: mm_scan() fills a struct mm_scan the caller releases with
 * mm_scan_free(); its strings belong to it.
 */
#ifndef MM_SCAN_H
#define MM_SCAN_H

#include <stddef.h>
#include <sys/stat.h>

#include "mm.h"

struct mm_scan_opts {
	const char *root;              /* MM_ROOT (required) */
	const char *dir;               /* directory to walk; NULL: root/models */
	const char *state_dir;         /* skipped when inside the walk; may be NULL */
	const char *const *allow_dirs; /* symlink targets allowed besides root and dir */
	size_t nallow;
};

struct mm_scan_entry {
	char *path;       /* the path to open: root or dir joined with save_to */
	const char *name;    /* the file name, e.g. "flux1-dev.safetensors" (in path) */
	const char *save_to; /* e.g. "models/unet/flux1-dev.safetensors" (in path) */
	struct stat st;   /* of the file itself, symlinks followed */
};

struct mm_scan {
	struct mm_scan_entry *v;
	size_t n;
};

/*
 * Walk and fill out.  A directory given in opts->dir that cannot be opened
 * is MM_EUSAGE; the default root/models missing is an empty scan.
 */
int mm_scan(const struct mm_scan_opts *opts, struct mm_scan *out, struct mm_err *err);

void mm_scan_free(struct mm_scan *s);

/* 1 when name looks like a model file by its extension (and is not hidden or partial). */
int mm_scan_is_model_name(const char *name);

#endif
