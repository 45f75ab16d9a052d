/* A run's checkpoint directory: step-N.h5 files, the latest one, and pruning to the last K
 * plus the best by a metric stored in the checkpoints themselves (so it survives restarts). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "io/checkpoint_internal.h"

int ckpt_step_path(const char *dir, int64_t step, char *buf, size_t size)
{
    if (!dir || !buf || step < 0) return bienc_error(BIENC_EINVAL, "ckpt_step_path: bad argument");
    int n = snprintf(buf, size, "%s/step-%lld.h5", dir, (long long)step);
    if (n < 0 || (size_t)n >= size) return bienc_error(BIENC_ERANGE, "checkpoint path in %s is too long", dir);
    return 0;
}

/* "step-<digits>.h5" exactly (no sign, no leading zeros beyond "0", at most 18 digits). */
static int parse_step_name(const char *name, int64_t *step)
{
    if (strncmp(name, "step-", 5) != 0) return 0;
    const char *p = name + 5, *q = p;
    while (*q >= '0' && *q <= '9') q++;
    size_t digits = (size_t)(q - p);
    if (digits == 0 || digits > 18 || strcmp(q, ".h5") != 0 || (p[0] == '0' && digits > 1)) return 0;
    int64_t v = 0;
    for (; p < q; p++) v = v * 10 + (*p - '0');
    *step = v;
    return 1;
}

static int step_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int ckpt_list_steps(const char *dir, int64_t **steps, size_t *n)
{
    if (!dir || !steps || !n) return bienc_error(BIENC_EINVAL, "ckpt_list_steps: NULL argument");
    *steps = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return bienc_error(errno == ENOENT ? BIENC_ENOTFOUND : BIENC_EIO, "cannot list checkpoint directory %s: %s",
                           dir, strerror(errno));
    int64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t step;
        if (!parse_step_name(e->d_name, &step)) continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            int64_t *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = bienc_error(BIENC_ENOMEM, "out of memory listing %s", dir);
                break;
            }
            v = nv;
            cap = nc;
        }
        v[cnt++] = step;
    }
    closedir(d);
    if (rc < 0) {
        free(v);
        return rc;
    }
    if (cnt) qsort(v, cnt, sizeof *v, step_cmp);
    *steps = v;
    *n = cnt;
    return 0;
}

int ckpt_latest_step(const char *dir, int64_t *step)
{
    BIENC_ASSERT(step);
    int64_t *steps;
    size_t n;
    BIENC_TRY(ckpt_list_steps(dir, &steps, &n));
    if (n == 0) return bienc_error(BIENC_ENOTFOUND, "no step-N.h5 checkpoint in %s", dir);
    *step = steps[n - 1];
    free(steps);
    return 0;
}

/* The metric of one checkpoint; 0 when it has none or cannot be read (it then does not compete). */
static int read_metric(const char *path, const char *metric, double *value)
{
    bienc_ckpt *c;
    if (ckpt_open(&c, path) < 0) return 0;
    int ok = ckpt_read_double(c, metric, value) == 0;
    ckpt_close(c);
    return ok;
}

int ckpt_prune(const char *dir, int keep_last, const char *best_metric, int higher_is_better, int64_t *best_step,
               size_t *deleted)
{
    if (best_step) *best_step = -1;
    if (deleted) *deleted = 0;
    if (keep_last < 0) return bienc_error(BIENC_EINVAL, "ckpt_prune: keep_last %d < 0", keep_last);
    int64_t *steps;
    size_t n;
    BIENC_TRY(ckpt_list_steps(dir, &steps, &n));
    char path[4096];
    int rc = 0;
    int64_t best = -1;
    double best_value = 0.0;
    for (size_t i = 0; best_metric && i < n && rc == 0; i++) {
        double v;
        rc = ckpt_step_path(dir, steps[i], path, sizeof path);
        /* Strictly better only: on ties the earliest step stays the best. */
        if (rc == 0 && read_metric(path, best_metric, &v) && v == v &&
            (best < 0 || (higher_is_better ? v > best_value : v < best_value))) {
            best = steps[i];
            best_value = v;
        }
    }
    bienc_error_clear();
    size_t removed = 0;
    for (size_t i = 0; rc == 0 && i + (size_t)keep_last < n; i++) {
        if (steps[i] == best) continue;
        rc = ckpt_step_path(dir, steps[i], path, sizeof path);
        if (rc == 0 && unlink(path) < 0 && errno != ENOENT)
            rc = bienc_error(BIENC_EIO, "cannot delete old checkpoint %s: %s", path, strerror(errno));
        if (rc == 0) removed++;
    }
    free(steps);
    if (best_step) *best_step = best;
    if (deleted) *deleted = removed;
    return rc;
}
