/* libFuzzer harness for the HNSW loader. Half the inputs are checked with checksums
 * (as users load files), half without, so that mutations reach the structural checks
 * behind the CRCs. A loaded index must pass hnsw_check and answer a search. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "index/hnsw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned flags = (data[0] & 1) ? HNSW_LOAD_SKIP_CHECKSUM : 0;
    bienc_hnsw *h = NULL;
    if (hnsw_load_memory(&h, data + 1, size - 1, flags, "fuzz") == 0) {
        if (hnsw_check(h) != 0) __builtin_trap();
        int dim = hnsw_dim(h);
        float q[64] = {0};
        if (dim <= 64 && hnsw_count(h) > 0) {
            for (int i = 0; i < dim; i++) q[i] = (float)(i % 7) - 3.0f;
            int64_t ids[4];
            float sc[4];
            if (hnsw_search(h, q, 1, 4, 8, 1, ids, sc) != 0) __builtin_trap();
            for (int i = 0; i < 4; i++)
                if (ids[i] >= hnsw_count(h) || (ids[i] >= 0 && hnsw_is_deleted(h, ids[i]))) __builtin_trap();
        }
        hnsw_free(h);
    }
    return 0;
}
