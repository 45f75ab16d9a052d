/* The report of `bienc run`: report.md (tables + config), report.json (every number) and
 * report.svg (training losses and recall@k bars, written directly: no plotting dependency). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cpu.h"
#include "core/tape.h"
#include "core/error.h"
#include "text/json.h"
#include "train/pipeline.h"
#include "core/version.h"
#include "core/atomic_file.h"

/* Metrics shown in the tables (all of them go to report.json). */
static const int table_metrics[] = {BIENC_METRIC_MRR10,    BIENC_METRIC_NDCG10,   BIENC_METRIC_MAP100,
                                    BIENC_METRIC_RECALL1,  BIENC_METRIC_RECALL10, BIENC_METRIC_RECALL100,
                                    BIENC_METRIC_ACCURACY1, BIENC_METRIC_ACCURACY10};
#define N_TABLE ((int)(sizeof table_metrics / sizeof *table_metrics))

static void cpu_model(char *buf, size_t size)
{
    snprintf(buf, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *c = strchr(line, ':');
        if (!c) continue;
        c++;
        while (*c == ' ') c++;
        c[strcspn(c, "\n")] = 0;
        snprintf(buf, size, "%s", c);
        break;
    }
    fclose(f);
}

void pipeline_print_table(FILE *f, const bienc_pipeline_result *r)
{
    fprintf(f, "| run | ");
    for (int j = 0; j < N_TABLE; j++) fprintf(f, "%s | ", metrics_name(table_metrics[j]));
    if (r->has_agreement) fprintf(f, "teacher agree@10 | ");
    fprintf(f, "\n|---|");
    for (int j = 0; j < N_TABLE + (r->has_agreement ? 1 : 0); j++) fprintf(f, "---:|");
    fprintf(f, "\n");
    for (int i = 0; i < PIPE_RUN_COUNT; i++) {
        if (!r->has_run[i]) continue;
        fprintf(f, "| %s | ", pipeline_run_label(i));
        for (int j = 0; j < N_TABLE; j++) fprintf(f, "%.4f | ", r->metrics[i][table_metrics[j]]);
        if (r->has_agreement) fprintf(f, "%.4f | ", r->agree_teacher[i].recall[1]);
        fprintf(f, "\n");
    }
    if (r->bm25_note[0]) fprintf(f, "\nBM25: %s\n", r->bm25_note);
    if (r->has_agreement) {
        fprintf(f, "\nTeacher agreement (recall@k of the teacher's top-k; the teacher re-scores the %s top-N):\n\n",
                r->teacher_on_hybrid ? "hybrid" : "exact");
        fprintf(f, "| run vs reference | @1 | @10 | @100 |\n|---|---:|---:|---:|\n");
        for (int i = 0; i < PIPE_RUN_COUNT; i++) {
            if (!r->has_run[i] || i == PIPE_RUN_TEACHER) continue;
            const bienc_agreement *a = &r->agree_teacher[i];
            fprintf(f, "| %s vs teacher | %.4f | %.4f | %.4f |\n", pipeline_run_label(i), a->recall[0], a->recall[1],
                    a->recall[2]);
        }
        const bienc_agreement *a = &r->ann_vs_exact;
        fprintf(f, "| HNSW vs exact (ANN recall) | %.4f | %.4f | %.4f |\n", a->recall[0], a->recall[1], a->recall[2]);
    } else if (r->has_run[PIPE_RUN_HNSW]) {
        const bienc_agreement *a = &r->ann_vs_exact;
        fprintf(f, "\nANN recall (HNSW vs exact) @1 %.4f @10 %.4f @100 %.4f\n", a->recall[0], a->recall[1], a->recall[2]);
    }
}

static void write_md(FILE *f, const bienc_run_config *cfg, const bienc_pipeline_result *r, const char *cpu)
{
    fprintf(f, "# bienc run: %s\n\n", r->run_dir);
    fprintf(f, "%lld dev queries against the whole collection of %lld passages (embedding dim %lld).\n\n",
            (long long)r->n_queries, (long long)r->n_passages, (long long)r->dim);
    pipeline_print_table(f, r);
    fprintf(f, "\nMetrics follow trec_eval (see src/eval/metrics.h); runs are in this directory "
               "(run.*.trec). Agreement @100 of the run the teacher re-scored (hybrid, else exact) is 1 by "
               "construction when its depth is 100.\n\n");
    fprintf(f, "![losses and recall](report.svg)\n\n## Training\n\n");
    fprintf(f, "| model | steps | final loss | pairs/s |\n|---|---:|---:|---:|\n");
    fprintf(f, "| bi-encoder (%s) | %lld | %.4f | %.1f |\n", config_loss_name(cfg->loss.name), (long long)r->bi_steps,
            r->n_bi_losses ? r->bi_losses[r->n_bi_losses - 1] : NAN, r->bi_pairs_per_s);
    if (r->refine_steps)
        fprintf(f, "| bi-encoder, second round on re-mined negatives (%s) | %lld | %.4f | %.1f |\n",
                config_loss_name(cfg->mine.refine_loss), (long long)r->refine_steps, r->refine_final_loss, r->refine_pairs_per_s);
    if (r->n_teacher_losses)
        fprintf(f, "| teacher %s (%s) | %lld | %.4f | %.1f |\n",
                cfg->teacher.model.kind == BIENC_MODEL_LATE_INTERACTION ? "late-interaction model" : "cross-encoder",
                config_loss_name(cfg->teacher.loss.name),
                (long long)r->teacher_steps, r->teacher_losses[r->n_teacher_losses - 1], r->teacher_pairs_per_s);
    if (r->n_bi_evals) {
        fprintf(f, "\nThe bi-encoder's dev metrics during training (the trainer's evaluation: the dev queries "
                   "against their positives and the first eval.max_passages passages, exact search; the table "
                   "above searches the whole collection):\n\n| step | MRR@10 | Recall@10 |\n|---:|---:|---:|\n");
        for (int64_t i = 0; i < r->n_bi_evals; i++)
            fprintf(f, "| %lld | %.4f | %.4f |\n", (long long)r->bi_eval_steps[i], r->bi_eval_mrr[i], r->bi_eval_recall[i]);
    }
    fprintf(f, "\nModel: %s; teacher: %s; inference (encode, rerank) in %s (eval.precision)\n\n## Timings\n\n"
               "| stage | seconds |\n|---|---:|\n", r->model_path, r->teacher_path[0] ? r->teacher_path : "(none)",
            precision_name(r->precision));
    for (int i = 0; i < r->n_stages; i++) fprintf(f, "| %s | %.1f |\n", r->stage_name[i], r->stage_seconds[i]);
    fprintf(f, "| **total** | %.1f |\n\n", r->total_seconds);
    fprintf(f, "## Machine\n\n- CPU: %s\n- cores online: %ld, threads used: %d\n- BLAS kernel: %s\n- bienc %s\n\n", cpu,
            sysconf(_SC_NPROCESSORS_ONLN), cpu_get_threads(), cpu_blas_corename(), BIENC_VERSION_STRING);
    fprintf(f, "## Config\n\n```yaml\n");
    config_dump_yaml(cfg, f);
    fprintf(f, "```\n");
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.17g", v);
    else fputs("null", f);
}

static void json_agreement(FILE *f, const char *name, const bienc_agreement *a, int last)
{
    fprintf(f, "    \"%s\": {", name);
    for (int k = 0; k < BIENC_AGREEMENT_NK; k++) {
        fprintf(f, "\"recall@%d\": ", bienc_agreement_ks[k]);
        json_num(f, a->recall[k]);
        fprintf(f, ", ");
    }
    fprintf(f, "\"num_queries\": %zu}%s\n", a->num_queries, last ? "" : ",");
}

static void json_losses(FILE *f, const char *name, const float *v, int64_t n)
{
    fprintf(f, "  \"%s\": [", name);
    for (int64_t i = 0; i < n; i++) {
        if (i) fputc(',', f);
        json_num(f, v[i]);
    }
    fprintf(f, "],\n");
}

static int write_json(FILE *f, const bienc_run_config *cfg, const bienc_pipeline_result *r, const char *cpu)
{
    static const char *keys[PIPE_RUN_COUNT] = {"untrained", "bi_encoder_hnsw", "bi_encoder_exact", "teacher_rerank", "bm25", "hybrid"};
    fprintf(f, "{\n  \"run_dir\": ");
    json_write_string(f, r->run_dir);
    fprintf(f, ",\n  \"num_queries\": %lld,\n  \"num_passages\": %lld,\n  \"dim\": %lld,\n  \"inference_precision\": \"%s\","
               "\n  \"metrics\": {\n",
            (long long)r->n_queries, (long long)r->n_passages, (long long)r->dim, precision_name(r->precision));
    int first = 1;
    for (int i = 0; i < PIPE_RUN_COUNT; i++) {
        if (!r->has_run[i]) continue;
        fprintf(f, "%s    \"%s\": {", first ? "" : ",\n", keys[i]);
        first = 0;
        for (int m = 0; m < BIENC_METRIC_COUNT; m++) {
            fprintf(f, "%s\"%s\": ", m ? ", " : "", metrics_name(m));
            json_num(f, r->metrics[i][m]);
        }
        fputc('}', f);
    }
    fprintf(f, "\n  },\n  \"bm25_note\": ");
    json_write_string(f, r->bm25_note);
    fprintf(f, ",\n  \"agreement\": {\n");
    json_agreement(f, "ann_vs_exact", &r->ann_vs_exact, !r->has_agreement);
    if (r->has_agreement) {
        json_agreement(f, "hnsw_vs_teacher", &r->agree_hnsw, 0);
        /* then every other run, "<key>_vs_teacher"; the last one written closes the object */
        int last = PIPE_RUN_EXACT;
        for (int i = 0; i < PIPE_RUN_COUNT; i++)
            if (r->has_run[i] && i != PIPE_RUN_TEACHER && i != PIPE_RUN_HNSW && i != PIPE_RUN_EXACT) last = i;
        json_agreement(f, "exact_vs_teacher", &r->agree_exact, last == PIPE_RUN_EXACT);
        for (int i = 0; i < PIPE_RUN_COUNT; i++) {
            if (!r->has_run[i] || i == PIPE_RUN_TEACHER || i == PIPE_RUN_HNSW || i == PIPE_RUN_EXACT) continue;
            char name[64];
            snprintf(name, sizeof name, "%s_vs_teacher", keys[i]);
            json_agreement(f, name, &r->agree_teacher[i], i == last);
        }
    }
    fprintf(f, "  },\n  \"timings_s\": {");
    for (int i = 0; i < r->n_stages; i++) {
        fprintf(f, "%s\"%s\": ", i ? ", " : "", r->stage_name[i]);
        json_num(f, r->stage_seconds[i]);
    }
    fprintf(f, ", \"total\": ");
    json_num(f, r->total_seconds);
    fprintf(f, "},\n  \"training\": {\"bi_encoder_steps\": %lld, \"bi_encoder_pairs_per_s\": ", (long long)r->bi_steps);
    json_num(f, r->bi_pairs_per_s);
    fprintf(f, ", \"refine_steps\": %lld", (long long)r->refine_steps);
    const char *refine_keys[] = {"refine_pairs_per_s", "refine_dev_mrr@10_before", "refine_dev_mrr@10_after"};
    const double vals[] = {r->refine_pairs_per_s, r->refine_from_mrr, r->refine_mrr};
    for (int i = 0; i < 3; i++) {
        fprintf(f, ", \"%s\": ", refine_keys[i]);
        json_num(f, vals[i]);
    }
    fprintf(f, ", \"first_round_model\": ");
    json_write_string(f, r->first_model_path);
    fprintf(f, ", \"teacher_loss\": \"%s\", \"teacher_steps\": %lld, \"teacher_pairs_per_s\": ",
            config_loss_name(cfg->teacher.loss.name), (long long)r->teacher_steps);
    json_num(f, r->teacher_pairs_per_s);
    fprintf(f, ", \"model\": ");
    json_write_string(f, r->model_path);
    fprintf(f, ", \"teacher\": ");
    json_write_string(f, r->teacher_path);
    fprintf(f, "},\n");
    json_losses(f, "bi_encoder_losses", r->bi_losses, r->n_bi_losses);
    fprintf(f, "  \"bi_encoder_dev_curve\": [");
    for (int64_t i = 0; i < r->n_bi_evals; i++) {
        fprintf(f, "%s{\"step\": %lld, \"mrr@10\": ", i ? ", " : "", (long long)r->bi_eval_steps[i]);
        json_num(f, r->bi_eval_mrr[i]);
        fprintf(f, ", \"recall@10\": ");
        json_num(f, r->bi_eval_recall[i]);
        fputc('}', f);
    }
    fprintf(f, "],\n");
    json_losses(f, "teacher_losses", r->teacher_losses, r->n_teacher_losses);
    fprintf(f, "  \"machine\": {\"cpu\": ");
    json_write_string(f, cpu);
    fprintf(f, ", \"cores\": %ld, \"threads\": %d, \"blas_kernel\": ", sysconf(_SC_NPROCESSORS_ONLN), cpu_get_threads());
    json_write_string(f, cpu_blas_corename());
    fprintf(f, ", \"bienc_version\": ");
    json_write_string(f, BIENC_VERSION_STRING);
    fprintf(f, "},\n  \"config_yaml\": ");
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m) {
        config_dump_yaml(cfg, m);
        fclose(m);
    }
    json_write_string(f, text ? text : "");
    free(text);
    fprintf(f, "\n}\n");
    return 0;
}

/* ---- SVG ---- */

static void svg_loss_panel(FILE *f, double x0, double y0, double w, double h, const char *title, const float *v,
                           int64_t n, const char *color)
{
    fprintf(f, "<g><rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#888'/>\n", x0, y0, w, h);
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='14' text-anchor='middle'>%s</text>\n", x0 + w / 2, y0 - 8, title);
    if (n < 1) {
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='12' text-anchor='middle'>no steps</text></g>\n", x0 + w / 2, y0 + h / 2);
        return;
    }
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            lo = fmin(lo, v[i]);
            hi = fmax(hi, v[i]);
        }
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-9) hi = lo + 1;
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.2' points='", color);
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) continue;
        double x = x0 + (n > 1 ? (double)i / (double)(n - 1) : 0.5) * w, y = y0 + h - (v[i] - lo) / (hi - lo) * h;
        fprintf(f, "%.1f,%.1f ", x, y);
    }
    fprintf(f, "'/>\n");
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='end'>%.3g</text>\n", x0 - 4, y0 + 10, hi);
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='end'>%.3g</text>\n", x0 - 4, y0 + h, lo);
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>step (1 .. %lld)</text></g>\n", x0 + w / 2,
            y0 + h + 16, (long long)n);
}

static void write_svg(FILE *f, const bienc_pipeline_result *r)
{
    static const int ks[] = {BIENC_METRIC_RECALL1, BIENC_METRIC_RECALL5, BIENC_METRIC_RECALL10, BIENC_METRIC_RECALL100};
    static const char *colors[PIPE_RUN_COUNT] = {"#999999", "#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd"};
    double W = 1260, H = 380;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' font-family='sans-serif'>\n", W, H);
    fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n");
    svg_loss_panel(f, 60, 40, 300, 280, "bi-encoder training loss", r->bi_losses, r->n_bi_losses, "#1f77b4");
    svg_loss_panel(f, 430, 40, 300, 280, "teacher training loss", r->teacher_losses, r->n_teacher_losses, "#d62728");
    /* recall@k bars: one group per k, one bar per run */
    double x0 = 800, y0 = 40, w = 380, h = 280;
    fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#888'/>\n", x0, y0, w, h);
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='14' text-anchor='middle'>dev recall@k</text>\n", x0 + w / 2, y0 - 8);
    int nruns = 0;
    for (int i = 0; i < PIPE_RUN_COUNT; i++) nruns += r->has_run[i];
    double gw = w / 4, bw = nruns ? (gw - 16) / nruns : 0;
    for (int g = 0; g < 4; g++) {
        int b = 0;
        for (int i = 0; i < PIPE_RUN_COUNT; i++) {
            if (!r->has_run[i]) continue;
            double v = r->metrics[i][ks[g]], bh = (isfinite(v) ? v : 0) * h;
            fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s'><title>%s %s %.4f</title></rect>\n",
                    x0 + g * gw + 8 + b * bw, y0 + h - bh, bw - 1, bh, colors[i], pipeline_run_label(i),
                    metrics_name(ks[g]), v);
            b++;
        }
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>%s</text>\n", x0 + g * gw + gw / 2,
                y0 + h + 16, metrics_name(ks[g]));
    }
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='end'>1</text>\n", x0 - 4, y0 + 10);
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='end'>0</text>\n", x0 - 4, y0 + h);
    int li = 0;
    for (int i = 0; i < PIPE_RUN_COUNT; i++) {
        if (!r->has_run[i]) continue;
        double lx = 60 + li * 230;
        fprintf(f, "<rect x='%.1f' y='%.1f' width='12' height='12' fill='%s'/>", lx, H - 22, colors[i]);
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='12'>%s</text>\n", lx + 16, H - 12, pipeline_run_label(i));
        li++;
    }
    fprintf(f, "</svg>\n");
}

static int write_file(const char *dir, const char *name, int kind, const bienc_run_config *cfg,
                      const bienc_pipeline_result *r, const char *cpu)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    atomic_file out;
    BIENC_TRY(atomic_file_open(&out, path));
    FILE *f = out.f;
    if (kind == 0) write_md(f, cfg, r, cpu);
    else if (kind == 1) write_json(f, cfg, r, cpu);
    else write_svg(f, r);
    return atomic_file_commit(&out);
}

int pipeline_write_report(const bienc_run_config *cfg, const bienc_pipeline_result *r)
{
    BIENC_ASSERT(cfg && r);
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    BIENC_TRY(write_file(r->run_dir, "report.md", 0, cfg, r, cpu));
    BIENC_TRY(write_file(r->run_dir, "report.json", 1, cfg, r, cpu));
    return write_file(r->run_dir, "report.svg", 2, cfg, r, cpu);
}
