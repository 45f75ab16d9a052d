/* bienc encode: a bi-encoder checkpoint + a text file -> an embeddings file.
 *
 * Streams: texts are encoded in chunks (CHUNK texts at a time, each chunk sorted by length
 * inside biencoder_encode_texts so no work goes to padding) and appended to the output,
 * so memory holds one chunk of embeddings, never the whole collection's. TSV files are
 * memory-mapped by the reader (line offsets only); plain-text lines are read as a stream. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/biencoder.h"
#include "core/cpu.h"
#include "data/data.h"
#include "io/embeddings.h"
#include "core/error.h"
#include "io/model_io.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/comm.h"
#include "core/os.h"

#define ENCODE_CHUNK 8192

static void encode_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc encode --model CKPT --input FILE --output EMB [options]\n\n"
            "Embeds every text of FILE with the bi-encoder CKPT (a model or training checkpoint).\n"
            "Input formats (--format, default: by extension, .jsonl = jsonl, .tsv = tsv, else lines):\n"
            "  tsv     `id<TAB>text` (MS MARCO collection.tsv / queries.tsv)\n"
            "  jsonl   BEIR corpus.jsonl / queries.jsonl (title + \" \" + text)\n"
            "  lines   one text per line; ids are the line numbers, from 0\n"
            "Output (--output-format): h5 (default): /embeddings float32 [N, dim], /ids strings [N],\n"
            "attribute normalized; npy: a float32 [N, dim] .npy file plus FILE.ids (one id per line).\n\n"
            "options:\n"
            "  --side query|passage   which max length to truncate to (default: passage, or query\n"
            "                         when the input file name contains \"quer\")\n"
            "  --batch-size N         texts per forward pass, default 64\n"
            "  --threads N            threads (default: all cores); results do not depend on it\n"
            "  --precision P          matrix products: fp32 (default); bf16 (bf16 inputs, fp32\n"
            "                         accumulation: faster on CPUs with AVX512_BF16); int8 (linear\n"
            "                         layers on dynamically quantised int8, attention in bf16: fastest\n"
            "                         on CPUs with AVX512_VNNI). See `bienc version` and README\n"
            "  --skip-malformed       skip (and count) malformed input rows instead of failing\n"
            "  --shard I/N            encode only block I (0-based) of N consecutive blocks of the input\n"
            "                         into OUTPUT with .shardI inserted before its extension (c.h5 ->\n"
            "                         c.shard0.h5). Under `mpirun -np N` each rank takes its own block\n"
            "                         by default (README \"Sharded encode, index and search\")\n"
            "  --quiet                no progress output\n");
}

/* Where embeddings go: the HDF5 writer, or a .npy file written row by row. */
typedef struct encode_sink {
    bienc_emb_writer *h5;
    atomic_file npy, npy_ids; /* PATH and PATH.ids */
    const char *path;
    int dim;
} encode_sink;

static int npy_write_header(FILE *f, int64_t n, int dim)
{
    char header[128];
    int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %d), }",
                       (long long)n, dim);
    /* Pad with spaces so that magic(6) + version(2) + len(2) + header + '\n' is a multiple of 64. */
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    uint16_t hlen = (uint16_t)(len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    unsigned char hl[2] = {(unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    fwrite(hl, 1, 2, f);
    fwrite(header, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    return ferror(f) ? -1 : 0;
}

static int sink_open(encode_sink *s, const char *path, int npy, int64_t n, int dim, int normalized)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->dim = dim;
    if (!npy) return emb_writer_open(&s->h5, path, dim, normalized);
    char ids_path[4096];
    snprintf(ids_path, sizeof ids_path, "%s.ids", path);
    BIENC_TRY(atomic_file_open(&s->npy, path));
    BIENC_TRY(atomic_file_open(&s->npy_ids, ids_path));
    if (npy_write_header(s->npy.f, n, dim) < 0) return bienc_error(BIENC_EIO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

static int sink_append(encode_sink *s, const float *x, const char *const *ids, int64_t n)
{
    if (s->h5) return emb_writer_append(s->h5, x, ids, n);
    if (fwrite(x, sizeof(float) * (size_t)s->dim, (size_t)n, s->npy.f) != (size_t)n)
        return bienc_error(BIENC_EIO, "%s: write failed: %s", s->path, strerror(errno));
    for (int64_t i = 0; i < n; i++) fprintf(s->npy_ids.f, "%s\n", ids[i]);
    return ferror(s->npy_ids.f) ? bienc_error(BIENC_EIO, "%s.ids: write failed: %s", s->path, strerror(errno)) : 0;
}

/* Commits the output when rc == 0, else discards it (an existing file stays as it was). */
static int sink_close(encode_sink *s, int rc)
{
    if (s->h5) {
        if (rc == 0) rc = emb_writer_close(s->h5);
        else emb_writer_abort(s->h5);
    }
    if (rc == 0 && s->npy.tmp) rc = atomic_file_commit(&s->npy);
    if (rc == 0 && s->npy_ids.tmp) rc = atomic_file_commit(&s->npy_ids);
    atomic_file_abort(&s->npy);
    atomic_file_abort(&s->npy_ids);
    memset(s, 0, sizeof *s);
    return rc;
}

/* One chunk of texts with their ids, owned copies (NUL-terminated). */
typedef struct text_chunk {
    char **ids, **texts;
    size_t *lens;
    int64_t n;
} text_chunk;

static void chunk_clear(text_chunk *c)
{
    for (int64_t i = 0; i < c->n; i++) {
        free(c->ids[i]);
        free(c->texts[i]);
    }
    c->n = 0;
}

static int chunk_push(text_chunk *c, const char *id, size_t id_len, const char *text, size_t len)
{
    char *i = strndup(id, id_len), *t = malloc(len + 1);
    if (!i || !t) {
        free(i);
        free(t);
        return bienc_error(BIENC_ENOMEM, "out of memory");
    }
    memcpy(t, text, len);
    t[len] = '\0';
    c->ids[c->n] = i;
    c->texts[c->n] = t;
    c->lens[c->n] = len;
    c->n++;
    return 0;
}

typedef struct encode_job {
    int64_t lo, hi;      /* the shard: input texts [lo, hi) (all: 0, INT64_MAX) */
    bienc_biencoder *bi;
    bienc_tape *tape;
    bienc_side side;
    int batch_size, quiet, progress_bar;
    float *out;
    encode_sink sink;
    int64_t done, total;
    double t0;
} encode_job;

static void show_progress(encode_job *j, int final)
{
    if (j->quiet) return;
    double dt = os_now() - j->t0;
    double rate = dt > 0 ? (double)j->done / dt : 0;
    if (j->progress_bar) {
        fprintf(stderr, "\rencode %lld", (long long)j->done);
        if (j->total > 0) fprintf(stderr, "/%lld (%.1f%%)", (long long)j->total, 100.0 * (double)j->done / (double)j->total);
        fprintf(stderr, "  %.1f texts/s  %.1f s%s", rate, dt, final ? "\n" : "   ");
    } else if (final) {
        fprintf(stderr, "encode: %lld texts in %.1f s (%.1f texts/s)\n", (long long)j->done, dt, rate);
    }
}

static int flush_chunk(encode_job *j, text_chunk *c)
{
    if (c->n == 0) return 0;
    BIENC_TRY(biencoder_encode_texts(j->bi, j->tape, (const char *const *)c->texts, c->lens, c->n, j->side,
                                     j->batch_size, j->out));
    BIENC_TRY(sink_append(&j->sink, j->out, (const char *const *)c->ids, c->n));
    j->done += c->n;
    chunk_clear(c);
    show_progress(j, 0);
    return 0;
}

static int encode_store(encode_job *j, text_chunk *c, const bienc_texts *t)
{
    int64_t n = texts_count(t) < j->hi ? texts_count(t) : j->hi;
    for (int64_t i = j->lo; i < n; i++) {
        const char *id, *text;
        size_t id_len, len;
        BIENC_TRY(texts_get(t, i, &id, &id_len, &text, &len));
        BIENC_TRY(chunk_push(c, id, id_len, text, len));
        if (c->n == ENCODE_CHUNK) BIENC_TRY(flush_chunk(j, c));
    }
    return flush_chunk(j, c);
}

static int encode_lines(encode_job *j, text_chunk *c, FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        char id[32];
        int id_len = snprintf(id, sizeof id, "%lld", (long long)lineno++);
        if (lineno - 1 < j->lo || lineno - 1 >= j->hi) continue; /* another shard's */
        rc = chunk_push(c, id, (size_t)id_len, line, (size_t)len);
        if (rc == 0 && c->n == ENCODE_CHUNK) rc = flush_chunk(j, c);
    }
    /* getline ends on an error too (EISDIR for a directory, EIO): that is not the end */
    if (rc == 0 && ferror(f)) rc = bienc_error(BIENC_EIO, "reading the input failed: %s", strerror(errno));
    free(line);
    if (rc == 0) rc = flush_chunk(j, c);
    return rc;
}

static int64_t count_lines(FILE *f)
{
    int64_t n = 0;
    int ch, last = '\n';
    while ((ch = getc(f)) != EOF) {
        if (ch == '\n') n++;
        last = ch;
    }
    if (last != '\n') n++;
    rewind(f);
    return n;
}

/* "I/N" -> *index, *count (0 <= I < N). */
static int parse_shard(const char *s, int64_t *index, int64_t *count)
{
    char *end;
    long long i = strtoll(s, &end, 10);
    if (end == s || *end != '/') return -1;
    const char *rest = end + 1;
    long long n = strtoll(rest, &end, 10);
    if (end == rest || *end || n < 1 || n > 1000000 || i < 0 || i >= n) return -1;
    *index = i;
    *count = n;
    return 0;
}

/* path with ".shardI" before its extension (after the last '/'), or at its end. */
static int shard_path(const char *path, int64_t index, char *out, size_t size)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash) || dot == (slash ? slash + 1 : path)) dot = path + strlen(path);
    int n = snprintf(out, size, "%.*s.shard%lld%s", (int)(dot - path), path, (long long)index, dot);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int cmd_encode(int argc, char **argv)
{
    const char *model = NULL, *input = NULL, *output = NULL, *format = NULL, *side_name = NULL, *out_format = "h5";
    const char *precision_name_arg = NULL, *shard_arg = NULL;
    int64_t batch_size = 64, threads = 0;
    int skip = 0, quiet = 0, help = 0;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if ((r = arg_string(argc, argv, &i, "--model", &model)) ||
            (r = arg_string(argc, argv, &i, "--input", &input)) ||
            (r = arg_string(argc, argv, &i, "--output", &output)) ||
            (r = arg_string(argc, argv, &i, "--format", &format)) ||
            (r = arg_string(argc, argv, &i, "--output-format", &out_format)) ||
            (r = arg_string(argc, argv, &i, "--side", &side_name)) ||
            (r = arg_string(argc, argv, &i, "--precision", &precision_name_arg)) ||
            (r = arg_string(argc, argv, &i, "--shard", &shard_arg)) ||
            (r = arg_int(argc, argv, &i, "--batch-size", 1, 100000, &batch_size)) ||
            (r = arg_int(argc, argv, &i, "--threads", 1, 1024, &threads)) ||
            (r = arg_flag(argv, i, "--skip-malformed", &skip)) || (r = arg_flag(argv, i, "--quiet", &quiet)) ||
            (r = arg_flag(argv, i, "--help", &help)) || (r = arg_flag(argv, i, "-h", &help))) {
            if (r < 0) return 2;
            continue;
        }
        return arg_unknown("encode", argv[i]);
    }
    if (help) {
        encode_usage(stdout);
        return 0;
    }
    if (!model || !input || !output) {
        fprintf(stderr, "bienc encode: --model, --input and --output are required\n\n");
        encode_usage(stderr);
        return 2;
    }
    if (!format) format = has_suffix(input, ".jsonl") ? "jsonl" : has_suffix(input, ".tsv") ? "tsv" : "lines";
    if (strcmp(format, "tsv") && strcmp(format, "jsonl") && strcmp(format, "lines")) {
        fprintf(stderr, "bienc encode: --format must be tsv, jsonl or lines, not '%s'\n", format);
        return 2;
    }
    if (strcmp(out_format, "h5") && strcmp(out_format, "npy")) {
        fprintf(stderr, "bienc encode: --output-format must be h5 or npy, not '%s'\n", out_format);
        return 2;
    }
    bienc_side side = strstr(input, "quer") ? BIENC_SIDE_QUERY : BIENC_SIDE_PASSAGE;
    if (side_name) {
        if (strcmp(side_name, "query") == 0) side = BIENC_SIDE_QUERY;
        else if (strcmp(side_name, "passage") == 0) side = BIENC_SIDE_PASSAGE;
        else {
            fprintf(stderr, "bienc encode: --side must be query or passage, not '%s'\n", side_name);
            return 2;
        }
    }
    bienc_precision precision = BIENC_PRECISION_FP32;
    if (precision_name_arg && precision_parse(precision_name_arg, &precision) < 0) {
        fprintf(stderr, "bienc encode: --precision must be fp32, bf16 or int8, not '%s'\n", precision_name_arg);
        return 2;
    }
    int64_t shard = comm_rank(), n_shards = comm_size(); /* under mpirun: one shard per rank */
    if (shard_arg && parse_shard(shard_arg, &shard, &n_shards) < 0) {
        fprintf(stderr, "bienc encode: --shard must be I/N with 0 <= I < N, not '%s'\n", shard_arg);
        return 2;
    }
    char shard_output[4096];
    if (n_shards > 1) {
        if (shard_path(output, shard, shard_output, sizeof shard_output) < 0) {
            fprintf(stderr, "bienc encode: --output path too long\n");
            return 2;
        }
        output = shard_output;
    }
    if (threads > 0) cpu_set_threads((int)threads);
    char ids_output[4096];
    snprintf(ids_output, sizeof ids_output, "%s.ids", output);
    const char *inputs[] = {model, input};
    if (atomic_file_check_inputs(output, inputs, 2) < 0 ||
        (strcmp(out_format, "npy") == 0 && atomic_file_check_inputs(ids_output, inputs, 2) < 0))
        return cli_fail("encode");

    encode_job j;
    memset(&j, 0, sizeof j);
    j.hi = INT64_MAX;
    j.side = side;
    j.batch_size = (int)batch_size;
    j.quiet = quiet;
    j.progress_bar = isatty(fileno(stderr));
    text_chunk c = {0};
    bienc_texts *texts = NULL;
    FILE *lines = NULL;
    int rc = model_io_load(model, &j.bi);
    if (rc == 0) rc = tape_new(&j.tape);
    if (rc == 0) tape_set_precision(j.tape, precision);
    if (rc == 0) {
        bienc_read_opts opts = {skip, 0};
        bienc_read_report report;
        memset(&report, 0, sizeof report);
        if (strcmp(format, "tsv") == 0) {
            rc = texts_load_tsv(&texts, input, &opts, &report);
            j.total = rc == 0 ? texts_count(texts) : 0;
        } else if (strcmp(format, "jsonl") == 0) {
            rc = texts_load_jsonl(&texts, input, &opts, &report);
            j.total = rc == 0 ? texts_count(texts) : 0;
        } else {
            struct stat st;
            lines = fopen(input, "r");
            if (!lines) rc = bienc_error(BIENC_EIO, "%s: cannot open: %s", input, strerror(errno));
            else if (fstat(fileno(lines), &st) == 0 && S_ISDIR(st.st_mode))
                rc = bienc_error(BIENC_EINVAL, "%s: is a directory, not a text file", input);
            else j.total = count_lines(lines);
        }
        if (rc == 0 && report.n_skipped > 0 && !quiet)
            fprintf(stderr, "bienc encode: skipped %lld malformed rows (first: %s)\n", (long long)report.n_skipped,
                    report.first_skip);
    }
    if (rc == 0 && n_shards > 1) { /* block `shard` of n_shards consecutive blocks */
        j.lo = (int64_t)((__int128)j.total * shard / n_shards);
        j.hi = (int64_t)((__int128)j.total * (shard + 1) / n_shards);
        j.total = j.hi - j.lo;
    }
    int dim = j.bi ? biencoder_dim(j.bi) : 0;
    if (rc == 0) {
        c.ids = calloc(ENCODE_CHUNK, sizeof *c.ids);
        c.texts = calloc(ENCODE_CHUNK, sizeof *c.texts);
        c.lens = calloc(ENCODE_CHUNK, sizeof *c.lens);
        j.out = malloc(sizeof(float) * (size_t)ENCODE_CHUNK * (size_t)dim);
        if (!c.ids || !c.texts || !c.lens || !j.out) rc = bienc_error(BIENC_ENOMEM, "out of memory");
    }
    if (rc == 0) rc = sink_open(&j.sink, output, strcmp(out_format, "npy") == 0, j.total, dim, j.bi->normalize);
    if (rc == 0) {
        j.t0 = os_now();
        rc = texts ? encode_store(&j, &c, texts) : encode_lines(&j, &c, lines);
        if (rc == 0 && j.done != j.total)
            rc = bienc_error(BIENC_EIO, "%s: changed while it was read (%lld texts, expected %lld)", input,
                             (long long)j.done, (long long)j.total);
    }
    rc = sink_close(&j.sink, rc); /* never leaves a partial embeddings file behind a failure */
    if (rc == 0) show_progress(&j, 1);
    chunk_clear(&c);
    free(c.ids);
    free(c.texts);
    free(c.lens);
    free(j.out);
    if (lines) fclose(lines);
    texts_free(texts);
    tape_free(j.tape);
    biencoder_free(j.bi);
    if (rc < 0) return cli_fail("encode");
    if (!quiet) printf("wrote %lld embeddings of dimension %d to %s\n", (long long)j.done, dim, output);
    return 0;
}
