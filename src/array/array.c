/* Array lifecycle: allocation of this rank's part, references, waiting. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "array/array_internal.h"
#include "array/mem_guard.h"
#include "runtime/runtime_internal.h"
#include "tessera/runtime.h"
#include "tessera/sched.h"

static uint64_t next_op;
static int fini_registered;

uint64_t tsr__array_next_op(void) { return ++next_op; }

static void array_layer_fini(void) {
    tsr__mbox_fini();
    tsr__dist_fini();
    tsr__array_comm_fini();
}

/* ---- the memory guard (mem_guard.h) ---- */

static double measure_static(char *why, size_t size);

static double rank_limit = -1; /* agreed at init; < 0: not yet */
static char rank_limit_why[200];

const char *tsr__fmt_bytes(double bytes, char *buf, size_t size) {
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024 && u < 6) {
        bytes /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%.0f B", bytes);
    else
        snprintf(buf, size, bytes >= 1e4 ? "%.3g %s" : bytes >= 100 ? "%.0f %s" : "%.3g %s", bytes,
                 unit[u]);
    return buf;
}

/* kB fields of /proc/meminfo in bytes; -1 where absent. */
static void meminfo(double *total, double *avail, double *swap_total, double *swap_free) {
    *total = *avail = *swap_total = *swap_free = -1;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long kb;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1) *total = (double)kb * 1024;
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) *avail = (double)kb * 1024;
        if (sscanf(line, "SwapTotal: %lld kB", &kb) == 1) *swap_total = (double)kb * 1024;
        if (sscanf(line, "SwapFree: %lld kB", &kb) == 1) *swap_free = (double)kb * 1024;
    }
    if (f) fclose(f);
    if (*total < 0) *total = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (*avail < 0) *avail = (double)sysconf(_SC_AVPHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (*swap_total < 0) *swap_total = 0;
    if (*swap_free < 0) *swap_free = 0;
}

/* A number from a one-line file (cgroup v2's memory.max, memory.current);
 * -1 for "max", absent or unreadable. */
static double read_number(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long long v = -1;
    if (fscanf(f, "%lld", &v) != 1) v = -1;
    fclose(f);
    return (double)v;
}

/* A number from a file of this process's cgroup (v2) directory under
 * /sys/fs/cgroup (memory.max, memory.current); -1 as read_number, or when
 * the process is in no v2 cgroup. */
static double cgroup_number(const char *file) {
    char dir[600] = "", path[700];
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::", 3) != 0) continue;
        line[strcspn(line, "\n")] = '\0';
        snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", line + 3);
    }
    if (f) fclose(f);
    if (!dir[0]) return -1;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return read_number(path);
}

static void host_name(char *buf, size_t size) {
    if (gethostname(buf, size) != 0) snprintf(buf, size, "?");
    buf[size - 1] = '\0';
}

/* The soft limit of resource r, or -1 when unlimited. */
static double soft_limit(int r) {
    struct rlimit rl;
    if (getrlimit(r, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
    return (double)rl.rlim_cur;
}

/* Node totals and limits do not change while a process runs: measured once
 * (the check pass asks for every array a builtin makes). Main thread only. */
double tsr__mem_static(char *why, size_t size) {
    static double cached = -1;
    static char cached_why[200];
    if (cached < 0) cached = measure_static(cached_why, sizeof cached_why);
    snprintf(why, size, "%s", cached_why);
    return cached;
}

static double measure_static(char *why, size_t size) {
    double total, avail, swap_total, swap_free;
    char host[64], b[32];
    meminfo(&total, &avail, &swap_total, &swap_free);
    host_name(host, sizeof host);
    double cap = total + swap_total;
    snprintf(why, size, "this node (%s) has %s of memory and swap", host,
             tsr__fmt_bytes(cap, b, sizeof b));
    double max = cgroup_number("memory.max");
    if (max > 0 && max < cap) {
        cap = max;
        snprintf(why, size, "its cgroup allows %s (memory.max)", tsr__fmt_bytes(cap, b, sizeof b));
    }
    static const struct {
        int r;
        const char *name;
    } lims[] = {{RLIMIT_AS, "RLIMIT_AS"}, {RLIMIT_DATA, "RLIMIT_DATA"}};
    for (size_t i = 0; i < sizeof lims / sizeof lims[0]; i++) {
        double l = soft_limit(lims[i].r);
        if (l >= 0 && l < cap) {
            cap = l;
            snprintf(why, size, "%s is %s", lims[i].name, tsr__fmt_bytes(cap, b, sizeof b));
        }
    }
    return cap;
}

/* kB field of /proc/self/status in bytes, 0 if absent. */
static double self_status(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double v = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') v = atof(line + n + 1) * 1024;
    if (f) fclose(f);
    return v;
}

/* What this rank may take now: its node's available memory and free swap
 * (or its cgroup's headroom) shared by the ranks on the node, and the
 * headroom under its own address-space and data limits. */
static double measure_now(int local_ranks, char *why, size_t size) {
    double total, avail, swap_total, swap_free;
    char host[64], b[32];
    meminfo(&total, &avail, &swap_total, &swap_free);
    host_name(host, sizeof host);
    double node = avail + swap_free;
    const char *what = "available";
    double max = cgroup_number("memory.max"), cur = cgroup_number("memory.current");
    if (max > 0 && cur >= 0 && max - cur < node) {
        node = max > cur ? max - cur : 0;
        what = "left in its cgroup";
    }
    double cap = node / (local_ranks > 0 ? local_ranks : 1);
    snprintf(why, size, "%s %s on host %s for its %d rank%s", tsr__fmt_bytes(node, b, sizeof b),
             what, host, local_ranks, local_ranks == 1 ? "" : "s");
    static const struct {
        int r;
        const char *name, *field;
    } lims[] = {{RLIMIT_AS, "RLIMIT_AS", "VmSize"}, {RLIMIT_DATA, "RLIMIT_DATA", "VmData"}};
    for (size_t i = 0; i < sizeof lims / sizeof lims[0]; i++) {
        double l = soft_limit(lims[i].r);
        if (l < 0) continue;
        double left = l - self_status(lims[i].field);
        if (left < 0) left = 0;
        if (left < cap) {
            char b2[32];
            cap = left;
            snprintf(why, size, "%s (%s) leaves %s on host %s", lims[i].name,
                     tsr__fmt_bytes(l, b2, sizeof b2), tsr__fmt_bytes(left, b, sizeof b), host);
        }
    }
    return cap;
}

/* Collective: the least any rank may take, with its description. */
static int agree_limit(void) {
    int rc = TSR_OK, local = 1;
    MPI_Comm comm = tsr__array_comm(), node = MPI_COMM_NULL;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
    }
    char why[sizeof rank_limit_why];
    struct {
        double v;
        int rank;
    } mine = {measure_now(local, why, sizeof why), tsr_rank()}, least;
    TSR_MPI(MPI_Allreduce(&mine, &least, 1, MPI_DOUBLE_INT, MPI_MINLOC, comm));
    if (least.rank == tsr_rank()) snprintf(rank_limit_why, sizeof rank_limit_why, "%s", why);
    TSR_MPI(MPI_Bcast(rank_limit_why, (int)sizeof rank_limit_why, MPI_CHAR, least.rank, comm));
    rank_limit_why[sizeof rank_limit_why - 1] = '\0';
    rank_limit = least.v;
    return TSR_OK;
fail:
    return rc;
}

double tsr__mem_rank_limit(const char **why) {
    if (why) *why = rank_limit_why;
    return rank_limit;
}

int tsr__mem_job_ranks(void) {
    if (tsr_nranks() > 0) return tsr_nranks();
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return 1;
}

int tsr__array_layer_init(void) {
    if (!fini_registered) {
        int rc = tsr__runtime_at_finalize(array_layer_fini);
        if (rc != TSR_OK) return rc;
        fini_registered = 1;
    }
    int fresh = tsr__array_comm() == MPI_COMM_NULL;
    int rc = tsr__array_comm_init();
    if (rc == TSR_OK && fresh) rc = agree_limit();
    return rc != TSR_OK ? rc : tsr__mbox_init();
}

/* Refuse, on every rank alike, a part that cannot fit: the verdict uses
 * the shape, the grid and the agreed limit only, so no message is needed
 * to agree, and a request for 10^12 elements (or 10^20: the arithmetic is
 * in double, it cannot wrap) is this error rather than an OOM kill later. */
static int check_fits(const tsr_dist_t *d, int64_t m, int64_t n, int64_t mt, int64_t nt) {
    /* The largest part: grid position (0, 0) holds the most whole tiles. */
    double rows = (double)d->mb * (double)tsr__ceil_div(mt, d->P);
    double cols = (double)d->nb * (double)tsr__ceil_div(nt, d->Q);
    if (rows > (double)m) rows = (double)m;
    if (cols > (double)n) cols = (double)n;
    double need = rows * cols * (double)sizeof(double);
    const char *why = NULL;
    double limit = tsr__mem_rank_limit(&why);
    char whybuf[200];
    if (limit < 0) {
        limit = tsr__mem_static(whybuf, sizeof whybuf);
        why = whybuf;
    }
    /* size_t arithmetic below must not wrap either. */
    if (need <= limit && need < (double)((size_t)1 << 62)) return TSR_OK;
    char b1[32], b2[32];
    return tsr_error(TSR_ERR_NOMEM,
                     "rank %d: an array of shape (%lld, %lld) needs %s on a rank (its largest "
                     "part, %.0f x %.0f doubles on a %d x %d grid), more than the %s a rank can "
                     "have: %s",
                     d->rank, (long long)m, (long long)n, tsr__fmt_bytes(need, b1, sizeof b1),
                     rows, cols, d->P, d->Q, tsr__fmt_bytes(limit, b2, sizeof b2), why);
}

int tsr__array_alloc(tsr_dist_t *d, int64_t m, int64_t n, tsr_array_t **out) {
    int rc = TSR_OK;
    tsr_array_t *a = NULL;
    *out = NULL;
    TSR_CHECK_MSG(d != NULL, TSR_ERR_INVALID, "rank %d: array of shape (%lld, %lld): no distribution",
                  tsr_rank(), (long long)m, (long long)n);
    TSR_CHECK_MSG(m >= 0 && n >= 0, TSR_ERR_SHAPE, "rank %d: invalid array shape (%lld, %lld)",
                  d->rank, (long long)m, (long long)n);
    a = calloc(1, sizeof *a);
    TSR_CHECK_MSG(a != NULL, TSR_ERR_NOMEM, "rank %d: no memory for an array header", d->rank);
    atomic_init(&a->refs, 1);
    a->dist = d;
    tsr__dist_retain(d);
    a->m = m;
    a->n = n;
    a->mt = tsr__ceil_div(m, d->mb);
    a->nt = tsr__ceil_div(n, d->nb);
    a->lm = tsr__numroc(m, d->mb, d->myrow, d->P);
    a->ln = tsr__numroc(n, d->nb, d->mycol, d->Q);
    a->lmt = tsr__ceil_div(a->lm, d->mb);
    a->lnt = tsr__ceil_div(a->ln, d->nb);
    a->lld = a->lm > 1 ? a->lm : 1;
    TSR_CHECK(check_fits(d, m, n, a->mt, a->nt));
    if (a->lm > 0 && a->ln > 0) {
        size_t bytes = (size_t)a->lld * (size_t)a->ln * sizeof(double);
        /* Large parts are 2 MiB aligned and offered transparent huge pages
         * (as numpy does): the first write into a fresh result then faults
         * once per 2 MiB instead of once per 4 KiB (2e7 doubles written
         * once: 0.097 -> 0.057 s on a 16-core x86 box). */
        size_t huge = (size_t)2 << 20, align = bytes >= 2 * huge ? huge : 64;
        a->data = tsr_aligned_alloc(align, bytes);
#ifdef MADV_HUGEPAGE
        if (a->data && align == huge) (void)madvise(a->data, bytes, MADV_HUGEPAGE);
#endif
        /* Other ranks are already queueing work on this array: a local
         * failure can only end the job, with the reason. */
        if (a->data == NULL) {
            char b[32];
            tsr_abort("rank %d: an array of shape (%lld, %lld): cannot allocate %s for this "
                      "rank's part (%lld x %lld doubles): the allocator refused",
                      d->rank, (long long)m, (long long)n,
                      tsr__fmt_bytes((double)bytes, b, sizeof b), (long long)a->lm,
                      (long long)a->ln);
        }
    }
    if (a->lmt * a->lnt > 0) {
        a->ready = calloc((size_t)(a->lmt * a->lnt), sizeof *a->ready);
        if (a->ready == NULL)
            tsr_abort("rank %d: an array of shape (%lld, %lld): no memory for the futures of "
                      "its %lld local tiles",
                      d->rank, (long long)m, (long long)n, (long long)(a->lmt * a->lnt));
    }
    *out = a;
    return TSR_OK;
fail:
    if (a) {
        tsr_aligned_free(a->data);
        if (a->dist) tsr_dist_free(&a->dist);
        free(a);
    }
    return rc;
}

void tsr__array_retain(tsr_array_t *a) { atomic_fetch_add(&a->refs, 1); }

void tsr__array_release(tsr_array_t *a) {
    if (!a || atomic_fetch_sub(&a->refs, 1) != 1) return;
    for (int64_t i = 0; i < a->lmt * a->lnt; i++) tsr_future_release(&a->ready[i]);
    free(a->ready);
    tsr_aligned_free(a->data);
    tsr_dist_free(&a->dist);
    free(a);
}

void tsr_array_free(tsr_array_t **a) {
    if (!a || !*a) return;
    tsr__array_release(*a);
    *a = NULL;
}

void tsr_array_shape(const tsr_array_t *a, int64_t *m, int64_t *n) {
    if (m) *m = a->m;
    if (n) *n = a->n;
}

tsr_dist_t *tsr_array_dist(const tsr_array_t *a) { return a->dist; }

int tsr_array_wait(tsr_array_t *a) {
    int first = TSR_OK;
    char msg[1024] = "";
    for (int64_t i = 0; i < a->lmt * a->lnt; i++) {
        if (!a->ready[i]) continue;
        int rc = tsr_wait(a->ready[i], NULL);
        if (rc != TSR_OK && first == TSR_OK) {
            first = rc;
            snprintf(msg, sizeof msg, "%s", tsr_error_message());
        }
    }
    if (first != TSR_OK) return tsr_error(first, "%s", msg);
    return TSR_OK;
}
