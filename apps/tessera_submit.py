#!/usr/bin/python3
"""tessera submit / status / fetch: run a Tessera program as a Slurm job.

    tessera submit PROG.tsl --nodes N --ntasks-per-node M [--cpus-per-task C]
                   [--time T] [--partition P] [--account A] [--job-name NAME]
                   [--arg NAME=FILE.npy|NAME=NUMBER ...] [--out NAME=FILE.npy ...]
                   [--run-opt OPT ...] [--sbatch-opt OPT ...] [--no-copy]
                   [--jobs-dir DIR] [--launcher auto|srun|mpirun] [--tessera PATH]
                   [--host USER@LOGIN] [--dry-run]
    tessera status JOB [--json]
    tessera fetch JOB [--dest DIR] [--timeout S] [--poll S]

submit writes a job directory, JOBS-DIR/NAME-YYYYmmdd-HHMMSS/ (JOBS-DIR is
./tessera-jobs by default):
    PROG.tsl         a copy of the program
    inputs/          copies of the --arg files (--no-copy: the job reads the
                     files where they are, by absolute path: a shared file system)
    outputs/         where the job writes the --out files
    job.sbatch       the generated batch script (srun or mpirun, see below)
    job.json         what was submitted, the job id
    tessera-JOBID.out / tessera-JOBID.err   the job's stdout and stderr
then runs `sbatch --parsable job.sbatch` in that directory, prints the job id
and records the job in an index (~/.tessera/jobs.json; TESSERA_HOME moves it)
so that `status JOB` and `fetch JOB` find it. JOB is the job id, or the job
directory. --dry-run prints the script (and the sbatch command) and writes and
submits nothing.

The script does what slurm/tessera.sbatch does: TSR_THREADS from
--cpus-per-task, OPENBLAS_NUM_THREADS=1, and the launch: `srun --mpi=pmix
--cpus-per-task=C --cpu-bind=cores --kill-on-bad-exit=1` when `srun
--mpi=list` offers pmix (Open MPI needs PMIx to start under srun), else
`mpirun --map-by slot:PE=C --bind-to core` inside the allocation; the job's
stderr says which. Rank and thread layout come from the
allocation through the launcher. Every value that reaches the script is quoted
(shlex.quote): file names with spaces, quotes or $(...) are data, never code.

status prints the job's state: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED,
TIMEOUT, ... with the exit code (squeue while the job is queued or running,
then sacct, then scontrol, then the job directory's own record: the state
status/fetch last saw there, tessera-state, or the script's tessera-exit-code;
a cluster without accounting forgets finished jobs after MinJobAge).

fetch waits for the job to end (polling every --poll seconds, at most
--timeout seconds), copies the outputs and the job's stdout/stderr into
--dest (default .), and exits 0 when the job COMPLETED. When it failed or was
cancelled, it prints the state and the end of the job's stderr (Tessera's own
error message) and exits 1.

--host USER@LOGIN does the same on a remote cluster through ssh (ssh -o
BatchMode=yes: set up keys first; TESSERA_SSH replaces that command, e.g.
TESSERA_SSH='ssh -p 2222 -i ~/.ssh/cluster'). The job directory is staged
here, copied to the login node (tar over ssh) under --jobs-dir (relative to
the remote home unless absolute) and submitted there; status and fetch run
squeue/scontrol there and bring the results back over ssh. The remote side
needs `tessera` on PATH (or --tessera PATH, a path on the cluster);
--no-copy paths are paths on the cluster.

Exit status: 0 success; 1 the job failed or was cancelled, sbatch failed, or
an output is missing; 2 bad command line or unknown job; 3 fetch --timeout
reached while the job had not ended.
"""
import argparse
import datetime
import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
            "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}


STATE_FILE = "tessera-state"


class UsageError(Exception):
    pass


class JobError(Exception):
    pass


# ---- where commands run: here, or on --host through ssh ------------------

def ssh_command():
    """The ssh command line: TESSERA_SSH (e.g. 'ssh -p 2222 -i KEY'), else ssh in batch mode."""
    return shlex.split(os.environ.get("TESSERA_SSH") or "ssh -o BatchMode=yes")


class Site:
    """Runs commands and moves files, locally or on a login node over ssh."""

    def __init__(self, host=None):
        self.host = host
        self.ssh = ssh_command()

    def argv(self, argv, cwd=None):
        if not self.host:
            return argv
        cmd = shlex.join(argv)
        if cwd:
            cmd = "cd %s && %s" % (shlex.quote(cwd), cmd)
        return self.ssh + [self.host, cmd]

    def run(self, argv, cwd=None, check=False):
        full = self.argv(argv, cwd)
        try:
            r = subprocess.run(full, cwd=None if self.host else cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        except FileNotFoundError:
            if check:
                raise JobError("cannot run %s: not found (is Slurm installed here%s?)"
                               % (full[0], "" if not self.host else " / ssh"))
            return None
        if check and r.returncode != 0:
            raise JobError("%s failed (exit %d): %s" % (shlex.join(argv), r.returncode,
                                                         (r.stderr or r.stdout).strip()))
        return r

    def push_dir(self, local, remote):
        """Copies the local directory to REMOTE on the host (created): tar through ssh."""
        tar = subprocess.Popen(["tar", "-C", local, "-cf", "-", "."], stdout=subprocess.PIPE)
        r = subprocess.run(self.argv(["sh", "-c", 'mkdir -p -- "$1" && tar -C "$1" -xf -',
                                      "sh", remote]),
                           stdin=tar.stdout, stderr=subprocess.PIPE, text=True)
        tar.stdout.close()
        if tar.wait() != 0 or r.returncode != 0:
            raise JobError("copying the job directory to %s:%s failed: %s"
                           % (self.host, remote, r.stderr.strip()))

    def push_file(self, local, remote):
        with open(local, "rb") as f:
            r = subprocess.run(self.argv(["sh", "-c", 'cat > "$1"', "sh", remote]), stdin=f,
                               stderr=subprocess.PIPE)
        return r.returncode == 0

    def pull(self, remote_paths, dest):
        """Copies the files REMOTE_PATHS (those that exist) into DEST; returns the copied names."""
        os.makedirs(dest, exist_ok=True)
        copied = []
        for p in remote_paths:
            name = os.path.basename(p)
            if not self.host:
                if os.path.isfile(p):
                    shutil.copy2(p, os.path.join(dest, name))
                    copied.append(name)
                continue
            r = subprocess.run(self.argv(["cat", "--", p]), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                tmp = os.path.join(dest, ".%s.part" % name)
                with open(tmp, "wb") as f:
                    f.write(r.stdout)
                os.replace(tmp, os.path.join(dest, name))
                copied.append(name)
        return copied

    def read(self, path):
        if not self.host:
            try:
                with open(path, errors="replace") as f:
                    return f.read()
            except OSError:
                return None
        r = self.run(["cat", "--", path])
        return r.stdout if r is not None and r.returncode == 0 else None

    def listdir(self, path):
        if not self.host:
            try:
                return sorted(os.listdir(path))
            except OSError:
                return []
        r = self.run(["ls", "-1A", "--", path])
        return sorted(r.stdout.splitlines()) if r is not None and r.returncode == 0 else []


# ---- the job index -------------------------------------------------------

def index_path():
    home = os.environ.get("TESSERA_HOME") or os.path.join(os.path.expanduser("~"), ".tessera")
    return os.path.join(home, "jobs.json")


def index_update(job):
    path = index_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        jobs = index_load()
        key = job["job_id"] if not job.get("host") else "%s:%s" % (job["host"], job["job_id"])
        jobs[key] = {k: job[k] for k in ("job_id", "dir", "host", "name", "submitted", "outputs")}
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".jobs.")
        with os.fdopen(fd, "w") as f:
            json.dump(jobs, f, indent=1, sort_keys=True)
        os.replace(tmp, path)


def index_load():
    try:
        with open(index_path()) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def find_job(ref):
    """JOB as given: a job directory (with job.json), or a job id in the index."""
    if os.path.isfile(os.path.join(ref, "job.json")):
        with open(os.path.join(ref, "job.json")) as f:
            job = json.load(f)
        job["dir"] = os.path.abspath(ref)  # the directory as found here
        return job
    jobs = index_load()
    if ref in jobs:
        return jobs[ref]
    hits = [j for k, j in jobs.items() if str(j.get("job_id")) == ref]
    if len(hits) > 1:
        hits.sort(key=lambda j: j.get("submitted", ""))
    if hits:
        return hits[-1]
    if re.fullmatch(r"\d+", ref):
        # Not submitted through tessera submit (or another index): state only.
        return {"job_id": ref, "dir": None, "host": None, "name": None, "outputs": []}
    raise UsageError("no job '%s': give a job id from 'tessera submit' (index %s) or a job "
                     "directory" % (ref, index_path()))


# ---- submit ----------------------------------------------------------------

def is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def split_binding(opt, s):
    name, eq, value = s.partition("=")
    if not eq or not name or not value:
        raise UsageError("%s needs NAME=VALUE, got '%s'" % (opt, s))
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_?!*<>=+\-/.]*", name):
        raise UsageError("%s: '%s' is not a parameter name" % (opt, name))
    return name, value


def safe_name(s):
    """A job/directory name: letters, digits, '.', '_' and '-' only."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("._") or "job"
    return s[:60]


def unique_name(used, name):
    base, ext = os.path.splitext(name)
    k = 2
    while name in used:
        name = "%s-%d%s" % (base, k, ext)
        k += 1
    used.add(name)
    return name


def make_script(a, prog_name, run_args, remote_dir):
    q = shlex.quote
    lines = ["#!/bin/bash",
             "# Generated by tessera submit (apps/tessera_submit.py); the same launch as",
             "# slurm/tessera.sbatch. Submit again with: cd JOB-DIR && sbatch job.sbatch",
             "#SBATCH --job-name=%s" % a.job_name,
             "#SBATCH --nodes=%d" % a.nodes,
             "#SBATCH --ntasks-per-node=%d" % a.ntasks_per_node,
             "#SBATCH --cpus-per-task=%d" % a.cpus_per_task,
             "#SBATCH --output=tessera-%j.out",
             "#SBATCH --error=tessera-%j.err"]
    if a.time:
        lines.append("#SBATCH --time=%s" % a.time)
    if a.partition:
        lines.append("#SBATCH --partition=%s" % a.partition)
    if a.account:
        lines.append("#SBATCH --account=%s" % a.account)
    lines += [
        "",
        "# --sbatch-opt options are given to sbatch on its command line (see job.json).",
        "",
        "set -u",
        "cd -- %s || exit 1" % q(remote_dir),
        "TESSERA=%s" % q(a.tessera),
        "RUN_ARGS=(%s)" % " ".join(q(x) for x in ["run", prog_name] + run_args),
        "LAUNCHER=${TSR_LAUNCHER:-%s}" % q(a.launcher),
        "CPUS=${SLURM_CPUS_PER_TASK:-1}",
        "",
        "# Threads per rank from --cpus-per-task; BLAS single-threaded inside ranks.",
        "export TSR_THREADS=$CPUS",
        "export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1",
        "# Open MPI refuses to run as root unless told (test clusters run as root).",
        'if [ "$(id -u)" = 0 ]; then',
        "  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
        "fi",
        "",
        "# srun starts Open MPI ranks only through PMIx; otherwise mpirun inside",
        "# the allocation (it reads the node list and slots from Slurm itself).",
        'if [ "$LAUNCHER" = auto ]; then',
        "  if srun --mpi=list 2>&1 | grep -qi pmix; then LAUNCHER=srun; else LAUNCHER=mpirun; fi",
        "fi",
        'echo "tessera job ${SLURM_JOB_ID:-?}: ${SLURM_JOB_NUM_NODES:-?} node(s)' +
        ' (${SLURM_JOB_NODELIST:-?}), ${SLURM_NTASKS:-?} ranks, $CPUS thread(s) per rank,' +
        ' launcher $LAUNCHER" >&2',
        'case "$LAUNCHER" in',
        "  srun)",
        "    # --cpus-per-task again: srun does not take it from the job (Slurm 22.05 to 23.02);",
        "    # --kill-on-bad-exit: a rank that dies ends the step instead of leaving it hanging.",
        '    srun --mpi=pmix --cpus-per-task="$CPUS" --cpu-bind=cores --kill-on-bad-exit=1 \\',
        '        "$TESSERA" "${RUN_ARGS[@]}" ;;',
        "  mpirun)",
        '    mpirun --map-by "slot:PE=$CPUS" --bind-to core "$TESSERA" "${RUN_ARGS[@]}" ;;',
        "  *)",
        '    echo "tessera job: unknown launcher \'$LAUNCHER\' (auto, srun or mpirun)" >&2',
        "    exit 2 ;;",
        "esac",
        "rc=$?",
        'echo "$rc" > tessera-exit-code',
        'echo "tessera job ${SLURM_JOB_ID:-?}: tessera run exited with status $rc" >&2',
        'exit "$rc"',
        ""]
    return "\n".join(lines)


def check_sbatch_value(opt, value, pattern):
    if value is not None and not re.fullmatch(pattern, value):
        raise UsageError("%s: '%s' is not a valid value" % (opt, value))


def cmd_submit(argv, tessera_exe):
    ap = argparse.ArgumentParser(
        prog="tessera submit", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Submit a Tessera program as a Slurm batch job (see 'tessera status' and "
                    "'tessera fetch').",
        epilog=__doc__[__doc__.index("submit writes"):])
    ap.add_argument("prog", metavar="PROG.tsl")
    ap.add_argument("--nodes", type=int, default=1, metavar="N", help="nodes (default 1)")
    ap.add_argument("--ntasks-per-node", type=int, default=1, metavar="M",
                    help="MPI ranks per node (default 1)")
    ap.add_argument("--cpus-per-task", type=int, default=1, metavar="C",
                    help="cores per rank = TSR_THREADS worker threads (default 1)")
    ap.add_argument("--time", metavar="T", help="wall-clock limit, e.g. 00:30:00")
    ap.add_argument("--partition", metavar="P")
    ap.add_argument("--account", metavar="A")
    ap.add_argument("--job-name", metavar="NAME", help="default: the program's name")
    ap.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                    help="as tessera run: NAME=FILE.npy (copied into the job unless --no-copy)"
                         " or NAME=NUMBER")
    ap.add_argument("--out", action="append", default=[], metavar="NAME=FILE.npy",
                    help="as tessera run; written to the job's outputs/, fetch brings it back")
    ap.add_argument("--run-opt", action="append", default=[], metavar="OPT",
                    help="more tessera run options, one per --run-opt (e.g. --run-opt=--timing)")
    ap.add_argument("--sbatch-opt", action="append", default=[], metavar="OPT",
                    help="more sbatch options, one per --sbatch-opt (e.g. --sbatch-opt=--mem=4G)")
    ap.add_argument("--no-copy", action="store_true",
                    help="the job reads --arg files in place (absolute paths on a shared "
                         "file system) instead of copies in the job directory")
    ap.add_argument("--jobs-dir", default="tessera-jobs", metavar="DIR",
                    help="job directories go under DIR (default ./tessera-jobs)")
    ap.add_argument("--launcher", choices=("auto", "srun", "mpirun"), default="auto",
                    help="auto (default): srun when it offers PMIx, else mpirun")
    ap.add_argument("--tessera", metavar="PATH",
                    help="the tessera the job runs (default: this one; 'tessera' with --host)")
    ap.add_argument("--host", metavar="USER@LOGIN", help="submit on this login node (through ssh)")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the script and the sbatch command; write and submit nothing")
    a = ap.parse_args(argv)

    for opt, v in (("--nodes", a.nodes), ("--ntasks-per-node", a.ntasks_per_node),
                   ("--cpus-per-task", a.cpus_per_task)):
        if v < 1:
            raise UsageError("%s needs a positive integer, got %d" % (opt, v))
    check_sbatch_value("--time", a.time, r"[0-9:-]+|UNLIMITED|INFINITE")
    check_sbatch_value("--partition", a.partition, r"[A-Za-z0-9._,-]+")
    check_sbatch_value("--account", a.account, r"[A-Za-z0-9._-]+")
    if not os.path.isfile(a.prog):
        raise UsageError("cannot read program '%s'" % a.prog)
    if a.tessera is None:
        a.tessera = "tessera" if a.host else (tessera_exe or shutil.which("tessera") or "tessera")
    elif not a.host and os.sep in a.tessera:
        a.tessera = os.path.abspath(a.tessera)
    stem = os.path.splitext(os.path.basename(a.prog))[0]
    a.job_name = safe_name(a.job_name if a.job_name else stem)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    dir_name = "%s-%s" % (a.job_name, stamp)

    # Where the job directory lives where the job runs, and where it is built here.
    if a.host:
        remote_dir = os.path.join(a.jobs_dir, dir_name)
        if not os.path.isabs(remote_dir):
            remote_dir = "$HOME/" + remote_dir  # resolved below on the host
    else:
        jobs_dir = os.path.abspath(a.jobs_dir)
        remote_dir = os.path.join(jobs_dir, dir_name)
        k = 2
        while os.path.exists(remote_dir) and not a.dry_run:
            remote_dir = os.path.join(jobs_dir, "%s-%d" % (dir_name, k))
            k += 1
    site = Site(a.host)
    if a.host and remote_dir.startswith("$HOME/"):
        if a.dry_run:
            remote_dir = "~/" + remote_dir[6:]
        else:
            home = site.run(["sh", "-c", 'printf %s "$HOME"'], check=True).stdout.strip()
            remote_dir = home + remote_dir[5:]

    # Inputs: copies in inputs/ (default) or the files where they are.
    used = set()
    copies = []  # (source, name in inputs/)
    run_args = []
    for s in a.arg:
        name, value = split_binding("--arg", s)
        if is_number(value):
            run_args += ["--arg", "%s=%s" % (name, value)]
            continue
        if a.no_copy:
            path = value if a.host else os.path.abspath(value)
            if not a.host and not os.path.isfile(path):
                raise UsageError("--arg %s: no file '%s'" % (name, value))
            run_args += ["--arg", "%s=%s" % (name, path)]
            continue
        if not os.path.isfile(value):
            raise UsageError("--arg %s: no file '%s' (give NAME=FILE.npy or NAME=NUMBER)"
                             % (name, value))
        local = unique_name(used, os.path.basename(value))
        copies.append((value, local))
        run_args += ["--arg", "%s=inputs/%s" % (name, local)]
    outputs = []
    oused = set()
    for s in a.out:
        name, value = split_binding("--out", s)
        base = os.path.basename(value)
        if not base or base in (".", ".."):
            raise UsageError("--out %s: '%s' is not a file name" % (name, value))
        if base in oused:
            raise UsageError("--out: two outputs named '%s'" % base)
        oused.add(base)
        outputs.append(base)
        run_args += ["--out", "%s=outputs/%s" % (name, base)]
    run_args += a.run_opt
    prog_name = os.path.basename(a.prog)
    if prog_name in ("job.sbatch", "job.json", "inputs", "outputs"):
        prog_name = "prog-" + prog_name

    script = make_script(a, prog_name, run_args, remote_dir)
    sbatch = ["sbatch", "--parsable"] + a.sbatch_opt + ["job.sbatch"]
    if a.dry_run:
        where = "ssh %s, " % a.host if a.host else ""
        note = ("# (~ is the home directory on %s, made absolute when submitting)\n" % a.host
                if remote_dir.startswith("~/") else "")
        sys.stdout.write("# job directory: %s\n%s# submit with (%sin it): %s\n%s"
                         % (remote_dir, note, where, shlex.join(sbatch), script))
        return 0

    # Build the job directory (here, or staged here and copied to the host).
    stage = tempfile.mkdtemp(prefix="tessera-job-") if a.host else remote_dir
    os.makedirs(os.path.join(stage, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(stage, "outputs"), exist_ok=True)
    shutil.copy2(a.prog, os.path.join(stage, prog_name))
    for src, name in copies:
        shutil.copy2(src, os.path.join(stage, "inputs", name))
    # surrogateescape: argv bytes that are not UTF-8 go into the script as given.
    with open(os.path.join(stage, "job.sbatch"), "w", encoding="utf-8",
              errors="surrogateescape") as f:
        f.write(script)
    os.chmod(os.path.join(stage, "job.sbatch"), 0o755)
    job = {"job_id": None, "name": a.job_name, "dir": remote_dir, "host": a.host,
           "submitted": datetime.datetime.now().isoformat(timespec="seconds"),
           "program": os.path.abspath(a.prog), "outputs": outputs,
           "inputs": "referenced" if a.no_copy else "copied",
           "sbatch": sbatch, "tessera": a.tessera}

    def write_job():
        with open(os.path.join(stage, "job.json"), "w") as f:
            json.dump(job, f, indent=1)
            f.write("\n")

    write_job()
    if a.host:
        site.push_dir(stage, remote_dir)
    r = site.run(sbatch, cwd=remote_dir)
    if r is None or r.returncode != 0:
        # Nothing was submitted: no job directory left behind.
        if a.host:
            site.run(["rm", "-rf", "--", remote_dir])
            shutil.rmtree(stage, ignore_errors=True)
        else:
            shutil.rmtree(remote_dir, ignore_errors=True)
    if r is None:
        raise JobError("cannot run sbatch: not found (is Slurm installed%s?)"
                       % (" on " + a.host if a.host else " here"))
    if r.returncode != 0:
        raise JobError("sbatch refused the job (exit %d): %s"
                       % (r.returncode, (r.stderr or r.stdout).strip()))
    job_id = r.stdout.strip().split(";")[0]
    if not re.fullmatch(r"\d+", job_id):
        raise JobError("sbatch printed no job id: %r" % r.stdout)
    job["job_id"] = job_id
    write_job()
    if a.host:
        if not site.push_file(os.path.join(stage, "job.json"),
                              os.path.join(remote_dir, "job.json")):
            sys.stderr.write("tessera submit: warning: could not update job.json on %s\n"
                             % a.host)
        shutil.rmtree(stage, ignore_errors=True)
    index_update(job)
    print(job_id)
    sys.stderr.write("tessera submit: job %s, directory %s%s\n"
                     % (job_id, (a.host + ":") if a.host else "", remote_dir))
    return 0


# ---- status ----------------------------------------------------------------

def job_state(site, job):
    """(STATE, EXIT_CODE or None, source)."""
    jid = str(job["job_id"])
    r = site.run(["squeue", "-h", "-j", jid, "-o", "%T %r"])
    if r is not None and r.returncode == 0 and r.stdout.strip():
        st, _, reason = r.stdout.strip().splitlines()[0].partition(" ")
        st = st.upper()
        if st not in TERMINAL:
            reason = reason.strip()
            # A pending job's reason (Resources, Priority, PartitionConfig: it never fits).
            if st == "PENDING" and reason and reason not in ("None", "(null)"):
                return st, None, "squeue: " + reason
            return st, None, "squeue"
    r = site.run(["sacct", "-n", "-X", "-P", "-j", jid, "-o", "State,ExitCode"])
    if r is not None and r.returncode == 0 and r.stdout.strip():
        state, _, code = r.stdout.strip().splitlines()[0].partition("|")
        state = state.split()[0].upper() if state.split() else "UNKNOWN"
        if state not in ("", "UNKNOWN"):
            return state, code.strip() or None, "sacct"
    r = site.run(["scontrol", "-o", "show", "job", jid])
    if r is not None and r.returncode == 0:
        m = re.search(r"\bJobState=(\S+)", r.stdout)
        c = re.search(r"\bExitCode=(\S+)", r.stdout)
        if m:
            return m.group(1).upper(), c.group(1) if c else None, "scontrol"
    if job.get("dir"):
        # What status/fetch saw last (Slurm forgets finished jobs without accounting).
        seen = site.read(os.path.join(job["dir"], STATE_FILE))
        if seen and seen.split():
            w = seen.split()
            return w[0], (w[1] if len(w) > 1 else None), "job directory"
        code = site.read(os.path.join(job["dir"], "tessera-exit-code"))
        if code is not None and code.strip():
            rc = code.strip()
            return ("COMPLETED" if rc == "0" else "FAILED"), rc + ":0", "job directory"
    if shutil.which("squeue") is None and not job.get("host"):
        raise JobError("no Slurm here (squeue not found): cannot ask about job %s" % jid)
    return "UNKNOWN", None, "none"


def remember_state(site, job, state, code, src):
    """Keeps a finished job's state in its directory, for when Slurm no longer knows it."""
    if state not in TERMINAL or src == "job directory" or not job.get("dir"):
        return
    text = "%s %s\n" % (state, code or "")
    path = os.path.join(job["dir"], STATE_FILE)
    if not site.host:
        try:
            with open(path, "w") as f:
                f.write(text)
        except OSError:
            pass
    else:
        site.run(["sh", "-c", 'printf %s "$1" > "$2"', "sh", text, path])


def cmd_status(argv, tessera_exe):
    ap = argparse.ArgumentParser(
        prog="tessera status", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Print the Slurm state of a job from 'tessera submit': PENDING, RUNNING, "
                    "COMPLETED, FAILED, CANCELLED, TIMEOUT, ... and its exit code "
                    "(squeue, then sacct, then scontrol, then the job directory).",
        epilog="JOB is a job id (looked up in %s) or a job directory.\n"
               "Exit status: 0 state printed; 1 Slurm could not be asked; 2 unknown job."
               % index_path())
    ap.add_argument("job", metavar="JOB")
    ap.add_argument("--json", action="store_true", help="one JSON object")
    a = ap.parse_args(argv)
    job = find_job(a.job)
    site = Site(job.get("host"))
    state, code, src = job_state(site, job)
    remember_state(site, job, state, code, src)
    reason = src.partition(": ")[2] or None
    if a.json:
        print(json.dumps({"job_id": job["job_id"], "state": state, "exit_code": code,
                          "reason": reason, "source": src.partition(":")[0],
                          "dir": job.get("dir"), "host": job.get("host")}))
    else:
        extra = " exit %s" % code if code else ""
        extra += " (%s)" % reason if reason else ""
        where = (" %s%s" % ((job["host"] + ":") if job.get("host") else "", job["dir"])
                 if job.get("dir") else "")
        print("%s %s%s%s" % (job["job_id"], state, extra, where))
    return 0


# ---- fetch -----------------------------------------------------------------

def error_text(text, lines=15):
    """The end of the job's stderr: the lines that explain the failure."""
    keep = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(keep[-lines:])


def cmd_fetch(argv, tessera_exe):
    ap = argparse.ArgumentParser(
        prog="tessera fetch", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Wait for a job from 'tessera submit' to end, then copy its outputs and its "
                    "stdout/stderr (tessera-JOBID.out/.err) into --dest.",
        epilog="JOB is a job id (looked up in %s) or a job directory.\n"
               "Exit status: 0 the job COMPLETED and its outputs are here; 1 it failed, was\n"
               "cancelled or timed out (its error is printed), or an output is missing;\n"
               "2 bad command line or unknown job; 3 --timeout reached before the job ended."
               % index_path())
    ap.add_argument("job", metavar="JOB")
    ap.add_argument("--dest", default=".", metavar="DIR", help="copy here (default .)")
    ap.add_argument("--timeout", type=float, default=None, metavar="S",
                    help="give up waiting after S seconds (default: wait as long as it takes)")
    ap.add_argument("--poll", type=float, default=2.0, metavar="S",
                    help="seconds between state checks (default 2)")
    ap.add_argument("--no-wait", action="store_true", help="do not wait: copy what is there now")
    a = ap.parse_args(argv)
    job = find_job(a.job)
    if not job.get("dir"):
        raise UsageError("job %s was not submitted by 'tessera submit' (not in %s): "
                         "nothing to fetch" % (job["job_id"], index_path()))
    site = Site(job.get("host"))
    t0 = time.monotonic()
    said = None
    while True:
        state, code, src = job_state(site, job)
        if state in TERMINAL or a.no_wait:
            remember_state(site, job, state, code, src)
            break
        if src.startswith("squeue: ") and src != said:
            sys.stderr.write("tessera fetch: job %s PENDING, reason %s (squeue)\n"
                             % (job["job_id"], src[8:]))
            said = src
        if state == "UNKNOWN" and not site.listdir(job["dir"]):
            raise JobError("job %s: Slurm does not know it and its directory %s is gone"
                           % (job["job_id"], job["dir"]))
        if a.timeout is not None and time.monotonic() - t0 >= a.timeout:
            sys.stderr.write("tessera fetch: job %s still %s after %g s (--timeout)\n"
                             % (job["job_id"], state, a.timeout))
            return 3
        time.sleep(max(0.1, a.poll))
    jid = str(job["job_id"])
    d = job["dir"]
    logs = ["tessera-%s.out" % jid, "tessera-%s.err" % jid]
    got = site.pull([os.path.join(d, "outputs", o) for o in job.get("outputs", [])]
                    + [os.path.join(d, x) for x in logs], a.dest)
    print("tessera fetch: job %s %s%s; copied to %s: %s"
          % (jid, state, " exit " + code if code else "", a.dest,
             ", ".join(got) if got else "nothing"))
    if state != "COMPLETED":
        err = site.read(os.path.join(d, logs[1])) or ""
        sys.stderr.write("tessera fetch: job %s %s%s\n" % (jid, state,
                                                           " (exit %s)" % code if code else ""))
        if err.strip():
            sys.stderr.write("---- end of the job's stderr (%s) ----\n%s\n"
                             % (logs[1], error_text(err)))
        return 1
    missing = [o for o in job.get("outputs", []) if o not in got]
    if missing:
        sys.stderr.write("tessera fetch: job %s COMPLETED but wrote no %s (in %s/outputs)\n"
                         % (jid, ", ".join(missing), d))
        return 1
    return 0


def main(argv):
    # Arguments that are not UTF-8 (Python decodes them with surrogateescape)
    # are printed back as the bytes they were, not a UnicodeEncodeError
    # (found by tests/fuzz/submit_args_fuzz.py: --dry-run with such a --jobs-dir).
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="surrogateescape")
    tessera_exe = None
    if len(argv) >= 1 and argv[0] in ("submit", "status", "fetch"):
        sub, rest = argv[0], argv[1:]
    else:
        sys.stderr.write("usage: tessera_submit.py submit|status|fetch [--tessera-exe PATH] ...\n")
        return 2
    if len(rest) >= 2 and rest[0] == "--tessera-exe":
        tessera_exe, rest = rest[1], rest[2:]
    fn = {"submit": cmd_submit, "status": cmd_status, "fetch": cmd_fetch}[sub]
    try:
        return fn(rest, tessera_exe)
    except UsageError as e:
        sys.stderr.write("tessera %s: %s\n" % (sub, e))
        return 2
    except JobError as e:
        sys.stderr.write("tessera %s: %s\n" % (sub, e))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
