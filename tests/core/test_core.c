/* Unit tests of src/core: errors, tensors, rng, the tape and its arena. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/rng.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "core/atomic_file.h"
#include "core/ids.h"
#include "expect_abort.h"

/* ---- errors ---- */

static void test_error_messages(void **state)
{
    bienc_error_clear();
    assert_string_equal(bienc_last_error(), "");
    assert_int_equal(bienc_error(BIENC_EFORMAT, "file %s line %d: bad", "a.txt", 7), BIENC_EFORMAT);
    assert_string_equal(bienc_last_error(), "file a.txt line 7: bad");
    assert_int_equal(bienc_error_context(BIENC_EFORMAT, "loading %s: ", "x.h5"), BIENC_EFORMAT);
    assert_string_equal(bienc_last_error(), "loading x.h5: file a.txt line 7: bad");
    assert_string_equal(bienc_status_name(BIENC_ERANGE), "out of range");
    assert_string_equal(bienc_status_name(BIENC_OK), "ok");
    assert_string_equal(bienc_status_name(-1000), "unknown error");
    /* overlong messages are truncated, not overflowed */
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    bienc_error(BIENC_EINVAL, "%s", big);
    assert_true(strlen(bienc_last_error()) < sizeof big - 1);
    bienc_error_context(BIENC_EINVAL, "%s", big);
    assert_true(strlen(bienc_last_error()) < sizeof big - 1);
}

static int try_helper(int rc, int *reached)
{
    BIENC_TRY(rc);
    *reached = 1;
    return 0;
}

static void test_try_macro(void **state)
{
    int reached = 0;
    assert_int_equal(try_helper(BIENC_EIO, &reached), BIENC_EIO);
    assert_int_equal(reached, 0);
    assert_int_equal(try_helper(0, &reached), 0);
    assert_int_equal(reached, 1);
}

/* ---- tensors ---- */

static void test_tensor_basics(void **state)
{
    bienc_tensor *t;
    assert_int_equal(tensor_new(&t, 3, (int64_t[]){2, 3, 4}, 1), 0);
    assert_int_equal(t->size, 24);
    assert_true(t->is_param && t->requires_grad && t->grad);
    assert_int_equal(((uintptr_t)t->data) % 64, 0);
    for (int i = 0; i < 24; i++) assert_true(t->data[i] == 0.0f && t->grad[i] == 0.0f);
    t->grad[5] = 3.0f;
    tensor_zero_grad(t);
    assert_true(t->grad[5] == 0.0f);
    char buf[64];
    assert_string_equal(tensor_shape_str(t, buf, sizeof buf), "[2, 3, 4]");
    assert_string_equal(tensor_shape_str(NULL, buf, sizeof buf), "(null)");
    assert_string_equal(tensor_shape_str(t, buf, 4), "[2,");
    assert_int_equal(tensor_set_name(t, "encoder.layer.0.weight"), 0);
    assert_int_equal(tensor_set_name(t, "renamed"), 0); /* replaces, no leak */
    assert_string_equal(t->name, "renamed");
    assert_int_equal(tensor_check(t, "t", 3, (int64_t[]){2, -1, 4}), 0);
    assert_int_equal(tensor_check(t, "t", 3, (int64_t[]){2, 3, 5}), BIENC_ESHAPE);
    assert_non_null(strstr(bienc_last_error(), "dimension 2 is 4, expected 5"));
    assert_int_equal(tensor_check(t, "t", 2, NULL), BIENC_ESHAPE);
    assert_int_equal(tensor_check(NULL, "t", 2, NULL), BIENC_EINVAL);
    tensor_free(t);
    tensor_free(NULL);

    assert_int_equal(tensor_new_1d(&t, 0, 0), 0); /* empty tensors are fine */
    assert_int_equal(t->size, 0);
    assert_null(t->grad);
    tensor_free(t);
    assert_int_equal(tensor_new(&t, 0, (int64_t[]){1}, 0), BIENC_EINVAL);
    assert_null(t);
    assert_int_equal(tensor_new(&t, 5, (int64_t[]){1, 1, 1, 1, 1}, 0), BIENC_EINVAL);
    assert_int_equal(tensor_new(&t, 2, (int64_t[]){-1, 3}, 0), BIENC_EINVAL);
    assert_int_equal(tensor_new(&t, 2, (int64_t[]){INT64_MAX / 2, 8}, 0), BIENC_EINVAL);
    assert_int_equal(tensor_new(NULL, 1, (int64_t[]){1}, 0), BIENC_EINVAL);
    assert_int_equal(tensor_shape_size(2, (int64_t[]){3, 0}), 0);
    assert_int_equal(tensor_shape_size(2, (int64_t[]){1LL << 40, 1LL << 40}), -1);
}

/* ---- rng ---- */

static void test_rng(void **state)
{
    bienc_rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) assert_true(rng_next_u64(&a) == rng_next_u64(&b));
    rng_seed(&b, 43);
    assert_true(rng_next_u64(&a) != rng_next_u64(&b));
    /* uniform in [0, 1), mean ~ 1/2; normal mean ~ 0, variance ~ 1 */
    double su = 0, sn = 0, sn2 = 0;
    int n = 20000;
    for (int i = 0; i < n; i++) {
        float u = rng_uniform(&a);
        assert_true(u >= 0.0f && u < 1.0f);
        su += u;
        float z = rng_normal(&a);
        assert_true(isfinite(z));
        sn += z, sn2 += (double)z * z;
    }
    assert_true(fabs(su / n - 0.5) < 0.01);
    assert_true(fabs(sn / n) < 0.03 && fabs(sn2 / n - 1.0) < 0.05);
    /* rng_below: in range, every value reached */
    int seen[7] = {0};
    for (int i = 0; i < 700; i++) {
        uint64_t v = rng_below(&a, 7);
        assert_true(v < 7);
        seen[v]++;
    }
    for (int i = 0; i < 7; i++) assert_true(seen[i] > 50);
    assert_true(rng_below(&a, 1) == 0 && rng_below(&a, 0) == 0);
    /* shuffle is a permutation */
    int p[50], count[50] = {0};
    for (int i = 0; i < 50; i++) p[i] = i;
    rng_shuffle_int(&a, p, 50);
    int moved = 0;
    for (int i = 0; i < 50; i++) count[p[i]]++, moved += p[i] != i;
    for (int i = 0; i < 50; i++) assert_int_equal(count[i], 1);
    assert_true(moved > 10);
    /* counter-based: pure function of (key, index) */
    assert_true(rng_hash_u64(7, 3) == rng_hash_u64(7, 3));
    assert_true(rng_hash_u64(7, 3) != rng_hash_u64(7, 4) && rng_hash_u64(7, 3) != rng_hash_u64(8, 3));
    double sh = 0;
    for (int i = 0; i < n; i++) {
        float u = rng_hash_uniform(99, (uint64_t)i);
        assert_true(u >= 0.0f && u < 1.0f);
        sh += u;
    }
    assert_true(fabs(sh / n - 0.5) < 0.01);
}

/* ---- tape ---- */

static void test_tape_arena(void **state)
{
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    assert_int_equal(tape_bytes_used(tape), 0);
    float *a = tape_floats(tape, 3), *b = tape_floats(tape, 5);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal((uintptr_t)a % 64, 0);
    assert_int_equal((uintptr_t)b % 64, 0);
    assert_true(b >= a + 16); /* rounded up to 64 bytes, no overlap */
    assert_int_equal(tape_bytes_used(tape), 128);
    bienc_tensor *t, *z;
    assert_int_equal(tape_tensor(tape, 2, (int64_t[]){3, 4}, &t), 0);
    assert_int_equal(tape_tensor_zeros(tape, 1, (int64_t[]){100}, &z), 0);
    for (int i = 0; i < 100; i++) assert_true(z->data[i] == 0.0f);
    assert_false(t->is_param || t->requires_grad);
    assert_null(t->grad);
    assert_int_equal(tape_tensor(tape, 0, (int64_t[]){1}, &t), BIENC_EINVAL);
    assert_int_equal(tape_tensor(tape, 1, (int64_t[]){-3}, &t), BIENC_EINVAL);
    assert_null(tape_alloc(tape, (size_t)1 << 50));
    assert_true(bienc_last_error()[0] != '\0');
    assert_null(tape_alloc(NULL, 8));

    /* a step larger than one chunk: after reset, the chunks merge into one and the next
     * identical step allocates nothing new */
    size_t big = (size_t)40 << 20;
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < 3; i++) {
            char *p = tape_alloc(tape, big);
            assert_non_null(p);
            p[0] = 1, p[big - 1] = 2; /* usable end to end */
        }
        assert_true(tape_bytes_used(tape) >= 3 * big);
        size_t reserved = tape_bytes_reserved(tape);
        tape_reset(tape);
        assert_int_equal(tape_bytes_used(tape), 0);
        assert_int_equal(tape_bytes_reserved(tape), reserved);
    }
    tape_free(tape);
    tape_free(NULL);
}

typedef struct { float k; } mul_ctx;

/* A toy op y = k x for the tape tests. */
static int mul_backward(bienc_tape *tape, bienc_tape_node *node)
{
    float *dx = tape_grad(tape, node->in[0]);
    if (!dx) return 0;
    for (int64_t i = 0; i < node->out->size; i++) dx[i] += ((mul_ctx *)node->ctx)->k * node->out->grad[i];
    return 0;
}

static int toy_mul(bienc_tape *tape, bienc_tensor *x, float k, bienc_tensor **out)
{
    BIENC_TRY(tape_tensor(tape, x->ndim, x->shape, out));
    for (int64_t i = 0; i < x->size; i++) (*out)->data[i] = k * x->data[i];
    mul_ctx *ctx;
    BIENC_TRY(tape_record(tape, "mul", mul_backward, *out, 1, &x, (void **)&ctx, sizeof *ctx));
    if (ctx) ctx->k = k;
    return 0;
}

static int sum_backward(bienc_tape *tape, bienc_tape_node *node)
{
    float *dx = tape_grad(tape, node->in[0]);
    for (int64_t i = 0; dx && i < node->in[0]->size; i++) dx[i] += node->out->grad[0];
    return 0;
}

static int fail_backward(bienc_tape *tape, bienc_tape_node *node)
{
    return bienc_error(BIENC_ESTATE, "deliberate");
}

static void test_tape_backward(void **state)
{
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    bienc_tensor *x, *frozen;
    assert_int_equal(tensor_new_1d(&x, 4, 1), 0);
    assert_int_equal(tensor_new_1d(&frozen, 4, 0), 0);
    for (int i = 0; i < 4; i++) x->data[i] = (float)i;

    /* loss = sum(3 * (2 x)) -> dloss/dx = 6 */
    bienc_tensor *y, *z, *loss;
    assert_int_equal(toy_mul(tape, x, 2.0f, &y), 0);
    assert_int_equal(toy_mul(tape, y, 3.0f, &z), 0);
    assert_int_equal(tape_tensor(tape, 1, (int64_t[]){1}, &loss), 0);
    loss->data[0] = 0;
    for (int i = 0; i < 4; i++) loss->data[0] += z->data[i];
    assert_int_equal(tape_record(tape, "sum", sum_backward, loss, 1, &z, NULL, 0), 0);
    assert_int_equal(tape_node_count(tape), 3);
    assert_true(loss->requires_grad);
    assert_int_equal(tape_backward(tape, z), BIENC_ESHAPE); /* not a scalar */
    assert_int_equal(tape_backward(tape, loss), 0);
    for (int i = 0; i < 4; i++) assert_true(x->grad[i] == 6.0f);
    EXPECT_ABORT(tape_backward(tape, NULL));

    /* a frozen input records nothing; backward from it is a state error */
    tape_reset(tape);
    assert_int_equal(toy_mul(tape, frozen, 2.0f, &y), 0);
    assert_int_equal(tape_node_count(tape), 0);
    assert_false(y->requires_grad);
    assert_null(tape_grad(tape, y));
    float up[4] = {1, 1, 1, 1};
    assert_int_equal(tape_backward_from(tape, y, up), BIENC_ESTATE);

    /* no-grad mode */
    tape_set_grad_enabled(tape, 0);
    assert_false(tape_grad_enabled(tape));
    assert_int_equal(toy_mul(tape, x, 2.0f, &y), 0);
    assert_int_equal(tape_node_count(tape), 0);
    tape_set_grad_enabled(tape, 1);

    /* a branch that does not reach the output is skipped */
    tensor_zero_grad(x);
    assert_int_equal(toy_mul(tape, x, 5.0f, &y), 0);       /* dead branch */
    assert_int_equal(toy_mul(tape, x, 7.0f, &z), 0);
    assert_int_equal(tape_backward_from(tape, z, up), 0);
    for (int i = 0; i < 4; i++) assert_true(x->grad[i] == 7.0f);
    assert_null(y->grad);

    /* a failing backward reports which op failed */
    tape_reset(tape);
    assert_int_equal(tape_tensor(tape, 1, (int64_t[]){4}, &y), 0);
    assert_int_equal(tape_record(tape, "broken", fail_backward, y, 1, &x, NULL, 0), 0);
    assert_int_equal(tape_backward_from(tape, y, up), BIENC_ESTATE);
    assert_non_null(strstr(bienc_last_error(), "broken"));
    assert_non_null(strstr(bienc_last_error(), "deliberate"));

    /* invalid records */
    assert_int_equal(tape_record(tape, "x", NULL, y, 1, &x, NULL, 0), BIENC_EINVAL);
    assert_int_equal(tape_record(tape, "x", fail_backward, y, BIENC_TAPE_MAX_INPUTS + 1, &x, NULL, 0), BIENC_EINVAL);
    tensor_free(x);
    tensor_free(frozen);
    tape_free(tape);
}

/* Activation gradients are released once their producer has run: through a chain of
 * 8 large ops the backward holds at most two gradients at once (the one it reads, the
 * one it writes), not all 8; the result is unchanged; the next identical step reuses
 * the same blocks, and a step of slightly different size too. */
static void test_tape_grad_release(void **state)
{
    (void)state;
    bienc_tape *tape;
    assert_int_equal(tape_new(&tape), 0);
    enum { N = 1 << 18, DEPTH = 8 };
    bienc_tensor *x;
    assert_int_equal(tensor_new_1d(&x, N, 1), 0);
    for (int64_t i = 0; i < N; i++) x->data[i] = 1.0f;
    size_t reserved = 0;
    for (int step = 0; step < 3; step++) {
        int64_t n = step == 2 ? N - 1000 : N; /* the last step's tensors are a little smaller */
        bienc_tensor *v = x, *xs = x;
        if (n != N) {
            assert_int_equal(tape_tensor(tape, 1, (int64_t[]){n}, &xs), 0);
            memcpy(xs->data, x->data, (size_t)n * sizeof(float));
            xs->requires_grad = 1; /* a leaf: keeps its gradient */
            v = xs;
        }
        bienc_tensor *mid[DEPTH];
        for (int d = 0; d < DEPTH; d++) {
            assert_int_equal(toy_mul(tape, v, 2.0f, &mid[d]), 0);
            v = mid[d];
        }
        float *up = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) up[i] = 1.0f;
        tensor_zero_grad(x);
        assert_int_equal(tape_backward_from(tape, v, up), 0);
        free(up);
        for (int64_t i = 0; i < n; i += 4099) assert_true(xs->grad[i] == 256.0f);
        for (int d = 0; d < DEPTH; d++) assert_null(mid[d]->grad); /* released */
        size_t one = (size_t)N * sizeof(float);
        assert_true(tape_grad_bytes_peak(tape) >= (size_t)n * sizeof(float));
        assert_true(tape_grad_bytes_peak(tape) <= 2 * one + one / 4 + (n != N ? one + one / 4 : 0));
        if (step == 0) reserved = tape_grad_bytes_reserved(tape);
        else assert_true(tape_grad_bytes_reserved(tape) <= reserved + (n != N ? one + one / 4 : 0));
        tape_reset(tape);
        /* a second reset with no backward in between (the trainer resets before each
         * forward too) keeps the blocks for the next step */
        size_t before = tape_grad_bytes_reserved(tape);
        assert_true(before >= 2 * (size_t)n * sizeof(float));
        tape_reset(tape);
        assert_int_equal(tape_grad_bytes_reserved(tape), before);
    }
    tensor_free(x);
    tape_free(tape);
}

static char *slurp_text(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* The atomic writer: a commit replaces the old file whole, an abort (or a failed write)
 * keeps it and leaves no temporary; an output that is an input is refused by inode. */
static void test_atomic_file(void **state)
{
    char dir[] = "/tmp/bienc_test_atomic.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], tmp[140], link_path[128], other[128];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(link_path, sizeof link_path, "%s/link.txt", dir);
    snprintf(other, sizeof other, "%s/other.txt", dir);
    atomic_file a;
    assert_int_equal(atomic_file_open(&a, path), 0);
    fputs("first\n", a.f);
    assert_int_equal(access(path, F_OK), -1); /* nothing at PATH before the commit */
    assert_int_equal(atomic_file_commit(&a), 0);
    assert_string_equal(slurp_text(path), "first\n");
    assert_int_equal(access(tmp, F_OK), -1);

    assert_int_equal(atomic_file_open(&a, path), 0);
    fputs("second, never committed\n", a.f);
    atomic_file_abort(&a);
    assert_string_equal(slurp_text(path), "first\n");
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(atomic_file_finish(&a, 0), BIENC_ESTATE); /* nothing open any more */

    assert_int_equal(atomic_file_open(&a, path), 0);
    fputs("third\n", a.f);
    assert_int_equal(atomic_file_finish(&a, BIENC_EIO), BIENC_EIO);
    assert_string_equal(slurp_text(path), "first\n");

    /* a leftover temporary (a killed run) is replaced, through no symlink */
    assert_int_equal(symlink(other, tmp), 0);
    assert_int_equal(atomic_file_open(&a, path), 0);
    fputs("fourth\n", a.f);
    assert_int_equal(atomic_file_commit(&a), 0);
    assert_string_equal(slurp_text(path), "fourth\n");
    assert_int_equal(access(other, F_OK), -1);

    /* same file: the name itself, a hard link, PATH.tmp; a fresh name is fine */
    assert_int_equal(link(path, link_path), 0);
    const char *in1[] = {NULL, path};
    assert_int_equal(atomic_file_check_inputs(path, in1, 2), BIENC_EINVAL);
    assert_non_null(strstr(bienc_last_error(), "same file"));
    const char *in2[] = {link_path};
    assert_int_equal(atomic_file_check_inputs(path, in2, 1), BIENC_EINVAL);
    assert_int_equal(atomic_file_check_inputs(other, in2, 1), 0);
    char sneaky[140];
    snprintf(sneaky, sizeof sneaky, "%s/x", dir);
    snprintf(tmp, sizeof tmp, "%s/x.tmp", dir);
    assert_int_equal(rename(link_path, tmp), 0);
    const char *in3[] = {tmp};
    assert_int_equal(atomic_file_check_inputs(sneaky, in3, 1), BIENC_EINVAL);
    /* a directory is not an output */
    assert_int_equal(atomic_file_open(&a, dir), BIENC_EINVAL);
    unlink(tmp);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

/* One id rule: empty, too long, spaces and control bytes, duplicates. */
static void test_ids(void **state)
{
    assert_null(id_problem("d1", 2));
    assert_non_null(id_problem("", 0));
    assert_non_null(id_problem("a b", 3));
    assert_non_null(id_problem("a\tb", 3));
    assert_non_null(id_problem("a\x7f", 2));
    char long_id[300];
    memset(long_id, 'x', sizeof long_id);
    assert_null(id_problem(long_id, 256));
    assert_non_null(id_problem(long_id, 257));
    const char *ok[] = {"b", "a", "c", "aa"};
    assert_int_equal(ids_check(ok, 4, "f"), 0);
    const char *dup[] = {"b", "a", "c", "a"};
    assert_int_equal(ids_check(dup, 4, "f"), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "duplicate id 'a' (rows 1 and 3)"));
    const char *sp[] = {"b", "a c"};
    assert_int_equal(ids_check(sp, 2, "f"), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "row 1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_messages), cmocka_unit_test(test_try_macro), cmocka_unit_test(test_tensor_basics),
        cmocka_unit_test(test_rng),            cmocka_unit_test(test_tape_arena), cmocka_unit_test(test_tape_backward),
        cmocka_unit_test(test_tape_grad_release), cmocka_unit_test(test_atomic_file), cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
