/* .npy load and save through MPI-IO, against numpy and against a formula:
 * files numpy wrote (float64/int64/float32, C and Fortran order, versions
 * 1.0-3.0, 0-D/1-D/2-D, empty and awkward shapes) load on every grid and
 * several tile sizes; files Tessera wrote load in numpy and back in Tessera
 * on another distribution; broken files are TSR_ERR_IO naming the file, with
 * the same message on every rank; failed saves leave an old file as it was
 * and no temporary file behind.
 *
 * Values: element k (flat C-order index) is k * 0.5 - 7 (k - 7 for int64),
 * exactly representable in every dtype used here. */
#include <dirent.h>
#include <errno.h>
#include <mpi.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "array/npy_io.h"
#include "harness.h"

#ifndef TSR_NPY_CHECK
#define TSR_NPY_CHECK "tests/array/npy_check.py"
#endif
#define PYTHON "/usr/bin/python3"

static int rank, nranks, have_numpy;
static char dir[256];

static double value(int64_t k, int is_int) {
    return is_int ? (double)(k - 7) : (double)k * 0.5 - 7;
}

/* Rank 0 runs a shell command; every rank gets its exit status. The test
 * calls this only between operations that waited, so a blocking MPI call
 * is safe here. */
static int run0(const char *fmt, ...) TSR_PRINTF(1, 2);
static int run0(const char *fmt, ...) {
    int st = 0;
    if (rank == 0) {
        char cmd[16384];
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

static void sync_all(void) { MPI_Barrier(MPI_COMM_WORLD); }

/* Gather a to rank 0 and compare with the formula. */
static void check_values(tsr_array_t *a, int64_t m, int64_t n, int is_int, const char *what) {
    int64_t gm, gn;
    tsr_array_shape(a, &gm, &gn);
    if (gm != m || gn != n)
        TEST_FAIL("%s: shape (%lld, %lld), want (%lld, %lld)", what, (long long)gm, (long long)gn,
                  (long long)m, (long long)n);
    double *buf = rank == 0 ? malloc(sizeof(double) * (size_t)(m * n + 1)) : NULL;
    ASSERT_OK(tsr_array_gather(a, 0, buf));
    if (rank == 0)
        for (int64_t k = 0; k < m * n; k++)
            if (buf[k] != value(k, is_int))
                TEST_FAIL("%s: element %lld is %.17g, want %.17g", what, (long long)k, buf[k],
                          value(k, is_int));
    free(buf);
}

/* The message after "rank R: " must be the same on every rank. */
static void check_same_everywhere(const char *msg) {
    char mine[1024], root[1024];
    const char *p = strstr(msg, ": ");
    snprintf(mine, sizeof mine, "%s", p ? p + 2 : msg);
    memcpy(root, mine, sizeof root);
    MPI_Bcast(root, (int)sizeof root, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (strcmp(root, mine) != 0) TEST_FAIL("rank 0 says '%.400s', this rank '%.400s'", root, mine);
}

static void expect_io_error(int rc, const char *path, const char *why) {
    char prefix[32];
    if (rc != TSR_ERR_IO)
        TEST_FAIL("%s: got %s, want TSR_ERR_IO (%s)", path, tsr_status_string(rc),
                  tsr_error_message());
    snprintf(prefix, sizeof prefix, "rank %d: ", rank);
    const char *msg = tsr_error_message();
    ASSERT_TRUE(strncmp(msg, prefix, strlen(prefix)) == 0);
    ASSERT_CONTAINS(msg, path);
    ASSERT_CONTAINS(msg, why);
    check_same_everywhere(msg);
}

/* No ".NAME.tmp.*" left in the test directory. */
static void check_no_temp(void) {
    if (rank != 0) return;
    DIR *dp = opendir(dir);
    ASSERT_TRUE(dp != NULL);
    struct dirent *e;
    while ((e = readdir(dp)) != NULL)
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            TEST_FAIL("temporary file %s/%s left behind", dir, e->d_name);
    closedir(dp);
}

/* Rank 0 writes a raw file: a header with this dict (version v, padded to
 * 64) followed by `data` zero bytes; cut > 0 keeps only the first cut bytes
 * of the header (CUT_ALL: none). */
#define CUT_ALL ((size_t)-1)
static void write_raw(const char *name, int v, const char *dict, size_t data, size_t cut) {
    if (rank == 0) {
        char path[512], buf[1024];
        size_t pre = v == 1 ? 10 : 12, dl = strlen(dict);
        size_t total = (pre + dl + 1 + 63) / 64 * 64, hl = total - pre;
        memcpy(buf, "\x93NUMPY", 6);
        buf[6] = (char)v;
        buf[7] = 0;
        for (size_t k = 0; k < pre - 8; k++) buf[8 + k] = (char)((hl >> (8 * k)) & 0xff);
        memcpy(buf + pre, dict, dl);
        memset(buf + pre + dl, ' ', total - pre - dl - 1);
        buf[total - 1] = '\n';
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "wb");
        ASSERT_TRUE(f != NULL);
        size_t keep = cut == CUT_ALL ? 0 : cut ? cut : total;
        ASSERT_EQ(fwrite(buf, 1, keep, f), keep);
        for (size_t k = 0; k < data && !cut; k++) fputc(0, f);
        fclose(f);
    }
    sync_all();
}

typedef struct tiles {
    int64_t mb, nb;
} tiles;
static const tiles tile_sizes[] = {{2, 3}, {4, 4}, {16, 16}, {1, 1}, {3, 2}, {5, 7}};
#define NTILES (sizeof tile_sizes / sizeof tile_sizes[0])

/* Distributions, made once: each one is a BLACS grid (communicators). */
static struct {
    int P;
    int64_t mb, nb;
    tsr_dist_t *d;
} dists[64];
static int ndists;

static tsr_dist_t *dist(int P, int64_t mb, int64_t nb) {
    for (int k = 0; k < ndists; k++)
        if (dists[k].P == P && dists[k].mb == mb && dists[k].nb == nb) return dists[k].d;
    ASSERT_TRUE(ndists < 64);
    dists[ndists].P = P;
    dists[ndists].mb = mb;
    dists[ndists].nb = nb;
    ASSERT_OK(tsr_dist_create(P, nranks / P, mb, nb, &dists[ndists].d));
    return dists[ndists++].d;
}

static void load_numpy_files(void) {
    static const char *dtypes[] = {"f8", "i8", "f4"};
    static const char *orders[] = {"C", "F"};
    /* Every shape for float64; the converted dtypes take the first few. */
    static const char *shapes[] = {"7x5", "2x40", "11", "-", "9x1", "1x9", "3x3", "13x17", "0x4",
                                   "4x0", "1", "0"};
    enum { NS = sizeof shapes / sizeof shapes[0], NS_CONVERTED = 5 };
    char specs[3 * 2 * NS][32];
    char cmd[8192];
    int ns = 0;
    size_t off = (size_t)snprintf(cmd, sizeof cmd, "%s %s make %s", PYTHON, TSR_NPY_CHECK, dir);
    for (int d = 0; d < 3; d++)
        for (int o = 0; o < 2; o++)
            for (int s = 0; s < (d == 0 ? NS : NS_CONVERTED); s++, ns++) {
                snprintf(specs[ns], sizeof specs[ns], "%s:%s:%d:%s", dtypes[d], orders[o],
                         1 + ns % 3, shapes[s]);
                off += (size_t)snprintf(cmd + off, sizeof cmd - off, " %s", specs[ns]);
            }
    ASSERT_EQ(run0("%s", cmd), 0);

    for (int f = 0; f < ns; f++) {
        char path[512], name[32];
        memcpy(name, specs[f], sizeof name);
        for (char *c = name; *c; c++)
            if (*c == ':') *c = '_';
        snprintf(path, sizeof path, "%s/%s.npy", dir, name);
        const char *shape = strrchr(specs[f], ':') + 1;
        int64_t m = 1, n = 1;
        if (strchr(shape, 'x'))
            sscanf(shape, "%lldx%lld", (long long *)&m, (long long *)&n);
        else if (strcmp(shape, "-") != 0)
            sscanf(shape, "%lld", (long long *)&m);
        int is_int = specs[f][0] == 'i';
        /* One grid per file, taking turns through every P x Q and tile
         * size: each (dtype, order) pair meets every grid. */
        int grids[8], ngrids = 0;
        for (int P = 1; P <= nranks; P++)
            if (nranks % P == 0) grids[ngrids++] = P;
        int P = grids[f % ngrids];
        const tiles *t = &tile_sizes[(size_t)(f / ngrids) % NTILES];
        tsr_array_t *a;
        /* Every other file moves in chunks of one run (row or column). */
        tsr__npy_set_chunk_bytes(f % 2 ? 8 : 0);
        ASSERT_OK(tsr_array_load(dist(P, t->mb, t->nb), path, &a));
        tsr__npy_set_chunk_bytes(0);
        char what[600];
        snprintf(what, sizeof what, "%s on %d x %d, tiles %lld x %lld", path, P, nranks / P,
                 (long long)t->mb, (long long)t->nb);
        check_values(a, m, n, is_int, what);
        tsr_array_free(&a);
    }
}

/* The most square grid's P (P <= Q). */
static int grids_last(void) {
    int best = 1;
    for (int P = 1; P * P <= nranks; P++)
        if (nranks % P == 0) best = P;
    return best;
}

/* Tessera writes; numpy and Tessera (on another distribution) read back. */
static void save_and_check(void) {
    static const int64_t shapes[][2] = {{7, 5}, {1, 9}, {9, 1}, {13, 17}, {0, 3}, {3, 3}, {2, 40}};
    char cmd[8192];
    size_t off = (size_t)snprintf(cmd, sizeof cmd, "%s %s check", PYTHON, TSR_NPY_CHECK);
    int grids[8], ngrids = 0;
    for (int P = 1; P <= nranks; P++)
        if (nranks % P == 0) grids[ngrids++] = P;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1];
        double *whole = malloc(sizeof(double) * (size_t)(m * n + 1));
        for (int64_t k = 0; k < m * n; k++) whole[k] = value(k, 0);
        /* One grid per shape, taking turns; read back on another. */
        int P = grids[s % (size_t)ngrids];
        const tiles *t = &tile_sizes[s % NTILES], *t2 = &tile_sizes[(s + 3) % NTILES];
        tsr_dist_t *d = dist(P, t->mb, t->nb), *d2 = dist(grids_last(), t2->mb, t2->nb);
        tsr_array_t *a, *b;
        char path[512];
        snprintf(path, sizeof path, "%s/saved_%lldx%lld.npy", dir, (long long)m, (long long)n);
        ASSERT_OK(tsr_array_scatter(d, m, n, rank == 0 ? whole : NULL, 0, &a));
        /* Small chunks: several collective writes of a few rows each. */
        tsr__npy_set_chunk_bytes(s % 2 ? 3 * 8 * (size_t)n : 0);
        ASSERT_OK(tsr_array_save(a, path));
        tsr__npy_set_chunk_bytes(0);
        ASSERT_OK(tsr_array_load(d2, path, &b));
        check_values(b, m, n, 0, path);
        tsr_array_free(&b);
        /* Saving over an existing file replaces it. */
        if (s == 0) ASSERT_OK(tsr_array_save(a, path));
        off += (size_t)snprintf(cmd + off, sizeof cmd - off, " %s %lld %lld", path, (long long)m,
                                (long long)n);
        tsr_array_free(&a);
        free(whole);
    }
    if (have_numpy) ASSERT_EQ(run0("%s", cmd), 0);
    check_no_temp();

    /* Random data survives a round trip bit for bit, across distributions. */
    tsr_dist_t *d, *d2;
    tsr_array_t *a, *b;
    char path[512];
    snprintf(path, sizeof path, "%s/random.npy", dir);
    ASSERT_OK(tsr_dist_create(0, 0, 4, 3, &d));
    ASSERT_OK(tsr_dist_create(nranks, 1, 5, 8, &d2));
    ASSERT_OK(tsr_array_random_normal(d, 33, 21, 7, 0.0, 1e10, &a));
    ASSERT_OK(tsr_array_save(a, path));
    ASSERT_OK(tsr_array_load(d2, path, &b));
    double *x = rank == 0 ? malloc(sizeof(double) * 33 * 21) : NULL;
    double *y = rank == 0 ? malloc(sizeof(double) * 33 * 21) : NULL;
    ASSERT_OK(tsr_array_gather(a, 0, x));
    ASSERT_OK(tsr_array_gather(b, 0, y));
    if (rank == 0) ASSERT_TRUE(memcmp(x, y, sizeof(double) * 33 * 21) == 0);
    free(x);
    free(y);
    tsr_array_free(&a);
    tsr_array_free(&b);
    tsr_dist_free(&d);
    tsr_dist_free(&d2);
}

/* A rank may still wait for this rank's tasks when load and save start
 * here: c = a b needs panels from other ranks, and the last rank waits for
 * its part of c alone while the others go on to load. They must keep
 * running tasks (helping waits) rather than block in MPI-IO. */
static void with_pending_work(void) {
    tsr_dist_t *d = dist(grids_last(), 4, 4);
    tsr_array_t *a, *b, *c, *e, *f;
    char path[512], other[512];
    snprintf(path, sizeof path, "%s/product.npy", dir);
    snprintf(other, sizeof other, "%s/saved_7x5.npy", dir);
    ASSERT_OK(tsr_array_random_uniform(d, 30, 30, 1, -1.0, 1.0, &a));
    ASSERT_OK(tsr_array_random_uniform(d, 30, 30, 2, -1.0, 1.0, &b));
    ASSERT_OK(tsr_matmul(a, b, &c));
    if (rank == nranks - 1) ASSERT_OK(tsr_array_wait(c));
    ASSERT_OK(tsr_array_load(d, other, &e));
    check_values(e, 7, 5, 0, other);
    ASSERT_OK(tsr_matmul(a, b, &f));
    if (rank == nranks - 1) ASSERT_OK(tsr_array_wait(f));
    ASSERT_OK(tsr_array_save(c, path));
    tsr_array_free(&e);
    ASSERT_OK(tsr_array_load(d, path, &e));
    double *x = rank == 0 ? malloc(sizeof(double) * 900) : NULL;
    double *y = rank == 0 ? malloc(sizeof(double) * 900) : NULL;
    ASSERT_OK(tsr_array_gather(f, 0, x));
    ASSERT_OK(tsr_array_gather(e, 0, y));
    if (rank == 0) ASSERT_TRUE(memcmp(x, y, sizeof(double) * 900) == 0);
    free(x);
    free(y);
    tsr_array_free(&a);
    tsr_array_free(&b);
    tsr_array_free(&c);
    tsr_array_free(&e);
    tsr_array_free(&f);
}

static void free_dists(void) {
    for (int k = 0; k < ndists; k++) tsr_dist_free(&dists[k].d);
    ndists = 0;
}

static void broken_files(void) {
    tsr_dist_t *d;
    tsr_array_t *a = NULL;
    char path[512];
    ASSERT_OK(tsr_dist_create(0, 0, 2, 2, &d));
    struct {
        const char *name, *dict, *why;
        int version;
        size_t data, cut;
    } cases[] = {
        {"big_endian.npy", "{'descr': '>f8', 'fortran_order': False, 'shape': (3, 4), }",
         "big-endian", 1, 96, 0},
        {"complex.npy", "{'descr': '<c16', 'fortran_order': False, 'shape': (3, 4), }",
         "'<c16' is not supported", 1, 192, 0},
        {"three_d.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), }",
         "3 dimensions", 1, 192, 0},
        {"truncated.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (100, 3), }",
         "file is truncated: header says (100, 3) float64 = 2400 bytes of data, file has 1000", 1,
         1000, 0},
        {"long.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }",
         "(5,) float32 = 20 bytes of data, file has 24", 2, 24, 0},
        {"cut_header.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }",
         "truncated header", 1, 0, 40},
        {"tiny.npy", "{}", "truncated header", 1, 0, 9},
        {"empty.npy", "{}", "not a .npy file", 1, 0, CUT_ALL},
        {"no_shape.npy", "{'descr': '<f8', 'fortran_order': False, }", "lacks 'shape'", 3, 0, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        write_raw(cases[c].name, cases[c].version, cases[c].dict, cases[c].data, cases[c].cut);
        snprintf(path, sizeof path, "%s/%s", dir, cases[c].name);
        expect_io_error(tsr_array_load(d, path, &a), path, cases[c].why);
        ASSERT_TRUE(a == NULL);
    }
    /* Bad magic: a numpy file with its first byte changed. */
    write_raw("magic.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", 8, 0);
    if (rank == 0) {
        snprintf(path, sizeof path, "%s/magic.npy", dir);
        FILE *f = fopen(path, "r+b");
        fputc('X', f);
        fclose(f);
    }
    sync_all();
    snprintf(path, sizeof path, "%s/magic.npy", dir);
    expect_io_error(tsr_array_load(d, path, &a), path, "not a .npy file");
    snprintf(path, sizeof path, "%s/missing.npy", dir);
    expect_io_error(tsr_array_load(d, path, &a), path, "No such file");
    expect_io_error(tsr_array_load(d, dir, &a), dir, "not a regular file");
    ASSERT_STATUS(tsr_array_load(d, NULL, &a), TSR_ERR_INVALID);
    tsr_dist_free(&d);
}

static void read_file(const char *path, char **buf, long *len) {
    FILE *f = fopen(path, "rb");
    ASSERT_TRUE(f != NULL);
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc((size_t)*len + 1);
    ASSERT_EQ(fread(*buf, 1, (size_t)*len, f), *len);
    fclose(f);
}

static void failed_saves(void) {
    tsr_dist_t *d;
    tsr_array_t *small, *big;
    char path[512], keep[512];
    ASSERT_OK(tsr_dist_create(0, 0, 8, 8, &d));
    ASSERT_OK(tsr_array_full(d, 3, 2, 1.5, &small));
    ASSERT_OK(tsr_array_random_uniform(d, 100, 60, 3, 0.0, 1.0, &big));

    /* A directory that does not exist, and one that cannot be written:
     * refused before any data is written. Root may write anywhere it can
     * chmod, so it gets /sys, which refuses new files even to root. */
    snprintf(path, sizeof path, "%s/no/such/dir/x.npy", dir);
    expect_io_error(tsr_array_save(small, path), path, "cannot create a file in directory");
    if (geteuid() != 0) {
        /* An old file in a directory made read-only stays as it was. */
        char ro[300];
        snprintf(ro, sizeof ro, "%s/readonly", dir);
        snprintf(path, sizeof path, "%s/x.npy", ro);
        if (rank == 0) ASSERT_TRUE(mkdir(ro, 0755) == 0);
        sync_all();
        ASSERT_OK(tsr_array_save(big, path));
        if (rank == 0) ASSERT_TRUE(chmod(ro, 0555) == 0);
        sync_all();
        expect_io_error(tsr_array_save(small, path), path, "Permission denied");
        tsr_array_t *back;
        ASSERT_OK(tsr_array_load(d, path, &back));
        int64_t bm;
        tsr_array_shape(back, &bm, NULL);
        ASSERT_EQ(bm, 100);
        tsr_array_free(&back);
        sync_all();
        if (rank == 0) {
            chmod(ro, 0755);
            unlink(path);
            rmdir(ro);
        }
    } else if (access("/sys", F_OK) == 0) {
        snprintf(path, sizeof path, "/sys/tessera-npy-test.npy");
        expect_io_error(tsr_array_save(small, path), path, "cannot create a file in directory");
    }
    /* A directory in the way. */
    expect_io_error(tsr_array_save(small, dir), dir, "it is a directory");

    /* A save that fails half way on one rank (a file size limit stops the
     * last rank's writes) fails on every rank, and leaves the old file byte
     * for byte and no temporary file. */
    snprintf(keep, sizeof keep, "%s/keep.npy", dir);
    ASSERT_OK(tsr_array_save(small, keep));
    char *before = NULL, *after = NULL;
    long lb = 0, la = 0;
    if (rank == 0) read_file(keep, &before, &lb);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    ASSERT_TRUE(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 4096;
    if (rank == nranks - 1) ASSERT_TRUE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    int rc = tsr_array_save(big, keep);
    ASSERT_TRUE(setrlimit(RLIMIT_FSIZE, &old) == 0);
    expect_io_error(rc, keep, "file size limit?");
    if (rank == 0) {
        read_file(keep, &after, &la);
        ASSERT_EQ(la, lb);
        ASSERT_TRUE(memcmp(before, after, (size_t)lb) == 0);
        printf("  failed save said: %s\n", tsr_error_message());
    }
    free(before);
    free(after);
    sync_all();
    check_no_temp();
    /* The same save without the limit works. */
    ASSERT_OK(tsr_array_save(big, keep));
    check_no_temp();

    /* Saving through a symbolic link replaces the file it names. */
    char link[512];
    snprintf(link, sizeof link, "%s/link.npy", dir);
    if (rank == 0) ASSERT_TRUE(symlink("keep.npy", link) == 0);
    sync_all();
    ASSERT_OK(tsr_array_save(small, link));
    if (rank == 0) {
        struct stat st;
        ASSERT_TRUE(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    }
    tsr_array_t *back;
    ASSERT_OK(tsr_array_load(d, keep, &back));
    int64_t bm, bn;
    tsr_array_shape(back, &bm, &bn);
    ASSERT_EQ(bm, 3);
    ASSERT_EQ(bn, 2);
    tsr_array_free(&back);
    check_no_temp();
    tsr_array_free(&small);
    tsr_array_free(&big);
    tsr_dist_free(&d);
}

int main(int argc, char **argv) {
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    rank = tsr_rank();
    nranks = tsr_nranks();
    if (rank == 0) {
        snprintf(dir, sizeof dir, "/tmp/tsr-npy-XXXXXX");
        ASSERT_TRUE(mkdtemp(dir) != NULL);
    }
    MPI_Bcast(dir, (int)sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    have_numpy = run0("%s -c 'import numpy' 2>/dev/null", PYTHON) == 0;
    if (!have_numpy && rank == 0)
        printf("  %s has no numpy: skipping the numpy cross-checks\n", PYTHON);

    if (have_numpy) load_numpy_files();
    save_and_check();
    with_pending_work();
    broken_files();
    failed_saves();
    free_dists();

    run0("rm -rf '%s'", dir);
    ASSERT_OK(tsr_finalize());
    if (rank == 0) printf("array npy: ok on %d ranks\n", nranks);
    return 0;
}
