/* Driver for tests/torch/test_optim.py: runs bienc's AdamW + schedule + clipping +
 * accumulation on parameters and gradient sequences given by the script, and writes
 * the parameters after every optimiser step.
 *
 * usage: torch_optim_driver IN OUT
 * IN (little endian): int32 n_params, n_steps, accum, sched_kind, warmup, total;
 *   float64 lr, weight_decay, beta1, beta2, eps, max_grad_norm;
 *   per param: int32 name_len, name bytes, int64 size, float32 data[size];
 *   then n_steps * accum micro-batches, each: per param float32 grad[size].
 * OUT: per optimiser step: float64 lr, float64 grad_norm, then per param float32 data[size]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/optim.h"

static int read_exact(FILE *f, void *buf, size_t n)
{
    return fread(buf, 1, n, f) == n ? 0 : bienc_error(BIENC_EFORMAT, "input truncated");
}

static int run(FILE *in, FILE *out)
{
    int32_t hdr[6];
    double hp[6];
    BIENC_TRY(read_exact(in, hdr, sizeof hdr));
    BIENC_TRY(read_exact(in, hp, sizeof hp));
    int n = hdr[0], steps = hdr[1];
    if (n < 1 || n > 1000 || steps < 1 || steps > 1000) return bienc_error(BIENC_EFORMAT, "bad header");
    bienc_adamw_config c;
    adamw_config_default(&c);
    c.grad_accumulation = hdr[2];
    c.lr = hp[0];
    c.weight_decay = hp[1];
    c.beta1 = hp[2];
    c.beta2 = hp[3];
    c.eps = hp[4];
    c.max_grad_norm = hp[5];
    bienc_schedule s;
    BIENC_TRY(schedule_init(&s, (bienc_schedule_kind)hdr[3], hdr[4], hdr[5]));
    bienc_tensor **ps = calloc((size_t)n, sizeof *ps);
    int rc = ps ? 0 : BIENC_ENOMEM;
    for (int i = 0; i < n && rc == 0; i++) {
        int32_t len;
        int64_t size;
        char name[256];
        rc = read_exact(in, &len, 4);
        if (rc == 0 && (len < 1 || len > 255)) rc = bienc_error(BIENC_EFORMAT, "bad name length");
        if (rc == 0) rc = read_exact(in, name, (size_t)len);
        name[len > 0 && len < 256 ? len : 0] = 0;
        if (rc == 0) rc = read_exact(in, &size, 8);
        if (rc == 0 && (size < 1 || size > (1 << 24))) rc = bienc_error(BIENC_EFORMAT, "bad size");
        if (rc == 0) rc = tensor_new_1d(&ps[i], size, 1);
        if (rc == 0) rc = tensor_set_name(ps[i], name);
        if (rc == 0) rc = read_exact(in, ps[i]->data, sizeof(float) * (size_t)size);
    }
    bienc_adamw *opt = NULL;
    if (rc == 0) rc = adamw_new(&opt, ps, n, &c, &s);
    for (int step = 0; step < steps && rc == 0; step++) {
        for (int k = 0; k < c.grad_accumulation && rc == 0; k++) {
            /* grads accumulate (+=) as the tape does across micro-batches */
            for (int i = 0; i < n && rc == 0; i++) {
                float *g = malloc(sizeof(float) * (size_t)ps[i]->size);
                rc = g ? read_exact(in, g, sizeof(float) * (size_t)ps[i]->size) : BIENC_ENOMEM;
                for (int64_t j = 0; rc == 0 && j < ps[i]->size; j++) ps[i]->grad[j] += g[j];
                free(g);
            }
            int stepped = 0;
            if (rc == 0) rc = adamw_micro_step(opt, &stepped);
            if (rc == 0 && stepped != (k == c.grad_accumulation - 1)) rc = bienc_error(BIENC_ESTATE, "stepped at the wrong time");
        }
        if (rc == 0) {
            fwrite(&opt->last_lr, 8, 1, out);
            fwrite(&opt->last_grad_norm, 8, 1, out);
            for (int i = 0; i < n; i++) fwrite(ps[i]->data, sizeof(float), (size_t)ps[i]->size, out);
        }
    }
    adamw_free(opt);
    for (int i = 0; ps && i < n; i++) tensor_free(ps[i]);
    free(ps);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    if (!in || !out) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 1;
    }
    int rc = run(in, out);
    fclose(in);
    if (fclose(out) != 0 && rc == 0) rc = bienc_error(BIENC_EIO, "writing %s failed", argv[2]);
    if (rc < 0) {
        fprintf(stderr, "optim_driver: %s\n", bienc_last_error());
        return 1;
    }
    return 0;
}
