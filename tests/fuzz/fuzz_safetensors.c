/* libFuzzer harness for the safetensors reader. The first input byte is a mode: with
 * mode bit 0 the rest is used as a whole file; without it the rest is a header text and
 * the harness prepends a correct length and appends a small data section, so mutations
 * reach the JSON and offset checks instead of dying on the length field. Every tensor of
 * an accepted file must lie inside the data section, and float tensors must read. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20)) return 0;
    const uint8_t *body = data + 1;
    size_t n = size - 1, data_len = 64;
    uint8_t *buf = NULL;
    size_t len = n;
    if (!(data[0] & 1)) {
        len = 8 + n + data_len;
        buf = malloc(len);
        if (!buf) return 0;
        for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
        memcpy(buf + 8, body, n);
        memset(buf + 8 + n, 0x3c, data_len);
        body = buf;
    }
    bienc_safetensors *st = NULL;
    if (safetensors_parse(&st, body, len, "fuzz") == 0) {
        for (int i = 0; i < safetensors_count(st); i++) {
            const safetensors_tensor *t = safetensors_at(st, i);
            if (t->end < t->begin || t->end > len) __builtin_trap();
            if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16) {
                float *out = malloc((size_t)t->numel * sizeof(float) + 1);
                if (out && safetensors_read_f32(st, t, t->ndim, t->shape, out) != 0) __builtin_trap();
                free(out);
            }
        }
        safetensors_free(st);
    }
    free(buf);
    return 0;
}
