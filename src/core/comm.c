/* The process group (see comm.h): MPI when built with it and started by a launcher,
 * otherwise one process for which every collective is the identity.
 *
 * The sums do not use MPI_Allreduce: its algorithm (and so the order in which a float sum
 * is associated) is chosen by the MPI library from the message size, the group size and
 * its tuning files, which the standard only asks to be repeatable. The ring below fixes
 * the order itself: with S ranks, the buffer is cut into S chunks; in the reduce-scatter
 * phase chunk c travels c -> c+1 -> ... -> c-1, each rank adding its own values to the
 * partial sum it received ((x_c + x_c+1) + x_c+2) + ...; in the all-gather phase the
 * finished chunks travel round once more and are copied. Each rank sends and receives
 * 2 (S-1)/S of the buffer: the bandwidth-optimal schedule. */
#include "core/comm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int g_rank = 0, g_size = 1, g_mpi = 0, g_init = 0;

#ifdef BIENC_HAVE_MPI
#include <mpi.h>

/* Whether a launcher started this process (without one, MPI_Init would make a singleton
 * and, with OpenMPI, try to start a daemon: not what `bienc train` alone should do). */
static int launched_by_mpi(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}
#endif

int comm_init(void)
{
    if (g_init) return 0;
    g_init = 1;
#ifdef BIENC_HAVE_MPI
    if (!launched_by_mpi()) return 0;
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return bienc_error(BIENC_EIO, "MPI_Init_thread failed");
    g_mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
#endif
    return 0;
}

void comm_finalize(void)
{
#ifdef BIENC_HAVE_MPI
    if (g_mpi) MPI_Finalize();
#endif
    g_mpi = 0;
    g_rank = 0;
    g_size = 1;
}

void comm_abort(int code)
{
#ifdef BIENC_HAVE_MPI
    if (g_mpi && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    (void)code;
}

int comm_rank(void) { return g_rank; }
#ifdef BIENC_HAVE_MPI
int comm_has_mpi(void) { return 1; }
#else
int comm_has_mpi(void) { return 0; }
#endif
int comm_size(void) { return g_size; }

#ifdef BIENC_HAVE_MPI
static int mpi_fail(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return bienc_error(BIENC_EIO, "%s on rank %d of %d: %s", what, g_rank, g_size, msg);
}

/* Chunk c of n elements cut into S: [c n / S, (c + 1) n / S). */
static int64_t chunk_lo(int64_t n, int S, int c) { return (int64_t)((__int128)n * c / S); }

/* The ring of comm.c's header comment over n elements of `size` bytes. */
static int ring_allreduce(void *buf, int64_t n, size_t size, MPI_Datatype type, int is_double)
{
    int S = g_size, r = g_rank, right = (r + 1) % S, left = (r + S - 1) % S;
    int64_t max_chunk = n / S + 1;
    if (max_chunk > INT_MAX) return bienc_error(BIENC_ERANGE, "comm_allreduce_sum: %lld elements per rank exceed MPI's int count", (long long)max_chunk);
    char *tmp = malloc((size_t)max_chunk * size);
    if (!tmp) return bienc_error(BIENC_ENOMEM, "comm_allreduce_sum: out of memory");
    char *b = buf;
    int rc = MPI_SUCCESS;
    /* reduce-scatter: after step s, rank r holds the partial sum of chunk r - s - 1 over
     * ranks r - s - 1 .. r; after S - 1 steps chunk r + 1 is complete on rank r */
    for (int s = 0; rc == MPI_SUCCESS && s < S - 1; s++) {
        int cs = ((r - s) % S + S) % S, cr = ((r - s - 1) % S + S) % S;
        int64_t s0 = chunk_lo(n, S, cs), s1 = chunk_lo(n, S, cs + 1);
        int64_t r0 = chunk_lo(n, S, cr), r1 = chunk_lo(n, S, cr + 1);
        rc = MPI_Sendrecv(b + s0 * size, (int)(s1 - s0), type, right, 0, tmp, (int)(r1 - r0), type, left, 0,
                          MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) break;
        if (is_double) {
            double *d = (double *)b + r0;
            const double *t = (const double *)tmp;
            for (int64_t i = 0; i < r1 - r0; i++) d[i] = t[i] + d[i];
        } else {
            float *d = (float *)b + r0;
            const float *t = (const float *)tmp;
            for (int64_t i = 0; i < r1 - r0; i++) d[i] = t[i] + d[i];
        }
    }
    /* all-gather: the complete chunks go round once */
    for (int s = 0; rc == MPI_SUCCESS && s < S - 1; s++) {
        int cs = ((r + 1 - s) % S + S) % S, cr = ((r - s) % S + S) % S;
        int64_t s0 = chunk_lo(n, S, cs), s1 = chunk_lo(n, S, cs + 1);
        int64_t r0 = chunk_lo(n, S, cr), r1 = chunk_lo(n, S, cr + 1);
        rc = MPI_Sendrecv(b + s0 * size, (int)(s1 - s0), type, right, 1, b + r0 * size, (int)(r1 - r0), type, left, 1,
                          MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    free(tmp);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(rc, "comm_allreduce_sum");
}
#endif

int comm_allreduce_sum(float *buf, int64_t n)
{
    if (g_size == 1 || n <= 0) return 0;
#ifdef BIENC_HAVE_MPI
    return ring_allreduce(buf, n, sizeof(float), MPI_FLOAT, 0);
#else
    return 0;
#endif
}

int comm_allreduce_sum_f64(double *buf, int64_t n)
{
    if (g_size == 1 || n <= 0) return 0;
#ifdef BIENC_HAVE_MPI
    return ring_allreduce(buf, n, sizeof(double), MPI_DOUBLE, 1);
#else
    return 0;
#endif
}

int comm_allgatherv(const void *send, void *recv, const int64_t *bytes)
{
    if (g_size == 1) {
        if (bytes[0] > 0) memcpy(recv, send, (size_t)bytes[0]);
        return 0;
    }
#ifdef BIENC_HAVE_MPI
    int *counts = malloc(2 * (size_t)g_size * sizeof *counts);
    if (!counts) return bienc_error(BIENC_ENOMEM, "comm_allgatherv: out of memory");
    int *displs = counts + g_size;
    int64_t off = 0;
    for (int r = 0; r < g_size; r++) {
        if (bytes[r] < 0 || bytes[r] > INT_MAX || off > INT_MAX) {
            free(counts);
            return bienc_error(BIENC_ERANGE, "comm_allgatherv: %lld bytes from rank %d exceed MPI's int count",
                               (long long)bytes[r], r);
        }
        counts[r] = (int)bytes[r];
        displs[r] = (int)off;
        off += bytes[r];
    }
    int rc = MPI_Allgatherv(send, counts[g_rank], MPI_BYTE, recv, counts, displs, MPI_BYTE, MPI_COMM_WORLD);
    free(counts);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(rc, "comm_allgatherv");
#else
    return 0;
#endif
}

int comm_bcast(void *buf, int64_t bytes, int root)
{
    if (g_size == 1) return 0;
#ifdef BIENC_HAVE_MPI
    if (bytes < 0 || bytes > INT_MAX) return bienc_error(BIENC_ERANGE, "comm_bcast: %lld bytes", (long long)bytes);
    int rc = MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(rc, "comm_bcast");
#else
    return 0;
#endif
}

int comm_barrier(void)
{
    if (g_size == 1) return 0;
#ifdef BIENC_HAVE_MPI
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(rc, "comm_barrier");
#else
    return 0;
#endif
}
