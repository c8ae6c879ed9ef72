/* tessera scale: a scaling study, run by apps/tessera_scale.py.
 *
 * The study itself (launching the job at each size, timing, CSV, plot) is
 * Python with matplotlib; this file only finds the script and replaces the
 * process with /usr/bin/python3 running it. The script is looked up in the
 * source tree first (TSR_SOURCE_DIR, so a build tree runs the checkout's
 * script without installing), then in the installed data directory. The
 * script is told which tessera this is (--tessera-exe), so a COMMAND that
 * starts with 'tessera' runs this same build. Needs no MPI. */
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
#define SCRIPT "tessera_scale.py"

int cmd_scale(int argc, char **argv) {
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
        fprintf(stderr, "tessera scale: %s found neither in %s/apps nor in %s\n", SCRIPT,
                TSR_SOURCE_DIR[0] ? TSR_SOURCE_DIR : "(no source tree)", TSR_DATADIR);
        return 1;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) n = 0;
    self[n] = '\0';

    /* python3 SCRIPT [--tessera-exe SELF] ARGS... NULL */
    char **av = calloc((size_t)argc + 5, sizeof *av);
    if (!av) {
        fprintf(stderr, "tessera scale: out of memory\n");
        return 1;
    }
    int k = 0;
    av[k++] = PYTHON;
    av[k++] = script;
    if (self[0]) {
        av[k++] = "--tessera-exe";
        av[k++] = self;
    }
    for (int i = 1; i < argc; i++) av[k++] = argv[i];
    av[k] = NULL;
    execv(PYTHON, av);
    fprintf(stderr, "tessera scale: cannot run %s: %s (apt-get install -y python3 "
                    "python3-matplotlib)\n", PYTHON, strerror(errno));
    free(av);
    return 1;
}
