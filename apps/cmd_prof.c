/* tessera prof: summaries and plots of a trace, by apps/tessera_prof.py.
 *
 * The analysis (busy/idle, kinds, messages, critical path, IR lines) and the
 * plots are Python with matplotlib; this file only finds the script and
 * replaces the process with /usr/bin/python3 running it, passing the
 * arguments through. The script is looked up in the source tree first
 * (TSR_SOURCE_DIR, so a build tree runs the checkout's script without
 * installing), then in the installed data directory. Needs no MPI. */
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
#define SCRIPT "tessera_prof.py"

int cmd_prof(int argc, char **argv) {
    char script[PATH_MAX];
    const char *dirs[] = {TSR_SOURCE_DIR "/apps", TSR_DATADIR};
    script[0] = '\0';
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (dirs[i][0] != '/') continue; /* no source dir compiled in */
        snprintf(script, sizeof script, "%s/%s", dirs[i], SCRIPT);
        if (access(script, R_OK) == 0) break;
        script[0] = '\0';
    }
    if (!script[0]) {
        fprintf(stderr, "tessera prof: %s found neither in %s/apps nor in %s\n", SCRIPT,
                TSR_SOURCE_DIR[0] ? TSR_SOURCE_DIR : "(no source tree)", TSR_DATADIR);
        return 1;
    }
    /* python3 SCRIPT ARGS... NULL */
    char **av = calloc((size_t)argc + 2, sizeof *av);
    if (!av) {
        fprintf(stderr, "tessera prof: out of memory\n");
        return 1;
    }
    int k = 0;
    av[k++] = PYTHON;
    av[k++] = script;
    for (int i = 1; i < argc; i++) av[k++] = argv[i];
    av[k] = NULL;
    execv(PYTHON, av);
    fprintf(stderr, "tessera prof: cannot run %s: %s (apt-get install -y python3 "
                    "python3-matplotlib)\n", PYTHON, strerror(errno));
    free(av);
    return 1;
}
