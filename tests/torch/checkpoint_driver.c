/* Driver for test_checkpoint_h5py.py: proves bienc checkpoints are plain HDF5 that h5py reads,
 * and that bienc reads files h5py writes with the same layout.
 *   checkpoint_driver write OUT.h5   writes a fixed checkpoint (pattern tensors, attributes, vocab)
 *   checkpoint_driver read IN.h5     prints params/w (hex floats), step, model/pooling, rng/state
 *                                    and the vocab, one item per line; exit 1 with the message
 *                                    on any error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "core/error.h"

/* Exactly representable in float32, so Python can rebuild it bit for bit. */
static float pattern(long i) { return (float)((i * 37) % 101) * 0.125f - 3.0f; }

static int fail(void)
{
    fprintf(stderr, "checkpoint_driver: %s\n", bienc_last_error());
    return 1;
}

static int do_write(const char *path)
{
    float w[3 * 4 * 5], b[7];
    for (long i = 0; i < 60; i++) w[i] = pattern(i);
    for (long i = 0; i < 7; i++) b[i] = pattern(i + 1000);
    const char *vocab[] = {"[PAD]", "[UNK]", "hello", "##ing", "naïve", ""};
    const uint64_t rng[2] = {0xfedcba9876543210ull, 3};
    bienc_ckpt_writer *wr;
    if (ckpt_writer_open(&wr, path) < 0) return fail();
    if (ckpt_write_tensor(wr, "params/encoder.layer.0.intermediate.dense.weight", 3, (int64_t[]){3, 4, 5}, w) < 0 ||
        ckpt_write_tensor(wr, "optim/m/embeddings.LayerNorm.bias", 1, (int64_t[]){7}, b) < 0 ||
        ckpt_write_int64(wr, "step", 77) < 0 || ckpt_write_double(wr, "train/lr", 2e-5) < 0 ||
        ckpt_write_string(wr, "model/pooling", "mean") < 0 || ckpt_write_uint64s(wr, "rng/state", rng, 2) < 0 ||
        ckpt_write_strings(wr, "vocab", vocab, 6) < 0) {
        ckpt_writer_abort(wr);
        return fail();
    }
    return ckpt_writer_commit(wr) < 0 ? fail() : 0;
}

static int do_read(const char *path)
{
    bienc_ckpt *c;
    if (ckpt_open(&c, path) < 0) return fail();
    int nd;
    int64_t shape[BIENC_CKPT_MAX_DIMS], step;
    char *pooling = NULL, **vocab = NULL;
    size_t nv = 0;
    uint64_t rng[2];
    float *w = NULL;
    int rc = ckpt_tensor_shape(c, "params/w", &nd, shape);
    int64_t count = 1;
    for (int i = 0; rc == 0 && i < nd; i++) count *= shape[i];
    if (rc == 0 && !(w = malloc((size_t)(count ? count : 1) * sizeof *w))) rc = bienc_error(BIENC_ENOMEM, "oom");
    if (rc == 0) rc = ckpt_read_tensor(c, "params/w", nd, shape, w);
    if (rc == 0) rc = ckpt_read_int64(c, "step", &step);
    if (rc == 0) rc = ckpt_read_string(c, "model/pooling", &pooling);
    if (rc == 0) rc = ckpt_read_uint64s(c, "rng/state", rng, 2);
    if (rc == 0) rc = ckpt_read_strings(c, "vocab", &vocab, &nv);
    if (rc == 0) {
        printf("shape");
        for (int i = 0; i < nd; i++) printf(" %lld", (long long)shape[i]);
        printf("\nw");
        for (int64_t i = 0; i < count; i++) printf(" %a", (double)w[i]);
        printf("\nstep %lld\npooling %s\nrng %llu %llu\n", (long long)step, pooling, (unsigned long long)rng[0],
               (unsigned long long)rng[1]);
        for (size_t i = 0; i < nv; i++) printf("vocab %s\n", vocab[i]);
    }
    free(w);
    free(pooling);
    ckpt_free_strings(vocab, nv);
    ckpt_close(c);
    return rc < 0 ? fail() : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "write") == 0) return do_write(argv[2]);
    if (argc == 3 && strcmp(argv[1], "read") == 0) return do_read(argv[2]);
    fprintf(stderr, "usage: checkpoint_driver write|read FILE.h5\n");
    return 2;
}
