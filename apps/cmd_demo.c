/* tessera demo: distributed arrays end to end, checking their own answers.
 *
 *   every rank     A (n x n) and x (n) random on a P x Q grid of tiles
 *                  y = A x and C = A A^T (tsr_matmul, tsr_array_transpose)
 *                  z = tanh(y) + 0.5 y*y (one fused element-wise pass)
 *                  ||z|| and ||C||_F (reductions: tile partials, tree over ranks)
 *                  C saved as C.npy (MPI-IO, each rank writes its own tiles)
 *   rank 0         gathers A, x, y, z and C and recomputes with plain loops:
 *                  y, z and the norms in full, C in all rows up to n = 512 and
 *                  in 64 spread rows above that (every column, so every row of
 *                  A too), and reads C.npy back; prints OK or MISMATCH.
 *
 * The matrix products are checked against the rigorous bound for a sum of
 * n products in any order, n * DBL_EPSILON * sum |a_ik b_kj|, so a correct
 * result never fails however BLAS blocks its sums; an error in one element
 * of a tile is far above it. Timings are wall-clock on rank 0 after every
 * rank has finished the phase (each phase ends in a wait or a collective).
 *
 * Exit status: 0 OK, 1 mismatch or runtime error, 2 bad usage. --corrupt
 * changes one element of y on its owner before z is computed, which must
 * turn the run into a MISMATCH with exit 1 (a test of the test).
 * `tessera demo --tasks [ARGS]` runs the task/active-message demo
 * (cmd_demo_tasks.c), as `tessera demo-tasks [ARGS]` does. */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "tessera.h"

typedef struct demo_opts {
    long n, nb, seed;
    const char *out; /* --out DIR, or NULL: a temporary directory, removed after */
    int corrupt;
} demo_opts;

static void check(int rc, const char *what) {
    if (rc != TSR_OK)
        tsr_abort("demo: %s failed: %s: %s", what, tsr_status_string(rc), tsr_error_message());
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: [mpirun -np P] tessera demo [--n N] [--nb NB] [--seed S] [--out DIR]\n"
            "       [mpirun -np P] tessera demo --tasks [ARGS]   (the task/message demo)\n"
            "  Distributed arrays: A (N x N) and x random, y = A x, C = A A^T, a fused\n"
            "  element-wise expression, norms, C saved as .npy; rank 0 checks every result\n"
            "  against serial loops and prints OK (exit 0) or MISMATCH (exit 1).\n"
            "  --n N       matrix order (default 2048)\n"
            "  --nb NB     tile size NB x NB (default 256)\n"
            "  --seed S    random seed (default 1)\n"
            "  --out DIR   keep C.npy in DIR (made if missing; default: a temporary\n"
            "              directory, removed at the end)\n"
            "  --corrupt   deliberately change one element of y (must MISMATCH)\n");
}

/* Options are parsed before tsr_init, so --help and usage errors need no MPI.
 * Returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, demo_opts *o) {
    *o = (demo_opts){.n = 2048, .nb = 256, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--corrupt")) {
            o->corrupt = 1;
            continue;
        } else if (!strcmp(a, "--n")) {
            if (app_parse_long("demo", a, v, 1, 16384, &o->n)) return 2;
        } else if (!strcmp(a, "--nb")) {
            if (app_parse_long("demo", a, v, 1, 16384, &o->nb)) return 2;
        } else if (!strcmp(a, "--seed")) {
            if (app_parse_long("demo", a, v, 0, 2147483647, &o->seed)) return 2;
        } else if (!strcmp(a, "--out")) {
            if (!v || !*v) {
                fprintf(stderr, "tessera demo: --out needs a directory\n");
                return 2;
            }
            o->out = v;
        } else {
            fprintf(stderr, "tessera demo: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    return -1;
}

/* Rank 0 picks the directory (--out, made if missing, or a new temporary
 * one) and tells the others before any array work is queued, so this
 * blocking broadcast cannot hold up another rank's tasks. Empty: failed. */
static void output_dir(const demo_opts *o, char dir[PATH_MAX]) {
    dir[0] = '\0';
    if (tsr_rank() == 0) {
        if (o->out) {
            if ((mkdir(o->out, 0777) == 0 || errno == EEXIST) && strlen(o->out) < PATH_MAX)
                snprintf(dir, PATH_MAX, "%s", o->out);
            else
                fprintf(stderr, "tessera demo: cannot use directory '%s': %s\n", o->out,
                        strerror(errno));
        } else {
            const char *tmp = getenv("TMPDIR");
            snprintf(dir, PATH_MAX, "%s/tessera-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
            if (!mkdtemp(dir)) {
                fprintf(stderr, "tessera demo: cannot make a directory %s: %s\n", dir,
                        strerror(errno));
                dir[0] = '\0';
            }
        }
    }
    MPI_Bcast(dir, PATH_MAX, MPI_CHAR, 0, MPI_COMM_WORLD);
}

/* ---- rank 0's check ---- */

typedef struct demo_check {
    double worst;   /* largest error in units of its bound (<= 1 passes) */
    const char *what;
    double err;     /* the largest relative error, for the report */
} demo_check;

/* Error e against bound b: keep the worst ratio and name what it was. */
static void note(demo_check *c, const char *what, double e, double bound, double rel) {
    double r = e <= bound ? (bound > 0 ? e / bound : 0) : (e == e ? e / bound : INFINITY);
    if (!(r <= c->worst)) c->worst = r, c->what = what;
    if (!(rel <= c->err)) c->err = rel;
}

/* The gathered arrays (row-major) against plain loops. */
static void check_arrays(long n, const double *A, const double *x, const double *y,
                         const double *z, const double *C, double nz, double nc,
                         demo_check *c) {
    const double eps = DBL_EPSILON, gamma = (double)n * eps;
    for (long i = 0; i < n; i++) {
        double s = 0, mag = 0;
        for (long k = 0; k < n; k++) s += A[i * n + k] * x[k], mag += fabs(A[i * n + k] * x[k]);
        note(c, "y = A x", fabs(y[i] - s), gamma * mag, fabs(y[i] - s) / (mag > 0 ? mag : 1));
    }
    long rows = n <= 512 ? n : 64;
    for (long r = 0; r < rows; r++) {
        long i = rows == n ? r : r * (n - 1) / (rows - 1);
        for (long j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (long k = 0; k < n; k++)
                s += A[i * n + k] * A[j * n + k], mag += fabs(A[i * n + k] * A[j * n + k]);
            double e = fabs(C[i * n + j] - s);
            note(c, "C = A A^T", e, gamma * mag, e / (mag > 0 ? mag : 1));
        }
    }
    long double qz = 0, qc = 0;
    for (long i = 0; i < n; i++) {
        /* The same operations as the fused pass, on the gathered y. */
        double t = tanh(y[i]), w = t + 0.5 * (y[i] * y[i]);
        note(c, "z = tanh(y) + 0.5 y*y", fabs(z[i] - w), 4 * eps * (fabs(t) + 0.5 * y[i] * y[i]),
             0);
        qz += (long double)z[i] * z[i];
    }
    for (long i = 0; i < n * n; i++) qc += (long double)C[i] * C[i];
    double rz = sqrt((double)qz), rc = sqrt((double)qc);
    note(c, "||z||", fabs(nz - rz), 1e-13 * rz, 0);
    note(c, "||C||_F", fabs(nc - rc), 1e-13 * rc, 0);
}

/* C.npy read back: a version 1.0 header for float64, C order, shape (n, n),
 * then exactly C's bytes. */
static void check_file(const char *path, long n, const double *C, demo_check *c) {
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    char hdr[256], shape[64];
    int ok = 0;
    snprintf(shape, sizeof shape, "'shape': (%ld, %ld)", n, n);
    if (f && fread(pre, 1, 10, f) == 10 && !memcmp(pre, "\x93NUMPY\x01\x00", 8)) {
        size_t hl = (size_t)pre[8] | (size_t)pre[9] << 8;
        if (hl < sizeof hdr && fread(hdr, 1, hl, f) == hl) {
            hdr[hl] = '\0';
            ok = strstr(hdr, "'descr': '<f8'") && strstr(hdr, "'fortran_order': False") &&
                 strstr(hdr, shape);
        }
    }
    double row[1024];
    for (long i = 0; ok && i < n * n; i += 1024) {
        size_t want = (size_t)(n * n - i < 1024 ? n * n - i : 1024);
        ok = fread(row, sizeof *row, want, f) == want && !memcmp(row, C + i, want * sizeof *row);
    }
    if (ok) ok = fgetc(f) == EOF; /* nothing after the data */
    if (f) fclose(f);
    if (!ok) c->worst = INFINITY, c->what = "C.npy (its header or data differ from C)";
}

/* ---- the run ---- */

static double now_all(void) { /* after every rank got here */
    check(tsr_fence(), "tsr_fence");
    return tsr_time();
}

static int arrays_demo(const demo_opts *o) {
    check(tsr_init(NULL, NULL), "tsr_init");
    int rank = tsr_rank(), nranks = tsr_nranks(), P, Q;
    long n = o->n;
    char dir[PATH_MAX], path[PATH_MAX + 8];
    output_dir(o, dir);
    if (!dir[0]) {
        check(tsr_finalize(), "tsr_finalize");
        return 1;
    }
    snprintf(path, sizeof path, "%s/C.npy", dir);

    tsr_dist_t *d;
    check(tsr_dist_create(0, 0, o->nb, o->nb, &d), "tsr_dist_create");
    tsr_dist_grid(d, &P, &Q, NULL, NULL);
    tsr_array_t *A, *x, *y, *At, *C, *z;

    double t0 = now_all();
    check(tsr_array_random_uniform(d, n, n, (uint64_t)o->seed, -1.0, 1.0, &A), "random A");
    check(tsr_array_random_uniform(d, n, 1, (uint64_t)o->seed + 1, -1.0, 1.0, &x), "random x");
    check(tsr_array_wait(A), "creating A");
    check(tsr_array_wait(x), "creating x");
    double t1 = now_all();

    /* Queued all at once: the transpose's messages overlap the product. */
    check(tsr_matmul(A, x, &y), "tsr_matmul (y = A x)");
    check(tsr_array_transpose(A, &At), "tsr_array_transpose");
    check(tsr_matmul(A, At, &C), "tsr_matmul (C = A A^T)");
    tsr_array_free(&At); /* the product holds what it still needs */
    check(tsr_array_wait(y), "y = A x");
    check(tsr_array_wait(C), "C = A A^T");
    double t2 = now_all();

    if (o->corrupt && tsr_dist_owner(d, n - 1, 0) == rank) {
        double *part;
        int desc[9], lld;
        check(tsr_array_scalapack(y, desc, &part, &lld), "a view of y");
        part[lld - 1] += 1e-3; /* y[n-1]: the last row of its owner's last tile */
    }
    tsr_expr_t *e = tsr_ex_binary(
        TSR_ADD, tsr_ex_unary(TSR_TANH, tsr_ex_array(y)),
        tsr_ex_binary(TSR_MUL, tsr_ex_scalar(0.5),
                      tsr_ex_binary(TSR_MUL, tsr_ex_array(y), tsr_ex_array(y))));
    check(tsr_array_eval(e, &z), "tsr_array_eval");
    tsr_ex_free(&e);
    double nz, nc;
    check(tsr_array_reduce(z, TSR_NORM2, &nz), "||z||");
    check(tsr_array_reduce(C, TSR_NORM2, &nc), "||C||_F");
    double t3 = now_all();

    check(tsr_array_save(C, path), "tsr_array_save");
    double t4 = now_all();

    /* Everything to rank 0 for the serial check. */
    double *gA = NULL, *gx = NULL, *gy = NULL, *gz = NULL, *gC = NULL;
    size_t nn = (size_t)n * (size_t)n;
    if (rank == 0) {
        gA = malloc(nn * sizeof *gA), gC = malloc(nn * sizeof *gC);
        gx = malloc((size_t)n * sizeof *gx), gy = malloc((size_t)n * sizeof *gy);
        gz = malloc((size_t)n * sizeof *gz);
        if (!gA || !gC || !gx || !gy || !gz)
            tsr_abort("demo: rank 0 has no memory to gather %ld x %ld matrices", n, n);
    }
    check(tsr_array_gather(A, 0, gA), "gathering A");
    check(tsr_array_gather(x, 0, gx), "gathering x");
    check(tsr_array_gather(y, 0, gy), "gathering y");
    check(tsr_array_gather(z, 0, gz), "gathering z");
    check(tsr_array_gather(C, 0, gC), "gathering C");

    int status = 0;
    if (rank == 0) {
        double t5 = tsr_time();
        demo_check c = {0, "nothing", 0};
        check_arrays(n, gA, gx, gy, gz, gC, nz, nc, &c);
        check_file(path, n, gC, &c);
        double t6 = tsr_time();
        double mm = t2 - t1, gf = (2.0 * n * n * n + 2.0 * n * n) / mm / 1e9;
        int w = tsr_num_workers();
        printf("tessera demo: distributed arrays on %d rank%s x %d worker%s (%d x %d grid, "
               "%ld x %ld tiles)\n",
               nranks, nranks == 1 ? "" : "s", w, w == 1 ? "" : "s", P, Q, o->nb, o->nb);
        char shape[64];
        snprintf(shape, sizeof shape, "%ld x %ld, %ld", n, n, n);
        printf("  %-24s %-19s %7.3f s\n", "A, x = random", shape, t1 - t0);
        printf("  %-24s %-19s %7.3f s   %.1f GFLOP/s\n", "y = A x, C = A A^T", "tsr_matmul", mm, gf);
        printf("  %-24s %s\n", "z = tanh(y) + 0.5*y*y", "one fused pass");
        printf("  %-24s %-19s %7.3f s   %.6g, %.6g\n", "||z||, ||C||_F", "reductions", t3 - t2,
               nz, nc);
        printf("  %-24s %-19s %7.3f s   %.1f MB\n", "C.npy", "tsr_array_save", t4 - t3,
               (double)nn * 8 / 1e6);
        printf("  check on rank 0 against serial loops (%.2f s): y, z, norms, C (%s rows),\n"
               "  C.npy: largest relative error %.2g (bound n*eps = %.2g)\n",
               t6 - t5, n <= 512 ? "all" : "64", c.err, (double)n * DBL_EPSILON);
        if (c.worst <= 1) {
            printf("OK\n");
        } else {
            if (c.worst == INFINITY)
                printf("MISMATCH: %s\n", c.what);
            else
                printf("MISMATCH: %s is off by %.3g times its error bound\n", c.what, c.worst);
            status = 1;
        }
        if (o->out) printf("  kept %s (numpy.load reads it)\n", path);
        fflush(stdout);
        if (!o->out) {
            unlink(path);
            rmdir(dir);
        }
    }
    free(gA), free(gx), free(gy), free(gz), free(gC);
    tsr_array_free(&z);
    tsr_array_free(&C);
    tsr_array_free(&y);
    tsr_array_free(&x);
    tsr_array_free(&A);
    tsr_dist_free(&d);
    check(tsr_finalize(), "tsr_finalize");
    return status;
}

int cmd_demo(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--tasks")) return cmd_demo_tasks(argc - 1, argv + 1);
    demo_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    return arrays_demo(&o);
}
