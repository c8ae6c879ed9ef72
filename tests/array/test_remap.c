/* Redistribution, transpose, slicing and concatenation against a serial
 * reference computed here from the row-major input: many grids and tile
 * sizes (tiles larger than the array, 1 x n, n x 1, block <-> block-cyclic),
 * inputs whose tiles are still being written, inputs freed right after the
 * call, bad arguments, and a failed input tile whose error must reach the
 * destination rank instead of leaving it waiting. */
#include "array/array_internal.h" /* to fake a distribution and a failed tile */
#include "harness.h"

static int rank, nranks;

/* Distinct, exactly representable values: bit-identical comparisons. */
static double value_at(int64_t i, int64_t j, int salt) {
    return (double)(i * 1000 + j) + 0.25 * salt;
}

static double *make_ref(int64_t m, int64_t n, int salt) {
    double *r = malloc(sizeof(double) * (size_t)(m * n + 1));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) r[i * n + j] = value_at(i, j, salt);
    return r;
}

static tsr_array_t *make_array(tsr_dist_t *d, int64_t m, int64_t n, const double *ref) {
    tsr_array_t *a;
    ASSERT_OK(tsr_array_scatter(d, m, n, rank == 0 ? ref : NULL, 0, &a));
    return a;
}

static void describe(const tsr_dist_t *d, char *buf, size_t len) {
    int P, Q;
    int64_t mb, nb;
    tsr_dist_grid(d, &P, &Q, NULL, NULL);
    tsr_dist_tile(d, &mb, &nb);
    snprintf(buf, len, "%dx%d grid, %lldx%lld tiles", P, Q, (long long)mb, (long long)nb);
}

/* Gather a onto rank 0 and compare with want (m x n row-major). */
static void expect_array(tsr_array_t *a, int64_t m, int64_t n, const double *want,
                         const char *what) {
    int64_t am, an;
    tsr_array_shape(a, &am, &an);
    if (am != m || an != n)
        TEST_FAIL("%s: shape (%lld, %lld), want (%lld, %lld)", what, (long long)am, (long long)an,
                  (long long)m, (long long)n);
    double *got = rank == 0 ? malloc(sizeof(double) * (size_t)(m * n + 1)) : NULL;
    ASSERT_OK(tsr_array_gather(a, 0, got));
    if (rank == 0) {
        for (int64_t k = 0; k < m * n; k++)
            if (memcmp(&got[k], &want[k], sizeof(double)) != 0)
                TEST_FAIL("%s: element (%lld, %lld) is %.17g, want %.17g", what,
                          (long long)(k / n), (long long)(k % n), got[k], want[k]);
    }
    free(got);
}

typedef struct shape {
    int64_t m, n;
} shape;

static const shape shapes[] = {{7, 5}, {1, 9}, {9, 1}, {13, 17}, {1, 1}};

/* Tile sizes used everywhere; {0, 0} stands for the plain block distribution
 * of the shape at hand (one tile per grid row and column). */
static const int64_t tiles[][2] = {{1, 1}, {2, 3}, {4, 4}, {5, 2}, {64, 64}, {0, 0}};
#define NTILES (sizeof tiles / sizeof tiles[0])

static int ngrids;
static int grid_P[8];

/* Distributions for shape s: every grid x every tile size. */
static int make_dists(const shape *s, tsr_dist_t **ds) {
    int k = 0;
    for (int g = 0; g < ngrids; g++) {
        int P = grid_P[g], Q = nranks / P;
        for (size_t t = 0; t < NTILES; t++) {
            int64_t mb = tiles[t][0], nb = tiles[t][1];
            if (mb == 0) {
                mb = (s->m + P - 1) / P;
                nb = (s->n + Q - 1) / Q;
            }
            ASSERT_OK(tsr_dist_create(P, Q, mb, nb, &ds[k++]));
        }
    }
    return k;
}

static void test_redistribute(void) {
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        tsr_dist_t *ds[64];
        int nd = make_dists(s, ds);
        double *ref = make_ref(s->m, s->n, (int)si);
        for (int x = 0; x < nd; x++) {
            for (int y = 0; y < nd; y++) {
                /* All pairs on the big shape; elsewhere every source with a
                 * spread of targets, to keep the run short. */
                if (s->m != 13 && (x + y) % 3 != 0) continue;
                char dx[64], dy[64], what[256];
                describe(ds[x], dx, sizeof dx);
                describe(ds[y], dy, sizeof dy);
                tsr_array_t *a = make_array(ds[x], s->m, s->n, ref), *b, *c;
                ASSERT_OK(tsr_array_redistribute(a, ds[y], &b));
                ASSERT_TRUE(tsr_array_dist(b) == ds[y]);
                tsr_array_free(&a); /* the copy must not need it any more */
                ASSERT_OK(tsr_array_redistribute(b, ds[x], &c));
                snprintf(what, sizeof what, "redistribute (%lld, %lld) %s -> %s",
                         (long long)s->m, (long long)s->n, dx, dy);
                expect_array(b, s->m, s->n, ref, what);
                tsr_array_free(&b);
                snprintf(what, sizeof what, "round trip (%lld, %lld) %s -> %s -> back",
                         (long long)s->m, (long long)s->n, dx, dy);
                expect_array(c, s->m, s->n, ref, what);
                tsr_array_free(&c);
            }
        }
        free(ref);
        for (int k = 0; k < nd; k++) tsr_dist_free(&ds[k]);
    }
}

/* Input still being written (random fill tasks queued) when the copy is
 * queued: the copy must wait for its tiles. */
static void test_pending_input(void) {
    tsr_dist_t *d1, *d2;
    ASSERT_OK(tsr_dist_create(0, 0, 3, 5, &d1));
    ASSERT_OK(tsr_dist_create(nranks, 1, 4, 2, &d2));
    int64_t m = 23, n = 19;
    tsr_array_t *a, *b, *t;
    ASSERT_OK(tsr_array_random_uniform(d1, m, n, 7, -1.0, 1.0, &a));
    ASSERT_OK(tsr_array_redistribute(a, d2, &b));
    ASSERT_OK(tsr_array_transpose(a, &t));
    double *ref = malloc(sizeof(double) * (size_t)(m * n));
    double *tref = malloc(sizeof(double) * (size_t)(m * n));
    ASSERT_OK(tsr_array_gather(a, 0, rank == 0 ? ref : NULL));
    ASSERT_OK(tsr_array_wait(b)); /* a failure here would be rank-local: check before gather */
    expect_array(b, m, n, ref, "redistribute of a pending random array");
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) tref[j * m + i] = ref[i * n + j];
    expect_array(t, n, m, tref, "transpose of a pending random array");
    tsr_array_free(&a);
    tsr_array_free(&b);
    tsr_array_free(&t);
    free(ref);
    free(tref);
    tsr_dist_free(&d1);
    tsr_dist_free(&d2);
}

static void test_transpose(void) {
    static const shape tshapes[] = {{7, 5}, {1, 9}, {9, 1}, {13, 17}, {20, 6}};
    static const int64_t ttiles[][2] = {{1, 1}, {2, 3}, {4, 4}, {3, 7}, {64, 64}};
    for (int g = 0; g < ngrids; g++) {
        int P = grid_P[g], Q = nranks / P;
        for (size_t t = 0; t < sizeof ttiles / sizeof ttiles[0]; t++) {
            tsr_dist_t *d;
            ASSERT_OK(tsr_dist_create(P, Q, ttiles[t][0], ttiles[t][1], &d));
            char dd[64], what[256];
            describe(d, dd, sizeof dd);
            for (size_t si = 0; si < sizeof tshapes / sizeof tshapes[0]; si++) {
                int64_t m = tshapes[si].m, n = tshapes[si].n;
                double *ref = make_ref(m, n, 1);
                double *tref = malloc(sizeof(double) * (size_t)(m * n));
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) tref[j * m + i] = ref[i * n + j];
                tsr_array_t *a = make_array(d, m, n, ref), *at, *att;
                ASSERT_OK(tsr_array_transpose(a, &at));
                tsr_array_free(&a);
                ASSERT_TRUE(tsr_array_dist(at) == d);
                ASSERT_OK(tsr_array_transpose(at, &att));
                snprintf(what, sizeof what, "transpose (%lld, %lld) on %s", (long long)m,
                         (long long)n, dd);
                expect_array(at, n, m, tref, what);
                snprintf(what, sizeof what, "transpose twice (%lld, %lld) on %s", (long long)m,
                         (long long)n, dd);
                expect_array(att, m, n, ref, what);
                tsr_array_free(&at);
                tsr_array_free(&att);
                free(ref);
                free(tref);
            }
            tsr_dist_free(&d);
        }
    }
}

static void test_slice(void) {
    static const int64_t ttiles[][2] = {{1, 1}, {4, 4}, {3, 5}, {64, 64}};
    int64_t m = 13, n = 17;
    /* r0, r1, c0, c1 */
    static const int64_t ranges[][4] = {
        {0, 13, 0, 17}, /* all */
        {5, 6, 0, 17},  /* one row */
        {0, 13, 16, 17}, /* last column */
        {12, 13, 16, 17}, /* one element, the last */
        {1, 12, 2, 15}, /* crossing tile boundaries on both axes */
        {4, 8, 4, 8},   /* aligned to 4 x 4 tiles */
        {3, 10, 0, 1},  /* part of the first column */
        {7, 13, 9, 17}, /* a bottom-right corner */
    };
    double *ref = make_ref(m, n, 3);
    for (int g = 0; g < ngrids; g++) {
        int P = grid_P[g], Q = nranks / P;
        for (size_t t = 0; t < sizeof ttiles / sizeof ttiles[0]; t++) {
            tsr_dist_t *d;
            ASSERT_OK(tsr_dist_create(P, Q, ttiles[t][0], ttiles[t][1], &d));
            char dd[64], what[256];
            describe(d, dd, sizeof dd);
            tsr_array_t *a = make_array(d, m, n, ref);
            for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
                int64_t r0 = ranges[k][0], r1 = ranges[k][1], c0 = ranges[k][2], c1 = ranges[k][3];
                int64_t sm = r1 - r0, sn = c1 - c0;
                double *want = malloc(sizeof(double) * (size_t)(sm * sn));
                for (int64_t i = 0; i < sm; i++)
                    for (int64_t j = 0; j < sn; j++) want[i * sn + j] = ref[(r0 + i) * n + c0 + j];
                tsr_array_t *s;
                ASSERT_OK(tsr_array_slice(a, r0, r1, c0, c1, &s));
                ASSERT_TRUE(tsr_array_dist(s) == d);
                snprintf(what, sizeof what, "slice [%lld:%lld, %lld:%lld] on %s", (long long)r0,
                         (long long)r1, (long long)c0, (long long)c1, dd);
                expect_array(s, sm, sn, want, what);
                tsr_array_free(&s);
                free(want);
            }
            tsr_array_free(&a);
            tsr_dist_free(&d);
        }
    }
    free(ref);
}

static void test_concat(void) {
    tsr_dist_t *d[3];
    /* Three different distributions: the result takes the first. */
    ASSERT_OK(tsr_dist_create(0, 0, 3, 2, &d[0]));
    ASSERT_OK(tsr_dist_create(1, nranks, 2, 5, &d[1]));
    ASSERT_OK(tsr_dist_create(nranks, 1, 64, 1, &d[2]));
    for (int first = 0; first < 3; first++) {
        tsr_dist_t *dd[3] = {d[first], d[(first + 1) % 3], d[(first + 2) % 3]};
        /* Axis 0: 3 arrays of 7, 1 and 4 rows, 6 columns. */
        int64_t rows[3] = {7, 1, 4}, n = 6, m = 12;
        tsr_array_t *parts[3], *c;
        double *want = malloc(sizeof(double) * (size_t)(m * n));
        int64_t off = 0;
        for (int k = 0; k < 3; k++) {
            double *r = make_ref(rows[k], n, k + 1);
            memcpy(want + off * n, r, sizeof(double) * (size_t)(rows[k] * n));
            off += rows[k];
            parts[k] = make_array(dd[k], rows[k], n, r);
            free(r);
        }
        ASSERT_OK(tsr_array_concat(3, parts, 0, &c));
        for (int k = 0; k < 3; k++) tsr_array_free(&parts[k]);
        ASSERT_TRUE(tsr_array_dist(c) == dd[0]);
        expect_array(c, m, n, want, "concat of 3 along axis 0");
        tsr_array_free(&c);
        free(want);

        /* Axis 1: 2 arrays of 5 and 9 columns, 8 rows; then one alone. */
        int64_t cols[2] = {5, 9}, mm = 8, nn = 14;
        double *r[2];
        want = malloc(sizeof(double) * (size_t)(mm * nn));
        for (int k = 0; k < 2; k++) {
            r[k] = make_ref(mm, cols[k], k + 5);
            parts[k] = make_array(dd[k], mm, cols[k], r[k]);
        }
        for (int64_t i = 0; i < mm; i++)
            for (int64_t j = 0; j < nn; j++)
                want[i * nn + j] = j < cols[0] ? r[0][i * cols[0] + j] : r[1][i * cols[1] + j - cols[0]];
        ASSERT_OK(tsr_array_concat(2, parts, 1, &c));
        expect_array(c, mm, nn, want, "concat of 2 along axis 1");
        tsr_array_free(&c);
        ASSERT_OK(tsr_array_concat(1, parts + 1, 1, &c));
        ASSERT_TRUE(tsr_array_dist(c) == dd[1]);
        expect_array(c, mm, cols[1], r[1], "concat of 1");
        tsr_array_free(&c);
        /* The same array twice. */
        tsr_array_t *twice[2] = {parts[0], parts[0]};
        ASSERT_OK(tsr_array_concat(2, twice, 0, &c));
        double *w2 = malloc(sizeof(double) * (size_t)(2 * mm * cols[0]));
        memcpy(w2, r[0], sizeof(double) * (size_t)(mm * cols[0]));
        memcpy(w2 + mm * cols[0], r[0], sizeof(double) * (size_t)(mm * cols[0]));
        expect_array(c, 2 * mm, cols[0], w2, "concat of an array with itself");
        tsr_array_free(&c);
        free(w2);
        for (int k = 0; k < 2; k++) {
            tsr_array_free(&parts[k]);
            free(r[k]);
        }
        free(want);
    }
    for (int k = 0; k < 3; k++) tsr_dist_free(&d[k]);
}

static void test_errors(void) {
    tsr_dist_t *d;
    ASSERT_OK(tsr_dist_create(0, 0, 4, 4, &d));
    tsr_array_t *a, *b, *out = (tsr_array_t *)&out;
    ASSERT_OK(tsr_array_zeros(d, 13, 17, &a));
    ASSERT_OK(tsr_array_zeros(d, 5, 2, &b));

    ASSERT_STATUS(tsr_array_slice(a, 3, 2, 0, 17, &out), TSR_ERR_SHAPE);
    ASSERT_TRUE(out == NULL);
    ASSERT_CONTAINS(tsr_error_message(), "(13, 17)");
    ASSERT_CONTAINS(tsr_error_message(), "rows [3, 2)");
    ASSERT_STATUS(tsr_array_slice(a, 0, 13, 5, 5, &out), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "columns [5, 5)");
    ASSERT_STATUS(tsr_array_slice(a, 0, 14, 0, 17, &out), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "out of range");
    ASSERT_STATUS(tsr_array_slice(a, -1, 3, 0, 17, &out), TSR_ERR_SHAPE);
    ASSERT_STATUS(tsr_array_slice(a, 0, 3, 0, 18, &out), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "[0, 18)");

    tsr_array_t *ab[2] = {a, b};
    ASSERT_STATUS(tsr_array_concat(2, ab, 0, &out), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "(13, 17)");
    ASSERT_CONTAINS(tsr_error_message(), "(5, 2)");
    ASSERT_STATUS(tsr_array_concat(2, ab, 1, &out), TSR_ERR_SHAPE);
    ASSERT_CONTAINS(tsr_error_message(), "(5, 2)");
    ASSERT_STATUS(tsr_array_concat(2, ab, 2, &out), TSR_ERR_INVALID);
    ASSERT_CONTAINS(tsr_error_message(), "axis 2");
    ASSERT_STATUS(tsr_array_concat(0, ab, 0, &out), TSR_ERR_INVALID);

    /* No real distribution has another rank count; fake one. */
    tsr_dist_t fake;
    memcpy(&fake, d, sizeof fake);
    fake.nranks = nranks + 1;
    ASSERT_STATUS(tsr_array_redistribute(a, &fake, &out), TSR_ERR_INVALID);
    ASSERT_CONTAINS(tsr_error_message(), "ranks");
    ASSERT_TRUE(out == NULL);

    /* A good call after the bad ones still works (no op id was used up on
     * only some ranks). */
    tsr_array_t *s;
    ASSERT_OK(tsr_array_slice(a, 1, 2, 1, 2, &s));
    expect_array(s, 1, 1, (double[1]){0.0}, "slice after errors");
    tsr_array_free(&s);
    tsr_array_free(&a);
    tsr_array_free(&b);
    tsr_dist_free(&d);
}

/* Arrays with no elements move as arrays with no elements; concatenating
 * one is a no-op along its empty axis. */
static void test_empty(void) {
    tsr_dist_t *d1, *d2;
    ASSERT_OK(tsr_dist_create(0, 0, 2, 3, &d1));
    ASSERT_OK(tsr_dist_create(1, nranks, 5, 1, &d2));
    tsr_array_t *e, *b, *t, *c, *x;
    ASSERT_OK(tsr_array_zeros(d1, 0, 6, &e));
    ASSERT_OK(tsr_array_redistribute(e, d2, &b));
    ASSERT_OK(tsr_array_transpose(e, &t));
    int64_t m, n;
    tsr_array_shape(b, &m, &n);
    ASSERT_EQ(m, 0);
    ASSERT_EQ(n, 6);
    tsr_array_shape(t, &m, &n);
    ASSERT_EQ(m, 6);
    ASSERT_EQ(n, 0);
    ASSERT_OK(tsr_array_wait(b));
    ASSERT_OK(tsr_array_wait(t));
    double *ref = make_ref(3, 6, 9);
    x = make_array(d2, 3, 6, ref);
    tsr_array_t *ex[3] = {e, x, e};
    ASSERT_OK(tsr_array_concat(3, ex, 0, &c));
    expect_array(c, 3, 6, ref, "concat with empty arrays");
    tsr_array_free(&c);
    free(ref);
    tsr_array_free(&x);
    tsr_array_free(&e);
    tsr_array_free(&b);
    tsr_array_free(&t);
    tsr_dist_free(&d1);
    tsr_dist_free(&d2);
}

/* A source tile that failed: the rank whose destination tile needs it gets
 * that error from tsr_array_wait (by message when it is another rank), the
 * others finish, and nobody hangs. */
static void test_failed_input(void) {
    tsr_dist_t *d1, *d2;
    ASSERT_OK(tsr_dist_create(1, nranks, 2, 2, &d1));
    ASSERT_OK(tsr_dist_create(1, nranks, 2, 2 * nranks, &d2)); /* one tile, on rank 0 */
    tsr_array_t *a, *b;
    ASSERT_OK(tsr_array_zeros(d1, 2, 2 * nranks, &a));
    ASSERT_OK(tsr_array_wait(a));
    if (rank == nranks - 1) {
        /* Its one tile (0, nranks - 1) failed. */
        tsr_future_t *f;
        ASSERT_OK(tsr_future_create(&f));
        ASSERT_OK(tsr_future_fail(f, TSR_ERR_RUNTIME, "boom in the last rank's tile"));
        tsr_future_release(&a->ready[0]);
        a->ready[0] = f;
    }
    ASSERT_OK(tsr_array_redistribute(a, d2, &b));
    int rc = tsr_array_wait(b);
    if (rank == 0) {
        ASSERT_EQ(rc, TSR_ERR_RUNTIME);
        ASSERT_CONTAINS(tsr_error_message(), "boom in the last rank's tile");
    } else {
        ASSERT_EQ(rc, TSR_OK);
    }
    tsr_array_free(&b);
    /* Transpose on the same grid: the failure stays with the tile that needs it. */
    ASSERT_OK(tsr_array_transpose(a, &b));
    rc = tsr_array_wait(b);
    int64_t owner = tsr_dist_owner(d1, 2 * nranks - 1, 0); /* b's tile holding a's last tile */
    if (rank == owner) {
        ASSERT_EQ(rc, TSR_ERR_RUNTIME);
        ASSERT_CONTAINS(tsr_error_message(), "boom");
    }
    tsr_array_free(&b);
    tsr_array_free(&a);
    tsr_dist_free(&d1);
    tsr_dist_free(&d2);
}

int main(int argc, char **argv) {
    ASSERT_OK(tsr_init(&argc, &argv));
    harness_mpi_up = 1;
    rank = tsr_rank();
    nranks = tsr_nranks();
    for (int P = 1; P <= nranks; P++)
        if (nranks % P == 0) grid_P[ngrids++] = P;
    test_errors();
    test_redistribute();
    test_pending_input();
    test_transpose();
    test_slice();
    test_concat();
    test_empty();
    test_failed_input();
    ASSERT_OK(tsr_finalize());
    if (rank == 0) printf("array remap: ok on %d ranks\n", nranks);
    return 0;
}
