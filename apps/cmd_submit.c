/* tessera submit / status / fetch: Slurm jobs, run by apps/tessera_submit.py.
 *
 * Writing the job directory, the generated batch script, sbatch/squeue/sacct
 * and the copies (or ssh/rsync with --host) are Python; this file only finds
 * the script and replaces the process with /usr/bin/python3 running it with
 * the subcommand's name first. The script is looked up in the source tree
 * first (TSR_SOURCE_DIR, so a build tree runs the checkout's script without
 * installing), then in the installed data directory. The script is told which
 * tessera this is (--tessera-exe), so the job runs this same build unless
 * --tessera says otherwise. Needs no MPI and no Slurm to print --help. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

#ifndef TSR_SOURCE_DIR
#define TSR_SOURCE_DIR ""
#endif
#ifndef TSR_DATADIR
#define TSR_DATADIR "/usr/local/share/tessera"
#endif

#define PYTHON "/usr/bin/python3"
#define SCRIPT "tessera_submit.py"

static int run_script(const char *sub, int argc, char **argv) {
    char script[PATH_MAX], self[PATH_MAX];
    const char *dirs[] = {TSR_SOURCE_DIR "/apps", TSR_DATADIR};
    script[0] = '\0';
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (dirs[i][0] != '/') continue; /* no source dir compiled in */
        snprintf(script, sizeof script, "%s/%s", dirs[i], SCRIPT);
        if (access(script, R_OK) == 0) break;
        script[0] = '\0';
    }
    if (!script[0]) {
        fprintf(stderr, "tessera %s: %s found neither in %s/apps nor in %s\n", sub, SCRIPT,
                TSR_SOURCE_DIR[0] ? TSR_SOURCE_DIR : "(no source tree)", TSR_DATADIR);
        return 1;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) n = 0;
    self[n] = '\0';

    /* python3 SCRIPT SUB [--tessera-exe SELF] ARGS... NULL */
    char **av = calloc((size_t)argc + 6, sizeof *av);
    if (!av) {
        fprintf(stderr, "tessera %s: out of memory\n", sub);
        return 1;
    }
    int k = 0;
    av[k++] = PYTHON;
    av[k++] = script;
    av[k++] = (char *)sub;
    if (self[0]) {
        av[k++] = "--tessera-exe";
        av[k++] = self;
    }
    for (int i = 1; i < argc; i++) av[k++] = argv[i];
    av[k] = NULL;
    execv(PYTHON, av);
    fprintf(stderr, "tessera %s: cannot run %s: %s (apt-get install -y python3)\n", sub, PYTHON,
            strerror(errno));
    free(av);
    return 1;
}

int cmd_submit(int argc, char **argv) { return run_script("submit", argc, argv); }
int cmd_status(int argc, char **argv) { return run_script("status", argc, argv); }
int cmd_fetch(int argc, char **argv) { return run_script("fetch", argc, argv); }
