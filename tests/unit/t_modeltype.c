/* The ComfyUI folder table, the name guesses, and the deployed spellings. */
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "modeltype.h"
#include "tap.h"

static void test_folders(void)
{
	static const char *const table[][2] = {
		{"checkpoint", "checkpoints"}, {"checkpoints", "checkpoints"},
		{"diffusion", "diffusion_models"}, {"diffusion_models", "diffusion_models"},
		{"unet", "unet"}, {"VAE", "vae"}, {"lora", "loras"}, {"LoRA", "loras"},
		{"clip", "clip"}, {"text-encoder", "text_encoders"}, {"text_encoders", "text_encoders"},
		{"clip_vision", "clip_vision"}, {"Clip Vision", "clip_vision"},
		{"controlnet", "controlnet"}, {"upscale", "upscale_models"},
		{"upscale_models", "upscale_models"}, {"embedding", "embeddings"},
		{"ipadapter", "ipadapter"}, {"style_model", "style_models"},
		{"hypernetwork", "hypernetworks"}, {"photomaker", "photomaker"},
		{"gligen", "gligen"}, {"vae_approx", "vae_approx"},
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		is_str(mm_modeltype_folder(table[i][0]), table[i][1], "type '%s' is %s", table[i][0],
		       table[i][1]);
	ok(mm_modeltype_folder("text-to-image") == NULL, "a task is not a folder");
	ok(mm_modeltype_folder("") == NULL && mm_modeltype_folder(NULL) == NULL, "no type, no folder");
	ok(mm_modeltype_folder("../etc") == NULL, "a path is not a folder");
}

static void test_guesses(void)
{
	static const char *const g[][2] = {
		{"ae-vae.safetensors", "vae"}, {"clip_l.safetensors", "clip"},
		{"t5xxl_fp16.safetensors", "clip"}, {"control_controlnet-canny.pth", "controlnet"},
		{"4x-UpScale.pth", "upscale_models"}, {"RealESRGAN_x4.pth", "upscale_models"},
		{"detail-lora.safetensors", "loras"}, {"bad-embedding.pt", "embeddings"},
		{"flux1-dev.safetensors", "checkpoints"},
	};
	size_t i;

	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++)
		is_str(mm_modeltype_guess(g[i][0]), g[i][1], "'%s' is guessed to be in %s", g[i][0], g[i][1]);
}

static void test_helpers(void)
{
	char *u;

	is_str(mm_auth_provider_env("huggingface"), "HF_TOKEN", "huggingface is HF_TOKEN");
	is_str(mm_auth_provider_env("CivitAI"), "CIVITAI_TOKEN", "civitai is CIVITAI_TOKEN");
	ok(mm_auth_provider_env("github") == NULL, "an unknown provider has no variable");
	u = mm_hf_url(NULL, "lllyasviel/flux1_dev", "flux1-dev-fp8.safetensors");
	is_str(u, "https://huggingface.co/lllyasviel/flux1_dev/resolve/main/flux1-dev-fp8.safetensors",
	       "the hub URL");
	free(u);
	u = mm_hf_url("http://127.0.0.1:9/hf/", "a/b", "c.bin");
	is_str(u, "http://127.0.0.1:9/hf/a/b/resolve/main/c.bin", "on HF_ENDPOINT");
	free(u);
}

/* Parse one model as an API answer; print it back or the first problem. */
static char *one(const char *model, int flags)
{
	struct mm_manifest *m = NULL;
	struct mm_err err = {0};
	char *text = malloc(strlen(model) + 32), *s;
	int rc;

	sprintf(text, "{\"models\":[%s]}", model);
	rc = mm_manifest_parse(text, strlen(text), "t", flags, &m, &err);
	free(text);
	if (rc) {
		mm_manifest_free(m);
		return strdup(err.msg);
	}
	s = cJSON_PrintUnformatted(m->models[0].obj);
	mm_manifest_free(m);
	return s;
}

static void like_(const char *what, int flags, const char *want, const char *desc)
{
	char *got = one(what, flags);

	ok(strstr(got, want) != NULL, "%s", desc);
	if (!strstr(got, want))
		printf("#   got: %s\n#   want: %s\n", got, want);
	free(got);
}
#define like(w, f, s, d) like_(w, f, s, d)

static void test_spellings(void)
{
	const int api = MM_MANIFEST_FROM_API;

	like("{\"name\":\"f.st\",\"download_url\":\"https://e/f\",\"file_size_gb\":23.8,"
	     "\"auth_required\":true,\"auth_provider\":\"huggingface\","
	     "\"save_path\":\"checkpoints/f.st\",\"dependencies\":[]}", 0,
	     "{\"name\":\"f.st\",\"dependencies\":[],\"downloadUrl\":\"https://e/f\","
	     "\"isAuthReq\":true,\"saveTo\":\"models/checkpoints/f.st\",\"fileSize\":\"23.8GB\","
	     "\"authEnvVar\":\"HF_TOKEN\",\"sizeBytes\":25555055411}",
	     "the model specification's example becomes the manifest's fields");
	like("{\"filename\":\"a\",\"url\":\"http://e/a\",\"saveTo\":\"models/a\",\"size\":12}", 0,
	     "{\"saveTo\":\"models/a\",\"name\":\"a\",\"downloadUrl\":\"http://e/a\",\"sizeBytes\":12}",
	     "filename, url and size (bytes)");
	like("{\"name\":\"a\",\"url\":\"http://e/a\",\"modelType\":\"lora\"}", api,
	     "\"type\":\"lora\",\"saveTo\":\"models/loras/a\"", "modelType is type, and gives the folder");
	like("{\"name\":\"x-vae.st\",\"url\":\"http://e/a\",\"type\":\"text-to-image\"}", api,
	     "\"saveToGuessed\":true,\"saveTo\":\"models/vae/x-vae.st\"", "an unknown type: guessed from the name");
	like("{\"name\":\"f.st\",\"huggingface_id\":\"o/r\",\"type\":\"diffusion\"}", api,
	     "\"downloadUrl\":\"https://huggingface.co/o/r/resolve/main/f.st\",\"isAuthReq\":true,"
	     "\"authEnvVar\":\"HF_TOKEN\",\"saveTo\":\"models/diffusion_models/f.st\"",
	     "huggingface_id: the hub URL, HF_TOKEN, and the type's folder");
	like("{\"name\":\"f.st\",\"huggingface_id\":\"o/r\"}", 0, "saveTo is missing",
	     "nothing is derived outside API answers");
	like("{\"name\":\"n\",\"type\":\"vae\"}", api, "\"saveTo\":\"models/vae/n\"",
	     "a model with nothing to download from is kept");
	like("{\"name\":\"a\",\"filename\":\"b\",\"url\":\"http://e/a\",\"saveTo\":\"models/a\"}", 0,
	     "models[0] (a): both name and filename are given, with different values",
	     "name and filename that disagree");
	like("{\"name\":\"a\",\"url\":\"http://e/a\",\"downloadUrl\":\"http://e/b\",\"saveTo\":\"m/a\"}", 0,
	     "both downloadUrl and url", "two URLs that disagree");
	like("{\"name\":\"a\",\"url\":\"http://e/a\",\"saveTo\":\"models/a\",\"save_path\":\"b\"}", 0,
	     "models[0] (a): saveTo 'models/a' and save_path 'b' (models/b) disagree",
	     "saveTo and save_path that disagree");
	like("{\"name\":\"a\",\"url\":\"http://e/a\",\"saveTo\":\"models/a\",\"size\":5,\"sizeBytes\":6}", 0,
	     "size 5 and sizeBytes 6 disagree", "two byte counts that disagree");
	like("{\"name\":\"a\",\"url\":\"http://e/a\",\"saveTo\":\"models/a\",\"fileSize\":\"2GB\","
	     "\"file_size_gb\":23.8}", 0, "file_size_gb 23.8 and a size", "file_size_gb against fileSize");
	like("{\"name\":\"a\",\"url\":\"http://e/a\",\"saveTo\":\"models/a\",\"fileSize\":\"23.8GB\","
	     "\"file_size_gb\":23.8}", 0, "\"sizeBytes\":25555055411", "sizes that agree are fine");
	like("{\"name\":\"a\",\"url\":\"http://e/a\",\"saveTo\":\"models/a\",\"authEnvVar\":\"X\","
	     "\"auth_provider\":\"civitai\"}", 0,
	     "auth_provider 'civitai' (CIVITAI_TOKEN) and authEnvVar 'X' disagree",
	     "auth_provider against authEnvVar");
	like("{\"name\":\"a\",\"url\":\"http://e/a\",\"saveTo\":\"models/a\",\"auth_provider\":null}", 0,
	     "{\"name\":\"a\",\"saveTo\":\"models/a\",\"downloadUrl\":\"http://e/a\"}",
	     "auth_provider null is no token");
	like("{\"name\":\"a\",\"url\":\"http://e/a\",\"saveTo\":\"models/a\",\"auth_provider\":\"github\"}", 0,
	     "auth_provider 'github' is not one mm knows", "an unknown provider");
	like("{\"name\":\"a\",\"url\":\"http://e/a\",\"save_path\":\"../../etc/x\"}", 0,
	     "saveTo 'models/../../etc/x'", "save_path is held to the saveTo rule");
	like("{\"name\":\"../x\",\"url\":\"http://e/a\",\"type\":\"vae\"}", api,
	     "saveTo 'models/vae/../x'", "a derived saveTo is held to the saveTo rule");
	like("{\"name\":\"a\",\"url\":\"http://e/a\",\"saveTo\":\"models/a\",\"size\":\"big\"}", 0,
	     "size is not a number of bytes", "a size that is not one");
	like("{\"name\":\"a\",\"url\":\"http://e/a\",\"save_path\":\"loras/\"}", 0,
	     "\"saveTo\":\"models/loras/a\"", "a save_path folder takes the name");
}

int main(void)
{
	test_folders();
	test_guesses();
	test_helpers();
	test_spellings();
	return done_testing();
}
