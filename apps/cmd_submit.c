/* tessera submit / status / fetch: Slurm jobs, run by apps/tessera_submit.py
 * (the job directory, the generated batch script, sbatch/squeue/sacct and the
 * copies, or ssh with --host) with the subcommand's name first. The script is
 * told which tessera this is (--tessera-exe), so the job runs this same build
 * unless --tessera says otherwise. Needs no Slurm to print --help. */
#include "cmd.h"

static int run(const char *sub, int argc, char **argv) {
    return app_run_python(sub, "tessera_submit.py", sub, 1, "python3", argc, argv);
}

int cmd_submit(int argc, char **argv) { return run("submit", argc, argv); }
int cmd_status(int argc, char **argv) { return run("status", argc, argv); }
int cmd_fetch(int argc, char **argv) { return run("fetch", argc, argv); }
