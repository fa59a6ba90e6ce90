/*
 * modeltype.h — the model spellings of the deployed EmProps API, and where
 * ComfyUI keeps each kind of model.
 *
 * The deployed API (and the model specification behind it) spells a model
 * differently from the manifest: save_path relative to MM_ROOT/models,
 * size in bytes, file_size_gb, auth_provider, huggingface_id instead of a
 * URL, a type instead of a path.  mm_model_spellings() turns those into the
 * manifest's own fields (mm-manifest(5)); the plain renames (url, filename,
 * auth_required, modelType, snake_case) are manifest.c's alias table.
 */
#ifndef MM_MODELTYPE_H
#define MM_MODELTYPE_H

#include <stddef.h>
#include <cjson/cJSON.h>

/*
 * The ComfyUI folder under models/ for a model type: "checkpoint",
 * "diffusion", "lora", "text-encoder" (case, '-', ' ' and '_' alike), or a
 * folder name itself.  NULL when the type names no folder.
 */
const char *mm_modeltype_folder(const char *type);

/*
 * The folder the deployed component manager guesses from a file name:
 * vae, clip or t5xxl, controlnet, upscale or esrgan, lora, embedding, else
 * checkpoints.  Never NULL.
 */
const char *mm_modeltype_guess(const char *name);

/* The token variable of an auth_provider ("huggingface", "civitai"), or NULL. */
const char *mm_auth_provider_env(const char *provider);

/*
 * {endpoint}/{repo}/resolve/main/{name}; endpoint NULL or empty:
 * https://huggingface.co.  Caller frees.
 */
char *mm_hf_url(const char *endpoint, const char *repo, const char *name);

/* True when o carries any spelling of a download URL, or a huggingface_id. */
int mm_model_has_source(const cJSON *o);

/* Flags of mm_model_spellings. */
enum {
	MM_SPELL_DERIVE = 1 << 0,  /* fill a missing URL and saveTo (API answers) */
};

/*
 * Rewrite o's deployed spellings (save_path, size, file_size_gb,
 * auth_provider; with MM_SPELL_DERIVE also huggingface_id and a saveTo from
 * type or name, marked "saveToGuessed": true when guessed from the name)
 * into the manifest's fields.  Run after the alias renames.  Each problem
 * (two spellings that disagree, a value of the wrong type) is passed to
 * report as "LABEL: what"; returns how many.
 */
int mm_model_spellings(cJSON *o, const char *label, int flags,
		       void (*report)(void *ctx, const char *msg), void *ctx);

#endif
