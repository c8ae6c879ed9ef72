/* The tessera command's subcommands. Each lives in its own cmd_NAME.c and is
 * listed once in the table in tessera.c. A subcommand gets argv with its own
 * name in argv[0] and returns the process exit status: 0 success, 1 failure
 * (wrong answer, runtime error), 2 bad usage. */
#ifndef TSR_APP_CMD_H
#define TSR_APP_CMD_H

#include <stdio.h>

typedef struct app_cmd {
    const char *name;
    const char *summary;  /* one line for `tessera --help` */
    int (*run)(int argc, char **argv);
} app_cmd;

int cmd_demo(int argc, char **argv);
int cmd_demo_tasks(int argc, char **argv);
int cmd_run(int argc, char **argv);   /* cmd_run.c: tessera run */
int cmd_check(int argc, char **argv); /* cmd_run.c: tessera check */
int cmd_scale(int argc, char **argv); /* cmd_scale.c: tessera scale (Python) */
int cmd_prof(int argc, char **argv);  /* cmd_prof.c: tessera prof (Python) */
int cmd_submit(int argc, char **argv); /* cmd_submit.c: tessera submit (Python, Slurm) */
int cmd_status(int argc, char **argv); /* cmd_submit.c: tessera status */
int cmd_fetch(int argc, char **argv);  /* cmd_submit.c: tessera fetch */

/* Parse a decimal integer option value in [lo, hi]; on error print
 * "tessera OPT: ..." and return -1. */
int app_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);

/* Replace this process with /usr/bin/python3 running SCRIPT (apps/ of the
 * source tree, else the installed data directory) with [SUB] [--tessera-exe
 * THIS_BINARY when pass_self] and argv[1..]. Returns 1 (after a message
 * naming `tessera CMD` and the Debian packages to install) only on failure. */
int app_run_python(const char *cmd, const char *script, const char *sub, int pass_self,
                   const char *packages, int argc, char **argv);

#endif
