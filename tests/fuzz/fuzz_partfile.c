/*
 * fuzz_partfile.c — the resume state beside a part file (partfile.h), which
 * another run or another tenant may have written.  The first 8 bytes are the
 * part file's size; the rest is the state file.  Promise: refused with
 * nothing kept, or pieces that tile [0, size) and claim no byte beyond the
 * part file.
 */
#include "fuzz.h"
#include "partfile.h"

#define URL "https://example.com/m.safetensors"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mm_partstate st;
	long long part = 0, at = 0;
	size_t i;

	if (size < 8)
		return 0;
	for (i = 0; i < 8; i++)
		part = (long long)(((unsigned long long)part << 8) | data[i]);
	if (mm_partfile_parse((const char *)data + 8, size - 8, URL, part, &st) != 0) {
		FUZZ_ASSERT(st.pieces == NULL && st.npieces == 0 && st.size == -1);
		return 0;
	}
	FUZZ_ASSERT(st.size > 0 && st.npieces > 0 && st.validator[0]);
	for (i = 0; i < st.npieces; i++) {
		const struct mm_piece *p = &st.pieces[i];

		FUZZ_ASSERT(p->start == at && p->end > p->start);
		FUZZ_ASSERT(p->pos >= 0 && p->pos <= p->end - p->start);
		FUZZ_ASSERT(p->pos == 0 || p->start + p->pos <= part);
		at = p->end;
	}
	FUZZ_ASSERT(at == st.size);
	free(st.pieces);
	return 0;
}
