/* Driver of eval/quality_parity.py (not a test): replays what `bienc train CONFIG --set ...`
 * feeds its model, so that PyTorch can train the same model on the same data.
 *
 * usage: torch_quality_parity_driver OUT_DIR CONFIG [--set key=value ...] [--eval-max-passages N]
 * Writes into OUT_DIR:
 *   init.h5        the step-0 bi-encoder (model_io layout: /params/<HF name>), built exactly
 *                  as the trainer builds it (tokenizer.vocab, model config, train.seed)
 *   batches.bin    the token ids of every training batch, in step order: per step the
 *                  queries then the passages (MNRL order: positives, then negatives), each
 *                  as int32 n, int32 T, int32 offsets[n + 1], int32 ids[T] (little-endian)
 *   eval_q.bin, eval_p.bin   the trainer's dev evaluation set (trainer_eval_init: the
 *                  selected dev queries; the relevant passages + the first N collection
 *                  rows), tokenised with the query / passage max lengths, same layout
 *   eval_qids.txt, eval_pids.txt   their ids, one a line, in the same order
 * The sampler, batch builder and data loading are the trainer's own functions, called with
 * the same arguments as src/train/trainer.c does. Needs optim.grad_accumulation 1 and a
 * tokenizer.vocab file (a vocabulary trained inside the run would be invisible here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/model_io.h"
#include "train/trainer_internal.h"
#include "train/config_map.h"

static int write_side(FILE *f, const bienc_token_batch *b)
{
    int32_t n = b->n, T = (int32_t)b->T;
    if (fwrite(&n, 4, 1, f) != 1 || fwrite(&T, 4, 1, f) != 1) return -1;
    for (int i = 0; i <= n; i++) {
        int32_t o = b->offsets[i];
        if (fwrite(&o, 4, 1, f) != 1) return -1;
    }
    return fwrite(b->ids, 4, (size_t)T, f) == (size_t)T ? 0 : -1;
}

/* Tokenises n texts into one packed side (same layout as write_side). */
static int write_texts(const char *path, const bienc_tokenizer *tok, const char **text, const size_t *len, int64_t n,
                       int max_len)
{
    FILE *f = fopen(path, "wb");
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(n * max_len + 1));
    int32_t *off = malloc(sizeof(int32_t) * (size_t)(n + 1));
    int rc = f && ids && off ? 0 : bienc_error(BIENC_EIO, "%s: cannot write", path);
    int32_t T = 0;
    off[0] = 0;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        int k;
        rc = tokenizer_encode(tok, text[i], len[i], 1, max_len, ids + T, max_len, &k);
        T += k;
        off[i + 1] = T;
    }
    int32_t n32 = (int32_t)n;
    if (rc == 0 && (fwrite(&n32, 4, 1, f) != 1 || fwrite(&T, 4, 1, f) != 1 ||
                    fwrite(off, 4, (size_t)n + 1, f) != (size_t)n + 1 || fwrite(ids, 4, (size_t)T, f) != (size_t)T))
        rc = bienc_error(BIENC_EIO, "%s: cannot write", path);
    if (f && fclose(f) != 0 && rc == 0) rc = bienc_error(BIENC_EIO, "%s: cannot write", path);
    free(ids);
    free(off);
    return rc;
}

static int write_ids(const char *path, char **ids, int64_t n)
{
    FILE *f = fopen(path, "w");
    if (!f) return bienc_error(BIENC_EIO, "%s: cannot write", path);
    for (int64_t i = 0; i < n; i++) fprintf(f, "%s\n", ids[i]);
    return fclose(f) == 0 ? 0 : bienc_error(BIENC_EIO, "%s: cannot write", path);
}

static int run(const char *out, const bienc_run_config *cfg, int64_t eval_max_passages)
{
    if (!cfg->tokenizer.vocab) return bienc_error(BIENC_EINVAL, "set tokenizer.vocab (a vocab.txt file)");
    if (cfg->optim.grad_accumulation != 1) return bienc_error(BIENC_EINVAL, "needs optim.grad_accumulation 1");
    if (cfg->train.steps <= 0) return bienc_error(BIENC_EINVAL, "set train.steps");
    char path[1200];
    trainer_data d;
    trainer_eval ev;
    memset(&ev, 0, sizeof ev);
    bienc_tokenizer *tok = NULL;
    bienc_biencoder *bi = NULL;
    bienc_sampler *smp = NULL;
    bienc_batch b = {0};
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)cfg->train.batch_size);
    FILE *f = NULL;
    int rc = idx ? trainer_data_load(&d, cfg, stderr) : BIENC_ENOMEM;
    if (rc == 0) rc = tokenizer_load(&tok, cfg->tokenizer.vocab, cfg->tokenizer.lower_case);
    bienc_encoder_config ec;
    if (rc == 0) rc = config_encoder_config(&cfg->model, tokenizer_vocab_size(tok), &ec);
    bienc_biencoder_opts bo = {.pool = (bienc_pool_mode)cfg->model.pooling,
                               .normalize = cfg->model.normalize,
                               .max_query_len = (int)cfg->tokenizer.max_query_length,
                               .max_passage_len = (int)cfg->tokenizer.max_passage_length};
    if (rc == 0) {
        rc = biencoder_new(&bi, &ec, (uint64_t)cfg->train.seed, tok, &bo);
        tok = NULL; /* owned by bi now, also on failure */
    }
    snprintf(path, sizeof path, "%s/init.h5", out);
    if (rc == 0) rc = model_io_save(path, bi);
    /* the negatives the batches carry, as trainer.c's check_loss */
    int avail = rc == 0 ? tuples_n_neg(d.tuples) : 0;
    bienc_batch_opts bopt = {.max_query_len = bo.max_query_len, .max_passage_len = bo.max_passage_len};
    if (cfg->loss.name == BIENC_LOSS_TRIPLET) bopt.n_neg = 1;
    else bopt.n_neg = (int)(cfg->loss.hard_negatives < avail ? cfg->loss.hard_negatives : avail);
    if (rc == 0)
        rc = sampler_new(&smp, d.tuples, (int)cfg->train.batch_size, cfg->train.no_duplicates, bopt.n_neg > 0, 0,
                         (uint64_t)cfg->train.seed);
    snprintf(path, sizeof path, "%s/batches.bin", out);
    if (rc == 0 && !(f = fopen(path, "wb"))) rc = bienc_error(BIENC_EIO, "%s: cannot write", path);
    for (int64_t s = 0; rc == 0 && s < cfg->train.steps; s++) {
        int n;
        rc = sampler_next(smp, idx, &n, NULL);
        if (rc == 0) rc = batch_build(&b, d.tuples, idx, n, bi->tok, &bopt);
        if (rc == 0 && (write_side(f, &b.queries) || write_side(f, &b.passages)))
            rc = bienc_error(BIENC_EIO, "%s: cannot write", path);
    }
    if (f && fclose(f) != 0 && rc == 0) rc = bienc_error(BIENC_EIO, "%s: cannot write", path);
    if (rc == 0) rc = trainer_eval_init(&ev, cfg, &d, eval_max_passages, stderr);
    if (rc == 0 && !ev.enabled) rc = bienc_error(BIENC_EINVAL, "no dev set to evaluate on");
    snprintf(path, sizeof path, "%s/eval_q.bin", out);
    if (rc == 0) rc = write_texts(path, bi->tok, ev.qtext, ev.qlen, ev.nq, bo.max_query_len);
    snprintf(path, sizeof path, "%s/eval_p.bin", out);
    if (rc == 0) rc = write_texts(path, bi->tok, ev.ptext, ev.plen, ev.np, bo.max_passage_len);
    snprintf(path, sizeof path, "%s/eval_qids.txt", out);
    if (rc == 0) rc = write_ids(path, ev.qid, ev.nq);
    snprintf(path, sizeof path, "%s/eval_pids.txt", out);
    if (rc == 0) rc = write_ids(path, ev.pid, ev.np);
    if (rc == 0)
        fprintf(stderr, "quality_parity_driver: %lld batches, eval %lld queries x %lld passages, vocab %d -> %s\n",
                (long long)cfg->train.steps, (long long)ev.nq, (long long)ev.np, ec.vocab_size, out);
    trainer_eval_free(&ev);
    batch_free(&b);
    sampler_free(smp);
    biencoder_free(bi);
    tokenizer_free(tok);
    trainer_data_free(&d);
    free(idx);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUT_DIR CONFIG [--set key=value ...] [--eval-max-passages N]\n", argv[0]);
        return 2;
    }
    const char *sets[64];
    int n_sets = 0;
    int64_t eval_max = 10000;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--set") && i + 1 < argc && n_sets < 64) sets[n_sets++] = argv[++i];
        else if (!strcmp(argv[i], "--eval-max-passages") && i + 1 < argc) eval_max = atoll(argv[++i]);
        else {
            fprintf(stderr, "quality_parity_driver: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    bienc_run_config cfg;
    int rc = config_load(&cfg, argv[2], sets, n_sets);
    if (rc == 0) rc = run(argv[1], &cfg, eval_max);
    config_free(&cfg);
    if (rc < 0) {
        fprintf(stderr, "quality_parity_driver: %s\n", bienc_last_error());
        return 1;
    }
    return 0;
}
