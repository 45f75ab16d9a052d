#include <stdio.h>
#include <stdlib.h>

#include "core/cpu.h"
#include "core/version.h"
#include "cli/commands.h"
#include "core/comm.h"

int cmd_version(int argc, char **argv)
{
    bienc_cpu_features f;
    cpu_features(&f);
    const char *env = getenv("OPENBLAS_CORETYPE");
    printf("bienc %s\n", BIENC_VERSION_STRING);
    printf("cpu: avx2=%d fma=%d avx512f=%d avx512bw=%d avx512vl=%d avx512_bf16=%d avx512_vnni=%d amx_bf16=%d\n", f.avx2,
           f.fma, f.avx512f, f.avx512bw, f.avx512vl, f.avx512_bf16, f.avx512_vnni, f.amx_bf16);
    const char *forced = getenv("BIENC_BF16_PATH");
    printf("bf16: %s path (BIENC_BF16_PATH=%s)%s\n", cpu_bf16_path_name(cpu_bf16_path()), forced ? forced : "unset",
           f.amx_bf16 ? "; AMX present but no AMX kernel in this build" : "");
    const char *forced_i8 = getenv("BIENC_I8_PATH");
    printf("int8: %s path (BIENC_I8_PATH=%s)\n", cpu_i8_path_name(cpu_i8_path()), forced_i8 ? forced_i8 : "unset");
    printf("blas: OpenBLAS kernel %s (OPENBLAS_CORETYPE=%s)\n", cpu_blas_corename(), env ? env : "unset");
    printf("threads: %d\n", cpu_get_threads());
    printf("mpi: %s (rank %d of %d)\n", comm_has_mpi() ? "yes" : "no, one process only", comm_rank(), comm_size());
    return 0;
}
