/* The process group of a data-parallel run: rank, size and the few collectives the
 * trainer and the sharded encoder need. One interface, two implementations chosen at
 * build time (src/core/comm.c): MPI when CMake found it (BIENC_HAVE_MPI), else a single
 * process. Even an MPI build runs as one process unless it was started by a launcher
 * (mpirun sets OMPI_COMM_WORLD_SIZE / PMI_SIZE / PMIX_RANK): `bienc train` alone needs no
 * MPI runtime at all.
 *
 * Every collective is called by every rank in the same order (the caller's duty), from the
 * thread that called comm_init. Results are bit-reproducible for a given size: the sums
 * are reduced in an order fixed by (size, n), never by message timing.
 *
 *     comm_init();                       // idempotent; comm_rank() == 0, comm_size() == 1 alone
 *     comm_allreduce_sum(grad, n);       // every rank now holds the same sum
 *     comm_finalize();                   // before the process exits */
#ifndef BIENC_CORE_COMM_H
#define BIENC_CORE_COMM_H

#include <stddef.h>
#include <stdint.h>

/* Joins the launcher's process group (MPI_Init_thread, FUNNELED) when there is one.
 * 0 or a negative status. Later calls return 0 at once. */
int comm_init(void);
/* Leaves it (MPI_Finalize); a no-op without MPI or when comm_init never ran. */
void comm_finalize(void);
/* Ends every rank of the group with `code` (MPI_Abort): the CLI's way out when one rank
 * failed while the others wait in a collective. Returns only when alone. */
void comm_abort(int code);

int comm_rank(void);
int comm_size(void);
/* Whether this build has MPI (`bienc version` prints it). */
int comm_has_mpi(void);

/* buf[n] = the element-wise sum of every rank's buf[n], the same bits on every rank: a
 * ring reduce-scatter then a ring all-gather (what the step-time model in README assumes),
 * so chunk c is summed in the fixed rank order c+1, c+2, ..., c (mod size). */
int comm_allreduce_sum(float *buf, int64_t n);
/* The same for doubles (loss sums and counters; small n). */
int comm_allreduce_sum_f64(double *buf, int64_t n);
/* recv = the ranks' send buffers one after another in rank order; rank r sends
 * bytes[r] bytes (every rank passes the same bytes[size]). send may alias nothing in recv. */
int comm_allgatherv(const void *send, void *recv, const int64_t *bytes);
/* buf[bytes] of `root` copied to every rank. */
int comm_bcast(void *buf, int64_t bytes, int root);
int comm_barrier(void);

#endif
