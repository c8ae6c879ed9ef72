/* tsr_npy_info on 0-D, 1-D and 2-D files written by numpy (and float32 /
 * int64 / Fortran order), and its errors against tsr_array_load's texts;
 * tsr_array_save_nd: 1-D files from n x 1 and 1 x n arrays that numpy reads
 * with shape (n,) and the right values, read back by tsr_array_load as
 * n x 1, ndim 2 as tsr_array_save, and the refusals (not 1-D, bad ndim)
 * leaving no file behind. */
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mpi.h>

#include "harness.h"

#ifndef TSR_NPY_CHECK
#define TSR_NPY_CHECK "tests/array/npy_check.py"
#endif
#define PYTHON "/usr/bin/python3"

static int rank, nranks, have_numpy;
static char dir[256];

static int run0(const char *fmt, ...) TSR_PRINTF(1, 2);
static int run0(const char *fmt, ...) {
    int st = 0;
    if (rank == 0) {
        char cmd[8192];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof cmd, fmt, ap);
        va_end(ap);
        st = system(cmd);
        st = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return st;
}

/* The message after "rank R: tsr_array_load: ". */
static const char *strip(const char *msg) {
    const char *p = strstr(msg, "tsr_array_load: ");
    return p ? p + strlen("tsr_array_load: ") : msg;
}

static void info_ok(const char *name, int ndim, int64_t m, int64_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    int gd = -1;
    int64_t gm = -1, gn = -1;
    ASSERT_OK(tsr_npy_info(path, &gd, &gm, &gn));
    if (gd != ndim || gm != m || gn != n)
        TEST_FAIL("tsr_npy_info(%s): ndim %d, %lld x %lld; want ndim %d, %lld x %lld", path, gd,
                  (long long)gm, (long long)gn, ndim, (long long)m, (long long)n);
}

/* tsr_npy_info and tsr_array_load fail alike (load's text after its prefix). */
static void info_err(const char *path, const char *want) {
    int gd;
    int64_t gm, gn;
    char info_msg[400];
    ASSERT_STATUS(tsr_npy_info(path, &gd, &gm, &gn), TSR_ERR_IO);
    snprintf(info_msg, sizeof info_msg, "%s", tsr_error_message());
    if (!strstr(info_msg, want)) TEST_FAIL("tsr_npy_info(%s): '%s' lacks '%s'", path, info_msg, want);
    tsr_dist_t *d;
    tsr_array_t *a = NULL;
    ASSERT_OK(tsr_dist_create(0, 0, 2, 2, &d));
    ASSERT_STATUS(tsr_array_load(d, path, &a), TSR_ERR_IO);
    if (strcmp(strip(tsr_error_message()), info_msg) != 0)
        TEST_FAIL("tsr_npy_info says '%s', tsr_array_load '%s'", info_msg, tsr_error_message());
    tsr_dist_free(&d);
}

static void infos(void) {
    if (have_numpy) {
        ASSERT_EQ(run0("%s %s make %s f8:C:1:7x5 f8:F:2:3x4 i8:C:1:11 f4:C:3:- f8:C:1:0 f8:C:1:0x4 "
                       "f8:C:1:1x9",
                       PYTHON, TSR_NPY_CHECK, dir),
                  0);
        MPI_Barrier(MPI_COMM_WORLD);
        info_ok("f8_C_1_7x5", 2, 7, 5);
        info_ok("f8_F_2_3x4", 2, 3, 4);
        info_ok("i8_C_1_11", 1, 11, 1);
        info_ok("f4_C_3_-", 0, 1, 1);
        info_ok("f8_C_1_0", 1, 0, 1);
        info_ok("f8_C_1_0x4", 2, 0, 4);
        info_ok("f8_C_1_1x9", 2, 1, 9);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/missing.npy", dir);
    info_err(path, "missing.npy: cannot open it: No such file or directory");
    snprintf(path, sizeof path, "%s/text.npy", dir);
    if (rank == 0) {
        FILE *f = fopen(path, "w");
        ASSERT_TRUE(f != NULL);
        fputs("hello, not numpy\n", f);
        fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    info_err(path, "text.npy: ");
    info_err(dir, "it is not a regular file");
    if (have_numpy) {
        /* Truncated: the header promises more data than there is. */
        snprintf(path, sizeof path, "%s/f8_C_1_7x5.npy", dir);
        char cut[600];
        snprintf(cut, sizeof cut, "%s/cut.npy", dir);
        ASSERT_EQ(run0("head -c 150 %s > %s", path, cut), 0);
        info_err(cut, "file is truncated");
    }
}

static void saves(void) {
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(0, 0, 3, 2, &d));
    static const int64_t shapes[][2] = {{11, 1}, {1, 9}, {1, 1}, {0, 1}, {7, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], len = m * n;
        tsr_array_t *a, *b;
        ASSERT_OK(tsr_array_arange(d, len, -3.0, 0.5, &a));
        if (n > 1) { /* 1 x n: the transpose of the n x 1 arange */
            tsr_array_t *t;
            ASSERT_OK(tsr_array_transpose(a, &t));
            tsr_array_free(&a);
            a = t;
        }
        char path[512];
        snprintf(path, sizeof path, "%s/one_%lldx%lld.npy", dir, (long long)m, (long long)n);
        ASSERT_OK(tsr_array_save_nd(a, path, 1));
        if (have_numpy)
            ASSERT_EQ(run0("%s -c 'import numpy as np, sys; a = np.load(\"%s\"); "
                           "sys.exit(0 if a.shape == (%lld,) and a.dtype == np.float64 and "
                           "(a == np.arange(%lld) * 0.5 - 3).all() else "
                           "print(\"numpy read\", a.shape, a) or 1)'",
                           PYTHON, path, (long long)len, (long long)len),
                      0);
        int gd;
        int64_t gm, gn;
        ASSERT_OK(tsr_npy_info(path, &gd, &gm, &gn));
        ASSERT_EQ(gd, 1);
        ASSERT_EQ(gm, len);
        ASSERT_EQ(gn, 1);
        ASSERT_OK(tsr_array_load(d, path, &b));
        int64_t bm, bn;
        tsr_array_shape(b, &bm, &bn);
        ASSERT_EQ(bm, len);
        ASSERT_EQ(bn, 1);
        double *buf = malloc(sizeof(double) * (size_t)(len + 1));
        ASSERT_OK(tsr_array_gather(b, 0, rank == 0 ? buf : NULL));
        if (rank == 0)
            for (int64_t k = 0; k < len; k++) ASSERT_TRUE(buf[k] == -3.0 + 0.5 * (double)k);
        free(buf);
        tsr_array_free(&b);
        /* ndim 2 is tsr_array_save: shape (m, n). */
        ASSERT_OK(tsr_array_save_nd(a, path, 2));
        ASSERT_OK(tsr_npy_info(path, &gd, &gm, &gn));
        ASSERT_EQ(gd, 2);
        ASSERT_EQ(gm, m);
        ASSERT_EQ(gn, n);
        tsr_array_free(&a);
    }
    /* Refusals: not 1-D, bad ndim; nothing is written. */
    tsr_array_t *a;
    ASSERT_OK(tsr_array_zeros(d, 3, 2, &a));
    char path[512];
    snprintf(path, sizeof path, "%s/never.npy", dir);
    ASSERT_STATUS(tsr_array_save_nd(a, path, 1), TSR_ERR_SHAPE);
    ASSERT_TRUE(strstr(tsr_error_message(), "(3, 2)") != NULL);
    ASSERT_STATUS(tsr_array_save_nd(a, path, 3), TSR_ERR_INVALID);
    ASSERT_STATUS(tsr_array_save_nd(a, path, 0), TSR_ERR_INVALID);
    ASSERT_TRUE(access(path, F_OK) != 0);
    tsr_array_free(&a);
    ASSERT_OK(tsr_fence());
    tsr_dist_free(&d);
}

int main(int argc, char **argv) {
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    rank = tsr_rank();
    nranks = tsr_nranks();
    if (rank == 0) {
        snprintf(dir, sizeof dir, "/tmp/tsr-npynd-XXXXXX");
        ASSERT_TRUE(mkdtemp(dir) != NULL);
    }
    MPI_Bcast(dir, (int)sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    have_numpy = run0("%s -c 'import numpy' 2>/dev/null", PYTHON) == 0;
    if (!have_numpy && rank == 0)
        printf("  %s has no numpy: skipping the numpy cross-checks\n", PYTHON);
    infos();
    saves();
    MPI_Barrier(MPI_COMM_WORLD);
    run0("rm -rf %s", dir);
    ASSERT_OK(tsr_finalize());
    if (rank == 0) printf("array npy_nd (tsr_npy_info, tsr_array_save_nd): ok on %d ranks\n", nranks);
    return 0;
}
