/* What a run shows and records: a progress bar on a terminal (redrawn in place, at most
 * ~10 times a second), plain lines otherwise, and JSON lines in RUN_DIR/metrics.jsonl. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/atomic_file.h"
#include "eval/metrics.h"
#include "train/trainer_log.h"
#include "core/os.h"

/* Keeps the rows of an existing metrics log up to `step` (a resumed run continues it;
 * rows written after the checkpoint by the interrupted run would be duplicates). */
static int truncate_after(const char *path, int64_t step)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char *keep = NULL, *line = NULL;
    size_t kn = 0, cap = 0;
    ssize_t len;
    FILE *mem = open_memstream(&keep, &kn);
    if (!mem) {
        fclose(f);
        return bienc_error(BIENC_ENOMEM, "out of memory");
    }
    while ((len = getline(&line, &cap, f)) >= 0) {
        const char *s = strstr(line, "\"step\":");
        long long st = s ? strtoll(s + 7, NULL, 10) : 0;
        if (st <= step) fwrite(line, 1, (size_t)len, mem);
    }
    free(line);
    fclose(f);
    fclose(mem);
    atomic_file out;
    int rc = atomic_file_open(&out, path);
    if (rc == 0) {
        fwrite(keep, 1, kn, out.f);
        rc = atomic_file_commit(&out);
    }
    free(keep);
    return rc;
}

int trainer_log_open(trainer_log *l, const char *run_dir, int64_t resume_step, const bienc_train_opts *o)
{
    memset(l, 0, sizeof *l);
    l->out = o->quiet ? NULL : (o->log ? o->log : stderr);
    l->bar = l->out && (o->progress == 1 || (o->progress < 0 && isatty(fileno(l->out))));
    if (!run_dir) return 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    if (resume_step >= 0) BIENC_TRY(truncate_after(path, resume_step));
    l->jsonl = fopen(path, resume_step >= 0 ? "a" : "w");
    if (!l->jsonl) return bienc_error(BIENC_EIO, "%s: cannot open: %s", path, strerror(errno));
    return 0;
}

static void bar_clear(trainer_log *l)
{
    if (l->out && l->bar && l->bar_drawn) {
        fputs("\r\033[K", l->out);
        l->bar_drawn = 0;
    }
}

void trainer_log_close(trainer_log *l)
{
    if (!l) return;
    bar_clear(l);
    if (l->jsonl) fclose(l->jsonl);
    l->jsonl = NULL;
}

void trainer_log_msg(trainer_log *l, const char *fmt, ...)
{
    if (!l->out) return;
    bar_clear(l);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(l->out, fmt, ap);
    va_end(ap);
    fflush(l->out);
}

static void fmt_eta(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

void trainer_log_progress(trainer_log *l, const trainer_step_info *s, int line_due)
{
    if (!l->out) return;
    char eta[32];
    fmt_eta(eta, sizeof eta, s->eta_s);
    if (!l->bar) {
        if (line_due)
            fprintf(l->out, "%sstep %lld/%lld epoch %lld loss %.4f lr %.3g grad_norm %.3g %.1f pairs/s ETA %s\n",
                    l->prefix ? l->prefix : "", (long long)s->step, (long long)s->total, (long long)s->epoch, s->loss,
                    s->lr, s->grad_norm,
                    s->pairs_per_s, eta);
        fflush(l->out);
        return;
    }
    double now = os_now();
    if (now - l->last_bar < 0.1 && s->step < s->total) return;
    l->last_bar = now;
    int width = 24, fill = s->total > 0 ? (int)((double)width * s->step / s->total) : 0;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(l->out, "\r\033[K%sstep %lld/%lld [%s] %3.0f%% loss %.4f lr %.2e %.1f pairs/s ETA %s", l->prefix ? l->prefix : "",
            (long long)s->step, (long long)s->total, bar, s->total > 0 ? 100.0 * s->step / s->total : 0.0, s->loss, s->lr, s->pairs_per_s, eta);
    fflush(l->out);
    l->bar_drawn = 1;
}

/* Numbers print with %.9g: a float loss reads back to the same value. Non-finite values
 * are written as null (JSON has no NaN). */
static void json_num(FILE *f, const char *key, double v, int last)
{
    if (isfinite(v)) fprintf(f, "\"%s\":%.9g%s", key, v, last ? "" : ",");
    else fprintf(f, "\"%s\":null%s", key, last ? "" : ",");
}

int trainer_log_train_row(trainer_log *l, const trainer_step_info *s)
{
    FILE *f = l->jsonl;
    if (!f) return 0;
    fprintf(f, "{\"step\":%lld,\"epoch\":%lld,", (long long)s->step, (long long)s->epoch);
    json_num(f, "loss", s->loss, 0);
    json_num(f, "lr", s->lr, 0);
    json_num(f, "grad_norm", s->grad_norm, 0);
    json_num(f, "pairs_per_s", s->pairs_per_s, 1);
    fputs("}\n", f);
    if (fflush(f) != 0) return bienc_error(BIENC_EIO, "metrics.jsonl: write failed: %s", strerror(errno));
    return 0;
}

int trainer_log_eval_row(trainer_log *l, int64_t step, const trainer_eval_scores *s)
{
    FILE *f = l->jsonl;
    if (!f) return 0;
    static const int shown[] = {BIENC_METRIC_MRR10, BIENC_METRIC_RECALL10, BIENC_METRIC_NDCG10, BIENC_METRIC_MAP100,
                                BIENC_METRIC_RECALL100};
    fprintf(f, "{\"step\":%lld,\"eval\":{", (long long)step);
    for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) json_num(f, metrics_name(shown[i]), s->v[shown[i]], 0);
    fprintf(f, "\"queries\":%lld,\"passages\":%lld,", (long long)s->nq, (long long)s->np);
    json_num(f, "seconds", s->seconds, 1);
    fputs("}}\n", f);
    if (fflush(f) != 0) return bienc_error(BIENC_EIO, "metrics.jsonl: write failed: %s", strerror(errno));
    return 0;
}
