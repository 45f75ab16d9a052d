/* The process group (src/core/comm.h). Alone: rank 0 of 1 and every collective the
 * identity. Under `mpirun -np N` (tests/cli/test_mpi_train.sh runs it with N = 3): sums of
 * integers (exact in float, so the expected value is known) for lengths below, at and
 * above N, the same bits on every rank for a sum whose rounding depends on the order,
 * all-gathers of unequal sizes, broadcast. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/comm.h"

static void test_allreduce_exact(void **state)
{
    (void)state;
    int R = comm_size(), me = comm_rank();
    int64_t lens[] = {1, 2, 3, 7, 1000, 100003};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        int64_t n = lens[k];
        float *b = malloc((size_t)n * sizeof *b);
        for (int64_t i = 0; i < n; i++) b[i] = (float)((i % 97) * (me + 1));
        assert_int_equal(comm_allreduce_sum(b, n), 0);
        float tri = (float)(R * (R + 1) / 2);
        for (int64_t i = 0; i < n; i++)
            if (b[i] != (float)(i % 97) * tri) fail_msg("n %lld: element %lld is %g", (long long)n, (long long)i, b[i]);
        free(b);
    }
    double d[3] = {me, 1, -me};
    assert_int_equal(comm_allreduce_sum_f64(d, 3), 0);
    assert_true(d[0] == R * (R - 1) / 2.0 && d[1] == R && d[2] == -d[0]);
}

/* Values whose float sum depends on the order: every rank must still end with the same
 * bits (all-gathered and compared). */
static void test_allreduce_same_bits(void **state)
{
    (void)state;
    int R = comm_size(), me = comm_rank();
    int64_t n = 4099;
    float *b = malloc((size_t)n * sizeof *b), *all = malloc((size_t)n * R * sizeof *all);
    int64_t *bytes = malloc((size_t)R * sizeof *bytes);
    for (int64_t i = 0; i < n; i++) b[i] = sinf((float)(i * 7 + me * 13)) * powf(10.0f, (float)((i + me) % 9) - 4);
    assert_int_equal(comm_allreduce_sum(b, n), 0);
    for (int r = 0; r < R; r++) bytes[r] = n * (int64_t)sizeof(float);
    assert_int_equal(comm_allgatherv(b, all, bytes), 0);
    for (int r = 0; r < R; r++) assert_memory_equal(all + (int64_t)r * n, b, (size_t)n * sizeof(float));
    free(b);
    free(all);
    free(bytes);
}

static void test_allgatherv_bcast(void **state)
{
    (void)state;
    int R = comm_size(), me = comm_rank();
    int64_t *bytes = malloc((size_t)R * sizeof *bytes), total = 0;
    for (int r = 0; r < R; r++) total += bytes[r] = r + 1; /* rank r sends r + 1 bytes */
    char *mine = malloc((size_t)me + 1), *all = malloc((size_t)total);
    memset(mine, 'a' + me, (size_t)me + 1);
    assert_int_equal(comm_allgatherv(mine, all, bytes), 0);
    for (int r = 0, o = 0; r < R; o += r + 1, r++)
        for (int i = 0; i <= r; i++) assert_int_equal(all[o + i], 'a' + r);
    char word[8] = "";
    if (me == 0) strcpy(word, "rank0");
    assert_int_equal(comm_bcast(word, sizeof word, 0), 0);
    assert_string_equal(word, "rank0");
    assert_int_equal(comm_barrier(), 0);
    free(bytes);
    free(mine);
    free(all);
}

int main(void)
{
    if (comm_init() != 0) return 1;
    assert_true(comm_size() >= 1 && comm_rank() >= 0 && comm_rank() < comm_size());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allreduce_exact),
        cmocka_unit_test(test_allreduce_same_bits),
        cmocka_unit_test(test_allgatherv_bcast),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    comm_finalize();
    return failed;
}
