/* Id validation shared by every reader: see ids.h. */
#include "core/ids.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

const char *id_problem(const char *s, size_t len)
{
    if (len == 0) return "empty id";
    if (len > ID_MAX_LEN) return "id longer than 256 bytes";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7F) return "id contains a space or control byte";
    }
    return NULL;
}

static int cmp_rows(const void *a, const void *b, void *ctx)
{
    const char *const *ids = ctx;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    int c = strcmp(ids[i], ids[j]);
    return c ? c : (i > j) - (i < j);
}

int ids_check(const char *const *ids, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++) {
        const char *why = ids[i] ? id_problem(ids[i], strlen(ids[i])) : "missing id";
        if (why)
            return bienc_error(BIENC_EFORMAT, "%s: id of row %lld ('%.40s'): %s", what, (long long)i,
                               ids[i] ? ids[i] : "", why);
    }
    if (n < 2) return 0;
    /* duplicates: sort row numbers by id, then compare neighbours (no hash table needed) */
    int64_t *order = malloc((size_t)n * sizeof *order);
    if (!order) return bienc_error(BIENC_ENOMEM, "%s: out of memory checking %lld ids", what, (long long)n);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, cmp_rows, (void *)ids);
    int rc = 0;
    for (int64_t k = 1; k < n && rc == 0; k++)
        if (strcmp(ids[order[k - 1]], ids[order[k]]) == 0)
            rc = bienc_error(BIENC_EFORMAT, "%s: duplicate id '%.40s' (rows %lld and %lld)", what, ids[order[k]],
                             (long long)order[k - 1], (long long)order[k]);
    free(order);
    return rc;
}
