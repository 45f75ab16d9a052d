/* Packed variable-length batches: validation of the sequence offsets. */
#include "ops/ops.h"

#include "core/error.h"

int seqs_check(const bienc_seqs *seqs, int64_t T, const char *what)
{
    if (!what) what = "seqs";
    if (!seqs) return bienc_error(BIENC_EINVAL, "%s: sequence offsets are NULL", what);
    if (seqs->n < 0) return bienc_error(BIENC_EINVAL, "%s: %d sequences", what, seqs->n);
    if (!seqs->offsets) return bienc_error(BIENC_EINVAL, "%s: offsets array is NULL", what);
    if (seqs->offsets[0] != 0)
        return bienc_error(BIENC_EINVAL, "%s: offsets[0] is %d, expected 0", what, seqs->offsets[0]);
    for (int s = 0; s < seqs->n; s++)
        if (seqs->offsets[s + 1] < seqs->offsets[s])
            return bienc_error(BIENC_EINVAL, "%s: offsets decrease at sequence %d (%d -> %d)", what, s,
                               seqs->offsets[s], seqs->offsets[s + 1]);
    if ((int64_t)seqs->offsets[seqs->n] != T)
        return bienc_error(BIENC_ESHAPE, "%s: the %d sequences cover %d tokens, the tensor has %lld rows", what,
                           seqs->n, seqs->offsets[seqs->n], (long long)T);
    return BIENC_OK;
}
