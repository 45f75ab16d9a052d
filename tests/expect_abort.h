/* EXPECT_ABORT(call): the call must stop the program through BIENC_ASSERT (a programmer
 * error inside the library aborts with file:line). The call runs in a forked child with
 * stderr silenced; the test fails unless the child died of SIGABRT. Use only for calls that
 * abort before any OpenMP region (libgomp's pool does not survive a fork). */
#ifndef BIENC_TEST_EXPECT_ABORT_H
#define BIENC_TEST_EXPECT_ABORT_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXPECT_ABORT(call)                                                                  \
    do {                                                                                    \
        fflush(NULL);                                                                       \
        pid_t expect_abort_pid_ = fork();                                                   \
        assert_true(expect_abort_pid_ >= 0);                                                \
        if (expect_abort_pid_ == 0) {                                                       \
            int expect_abort_fd_ = open("/dev/null", O_WRONLY);                             \
            if (expect_abort_fd_ >= 0) dup2(expect_abort_fd_, 2);                           \
            (void)(call);                                                                   \
            _exit(0);                                                                       \
        }                                                                                   \
        int expect_abort_st_ = 0;                                                           \
        assert_int_equal(waitpid(expect_abort_pid_, &expect_abort_st_, 0), expect_abort_pid_); \
        if (!(WIFSIGNALED(expect_abort_st_) && WTERMSIG(expect_abort_st_) == SIGABRT))      \
            fail_msg("%s did not abort", #call);                                            \
    } while (0)

#endif
