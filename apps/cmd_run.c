/* tessera run / tessera check: run an array-language (.tsl) program on every
 * rank, or check it without running.
 *
 * Everything that needs no MPI happens before tsr_init, on every rank alike:
 * the command line, parsing, the --arg/--out names and file headers, and the
 * shape check, so a mistake is found (with the same text on every rank)
 * before any array work, and `tessera check` never starts MPI. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cmd.h"
#include "run_args.h"
#include "tessera.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_PROGRAM = 3 };

typedef app_run_args run_opts;

static void usage_run(FILE *f, const char *cmd) {
    if (!strcmp(cmd, "check")) {
        fprintf(f,
                "usage: tessera check PROG.tsl [--arg NAME=FILE.npy | NAME=NUMBER ...]\n"
                "                     [--out NAME=FILE.npy ...]\n"
                "  Parse PROG.tsl, resolve its names and check every builtin's shapes, using\n"
                "  only the headers of the --arg files; runs nothing and needs no MPI.\n"
                "  Options are those of 'tessera run' (see 'tessera run --help'); the run-only\n"
                "  ones (--threads, --trace, --grid, --tile, --quiet,\n"
                "  --timing) are accepted and ignored.\n"
                "Exit status: 0 the program checks, 2 bad command line or --arg file,\n"
                "  3 program error (syntax, name, arity, type, shape), with FILE:LINE:COL.\n");
        return;
    }
    fprintf(f,
        "usage: mpirun -np N tessera run PROG.tsl [--arg NAME=FILE.npy | NAME=NUMBER ...]\n"
        "           [--out NAME=FILE.npy ...] [--threads N] [--trace FILE] [--grid PxQ]\n"
        "           [--tile T] [--quiet] [--timing]\n"
        "  Run a Tessera array-language program (docs/language.md) on every rank.\n"
        "  Top-level forms run in order; then main, if the program defines it, is\n"
        "  called with the --arg values; what it returns is main's result.\n"
        "\n"
        "  --arg NAME=FILE.npy   bind main's parameter NAME to the array in FILE.npy\n"
        "                        (1-D files give 1-D arrays, 2-D give 2-D, 0-D a number);\n"
        "                        every rank reads its own tiles (a shared file system)\n"
        "  --arg NAME=NUMBER     bind it to a number (e.g. 0.5, 100, 1e-3)\n"
        "                        Every parameter of main needs exactly one --arg.\n"
        "  --out NAME=FILE.npy   after main returns, save main's variable NAME (as it is\n"
        "                        then), else the top-level variable NAME, else for\n"
        "                        NAME=result main's value; arrays as float64 .npy (1-D as\n"
        "                        shape (n,)), numbers as 0-D .npy; through a temporary\n"
        "                        file and a rename\n"
        "  --threads N           worker threads per rank (sets TSR_THREADS)\n"
        "  --trace FILE          write a Chrome trace of the run to FILE (sets TSR_TRACE;\n"
        "                        open it in ui.perfetto.dev)\n"
        "  --grid PxQ            process grid of the program's arrays (P*Q = ranks;\n"
        "                        default Nx1: rows spread over the ranks)\n"
        "  --tile T              square tiles T x T (default 256)\n"
        "  --quiet               no progress line for long loops (otherwise shown on\n"
        "                        rank 0's stderr when it is a terminal, at most once a\n"
        "                        second: '[tessera] PROG.tsl:12 for: iteration 40/100')\n"
        "  --timing              at the end, rank 0 prints on stderr where the time went:\n"
        "                        check, top-level forms, --arg loads, main, --out saves,\n"
        "                        and each outermost loop's iterations and time per\n"
        "                        iteration ('[tessera] timing: PROG.tsl:27 for: 100\n"
        "                        iterations in 2.104 s, 21.040 ms per iteration'); such\n"
        "                        a loop waits for its last work when it ends\n"
        "  --help                this text\n"
        "\n"
        "  Before any array work, the program is parsed and shape-checked as 'tessera\n"
        "  check' does. If main returns a number, boolean or string, rank 0 prints it\n"
        "  on stdout. Errors go to stderr on every rank as FILE:LINE:COL: MESSAGE (ranks\n"
        "  other than 0 add ' [rank R]'); mistakes found before running are reported\n"
        "  before any array work starts.\n"
        "\n"
        "Exit status: 0 success; 1 runtime error (a builtin failed while running:\n"
        "  singular matrix, unreadable file, ...); 2 bad command line, unreadable\n"
        "  program or --arg file, --arg/--out names main does not have; 3 program\n"
        "  error found before running (syntax, name, arity, type, shape).\n"
        "\n"
        "Environment: TSR_THREADS (worker threads), TSR_PROGRESS=poll|thread, TSR_PIN,\n"
        "  TSR_LOG, TSR_EAGER_LIMIT, TSR_TRACE (as --trace), TSR_LANG_STATS=1 (print how\n"
        "  many array values were alive at most, a check for leaks), TSR_PEER_TIMEOUT\n"
        "  (seconds without a heartbeat from a peer rank before the job is ended with\n"
        "  a message naming it; default 30, 0 turns the watchdog off).\n");
}

/* The rank before MPI is up, from the launcher's environment (Open MPI,
 * MPICH/PMI, Slurm), so messages printed before tsr_init carry it too; -1
 * when not launched by one. */
static int env_rank(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return -1;
}

/* A mistake found before MPI is up, under a launcher, is kept here and
 * printed after tsr_init, just before a collective tsr_finalize: mpirun
 * kills the whole job as soon as one rank exits with an error, so ranks
 * that exited straight away would not all get to print it. */
static int deferring;
static char deferred[2048];

/* MESSAGE on rank 0, MESSAGE [rank R] elsewhere. */
static void report(int rank, const char *msg) {
    if (deferring) {
        if (!deferred[0] && msg != deferred) { /* memmove: GCC's -Wrestrict sees msg may be deferred */
            size_t n = strlen(msg);
            if (n >= sizeof deferred) n = sizeof deferred - 1;
            memmove(deferred, msg, n);
            deferred[n] = '\0';
        }
        return;
    }
    if (rank <= 0)
        fprintf(stderr, "%s\n", msg);
    else
        fprintf(stderr, "%s [rank %d]\n", msg, rank);
}

static void report_cmd(int rank, const char *cmd, const char *msg) {
    char buf[2048];
    snprintf(buf, sizeof buf, "tessera %s: %s", cmd, msg);
    report(rank, buf);
}

/* The parsed command line (run_args.c), printed here: --help on stdout,
 * mistakes as "tessera CMD: MESSAGE". Returns -1 to go on, else the exit
 * status. */
static int parse(const char *cmd, int argc, char **argv, run_opts *o, int rank) {
    char msg[1024];
    switch (app_run_args_parse(cmd, argc, argv, o, msg, sizeof msg)) {
    case APP_ARGS_OK:
        return -1;
    case APP_ARGS_HELP:
        usage_run(stdout, cmd);
        return EXIT_OK;
    case APP_ARGS_NOMEM:
        report_cmd(rank, cmd, msg);
        return EXIT_RUNTIME;
    default:
        report_cmd(rank, cmd, msg);
        return EXIT_USAGE;
    }
}

/* Parse, --arg/--out names, shape check: no MPI. Returns -1 to go on. */
static int prepare(const run_opts *o, tsr_program_t **p, int rank) {
    int rc = tsr_program_parse(o->prog, NULL, p);
    if (rc != TSR_OK) {
        report(rank, tsr_error_message());
        return rc == TSR_ERR_IO ? EXIT_USAGE : EXIT_PROGRAM;
    }
    rc = tsr_program_check_args(*p, o->nbind, o->binds, o->nout, o->outs);
    if (rc != TSR_OK) {
        report(rank, tsr_error_message());
        return EXIT_USAGE;
    }
    rc = tsr_program_check(*p, o->nbind, o->binds, o->nout, o->outs);
    if (rc != TSR_OK) {
        report(rank, tsr_error_message());
        return EXIT_PROGRAM;
    }
    return -1;
}

/* Programs recurse on the main thread's stack (about 1 KiB per call of a
 * user function): raise its soft limit so that the language's own limit of
 * 10000 nested calls is what stops a deep recursion, with the same message
 * on every machine. Linux grows the main stack up to the limit in force
 * when it grows, and leaves at least 128 MiB below it free of mappings. */
static void raise_stack_limit(void) {
    struct rlimit rl;
    rlim_t want = (rlim_t)64 << 20;
    if (getrlimit(RLIMIT_STACK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    setrlimit(RLIMIT_STACK, &rl);
}

static int run_or_check(const char *cmd, int argc, char **argv) {
    run_opts o;
    raise_stack_limit();
    tsr_program_t *p = NULL;
    int rank = env_rank();
    bool launched = rank >= 0 && strcmp(cmd, "check") != 0;
    deferring = launched;
    int st = parse(cmd, argc, argv, &o, rank);
    if (st < 0) st = prepare(&o, &p, rank);
    deferring = 0;
    if (st > 0 && launched && deferred[0]) {
        /* Print it on every rank with MPI up, then leave together. */
        if (tsr_init(&argc, &argv) == TSR_OK) {
            report(tsr_rank(), deferred);
            tsr_finalize();
        } else {
            report(rank, deferred);
        }
    }
    if (st >= 0 || !strcmp(cmd, "check")) {
        tsr_program_free(&p);
        app_run_args_free(&o);
        return st >= 0 ? st : EXIT_OK;
    }

    if (o.threads) setenv("TSR_THREADS", o.threads, 1);
    if (o.trace) setenv("TSR_TRACE", o.trace, 1);
    int rc = tsr_init(&argc, &argv);
    if (rc != TSR_OK) {
        char msg[1200];
        snprintf(msg, sizeof msg, "starting the runtime failed: %s", tsr_error_message());
        report_cmd(rank, cmd, msg);
        tsr_program_free(&p);
        app_run_args_free(&o);
        return EXIT_RUNTIME;
    }
    rank = tsr_rank();
    /* run_args.c keeps P * Q within an int. */
    if (o.lang.P > 0 && o.lang.P * o.lang.Q != tsr_nranks()) {
        char msg[200];
        snprintf(msg, sizeof msg, "--grid %dx%d needs %d ranks, this job has %d", o.lang.P,
                 o.lang.Q, o.lang.P * o.lang.Q, tsr_nranks());
        report_cmd(rank, cmd, msg);
        tsr_program_free(&p);
        app_run_args_free(&o);
        tsr_finalize();
        return EXIT_USAGE;
    }
    o.lang.progress = !o.quiet && isatty(STDERR_FILENO);
    o.lang.timing = o.timing;
    char *result = NULL;
    rc = tsr_program_run(p, o.nbind, o.binds, o.nout, o.outs, &o.lang, &result);
    if (rc != TSR_OK) {
        report(rank, tsr_error_message());
        st = EXIT_RUNTIME;
    } else {
        st = EXIT_OK;
        if (result && rank == 0) {
            printf("%s\n", result);
            fflush(stdout);
        }
    }
    free(result);
    tsr_program_free(&p);
    app_run_args_free(&o);
    rc = tsr_finalize();
    if (rc != TSR_OK && st == EXIT_OK) {
        report_cmd(rank, cmd, tsr_error_message());
        st = EXIT_RUNTIME;
    }
    return st;
}

int cmd_run(int argc, char **argv) { return run_or_check("run", argc, argv); }
int cmd_check(int argc, char **argv) { return run_or_check("check", argc, argv); }
