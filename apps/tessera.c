/* The tessera command: `tessera SUBCOMMAND [ARGS]`. Subcommands are rows of a
 * const table (one file each, cmd_NAME.c), so `run`, `prof` and `submit` are
 * added by writing their file and one line here. --help and --version never
 * start MPI, so they work on a login node without mpirun. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "tessera.h"

static const app_cmd commands[] = {
    {"demo", "distributed arrays: matmul, transpose, fused expression, norms, .npy; checked",
     cmd_demo},
    {"demo-tasks", "distributed Monte-Carlo pi: tasks + active messages, checked against serial",
     cmd_demo_tasks},
    {"run", "run an array-language program (.tsl) on every rank: run PROG.tsl [--arg ...]",
     cmd_run},
    {"check", "parse and shape-check a .tsl program without running it (no MPI)", cmd_check},
    {"scale", "strong/weak scaling study: scale [--ranks 1,2,4] [--weak] -- COMMAND (CSV, PNG)",
     cmd_scale},
    {"prof", "summarise a trace: prof TRACE.json [--png DIR] [--top N] [--json]", cmd_prof},
    {"submit", "Slurm job: submit PROG.tsl --nodes N --ntasks-per-node M [--arg ...] [--dry-run]",
     cmd_submit},
    {"status", "state of a submitted job: status JOB (squeue, then sacct)", cmd_status},
    {"fetch", "wait for a job, copy its outputs and logs back: fetch JOB [--dest DIR]",
     cmd_fetch},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f,
            "usage: tessera [--help] [--version] COMMAND [ARGS]\n"
            "       mpirun -np N tessera COMMAND [ARGS]   (scripts/mpirun-tsr on this machine)\n"
            "\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'tessera COMMAND --help' describes a command's options.\n"
               "Environment: TSR_THREADS, TSR_PROGRESS=poll|thread, TSR_PIN, TSR_LOG, "
               "TSR_EAGER_LIMIT,\n"
               "  TSR_TRACE (trace file), TSR_TRACE_EVENTS, TSR_PAPI_EVENTS (see README).\n");
}

/* Edit distance, to suggest the command a typo meant. Names are short. */
static size_t distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 63 || lb >= 63) return 64;
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

int app_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "tessera %s: %s needs an integer in [%ld, %ld], got '%s'\n", cmd, opt, lo,
                hi, s ? s : "(nothing)");
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("tessera %s\n", TSR_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(name, commands[i].name)) return commands[i].run(argc - 1, argv + 1);

    fprintf(stderr, "tessera: unknown command '%s'", name);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (distance(name, commands[i].name) <= 2) {
            fprintf(stderr, " (did you mean '%s'?)", commands[i].name);
            break;
        }
    }
    fprintf(stderr, "; see 'tessera --help'\n");
    return 2;
}
