#!/usr/bin/python3
"""tessera submit/status/fetch without a cluster: sbatch, squeue, sacct,
scontrol and srun are stubs on PATH, and tessera run is a stub that records its
argv. Checks:

  * --dry-run prints the script and the sbatch command, runs no sbatch and
    writes no job directory;
  * names with spaces, quotes and $(touch ...) reach `tessera run` unchanged
    when the generated script runs under bash, and nothing is executed (no
    'pwned' file appears anywhere);
  * submit copies the program and the --arg files, records the job (index and
    job.json), prints sbatch's job id, runs sbatch in the job directory;
  * status reports the stubbed states; fetch copies outputs and logs, and on
    a FAILED job exits 1 with the job's stderr.

    test_submit_stub.py --tessera BUILD/apps/tessera
"""
import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

FAILS = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        FAILS.append(what)


def write_exe(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


STUBS = {
    # sbatch: records its argv and cwd, prints a job id the way --parsable does.
    "sbatch": """#!/bin/sh
/usr/bin/python3 -c 'import json, os, sys; json.dump({"argv": sys.argv[1:], "cwd": os.getcwd()}, open(os.environ["STUB_DIR"] + "/sbatch.json", "w"))' "$@"
echo "4242;cluster"
""",
    # squeue: the state in $STUB_DIR/squeue (empty: not queued).
    "squeue": """#!/bin/sh
cat "$STUB_DIR/squeue.state" 2>/dev/null
""",
    "sacct": """#!/bin/sh
cat "$STUB_DIR/sacct.state" 2>/dev/null
""",
    "scontrol": """#!/bin/sh
echo "slurm_load_jobs error: Invalid job id specified" >&2
exit 1
""",
    # srun: offers pmix; otherwise drops its own options and runs the program.
    "srun": """#!/bin/sh
if [ "$1" = "--mpi=list" ]; then echo "MPI plugin types are..."; echo "	pmix"; exit 0; fi
while [ $# -gt 0 ]; do case "$1" in -*) shift ;; *) break ;; esac; done
exec "$@"
""",
    # tessera: records argv; `run` writes every --out file; fails on --arg bad=...
    "fake-tessera": """#!/usr/bin/python3
import json, os, sys
json.dump({"argv": sys.argv[1:], "cwd": os.getcwd(),
           "threads": os.environ.get("TSR_THREADS")},
          open(os.environ["STUB_DIR"] + "/tessera.json", "w"))
args = sys.argv[1:]
for i, a in enumerate(args):
    if a == "--arg" and args[i + 1].startswith("bad="):
        sys.stderr.write("prog.tsl: --arg bad: main has no parameter 'bad'\\n")
        sys.exit(2)
for i, a in enumerate(args):
    if a == "--out":
        path = args[i + 1].partition("=")[2]
        open(path, "w").write("result\\n")
print("accuracy 1")
""",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tessera", required=True)
    a = ap.parse_args()
    tessera = os.path.abspath(a.tessera)

    top = tempfile.mkdtemp(prefix="tsr submit stub $(touch pwned) ")
    try:
        stub = os.path.join(top, "stubs")
        os.makedirs(stub)
        for name, text in STUBS.items():
            write_exe(os.path.join(stub, name), text)
        env = dict(os.environ, STUB_DIR=stub, TESSERA_HOME=os.path.join(top, "home"),
                   PATH=stub + os.pathsep + os.environ.get("PATH", ""), HOME=top)
        work = os.path.join(top, "work dir")
        os.makedirs(work)
        evil = "my prog $(touch pwned) `touch pwned2` 'q\".tsl"
        with open(os.path.join(work, evil), "w") as f:
            f.write("(define (main X alpha) X)\n")
        data = "x y $(touch $HOME-pwned);touch pwned3.npy"
        with open(os.path.join(work, data), "wb") as f:
            f.write(b"\x93NUMPY fake")
        out = "w $(touch pwned4) 'o'.npy"
        args = [evil, "--nodes", "1", "--ntasks-per-node", "2", "--cpus-per-task", "3",
                "--time", "00:05:00", "--job-name", "job $(touch pwned5)",
                "--arg", "X=" + data, "--arg", "alpha=0.5", "--out", "w=" + out,
                "--run-opt=--timing", "--sbatch-opt=--comment=a b", "--tessera",
                os.path.join(stub, "fake-tessera")]

        def tessera_cmd(*argv, **kw):
            return subprocess.run([tessera] + list(argv), cwd=work, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)

        # 1. --dry-run: the script on stdout, nothing written, no sbatch.
        r = tessera_cmd("submit", *args, "--dry-run")
        print(r.stdout + r.stderr)
        check(r.returncode == 0, "submit --dry-run exits 0")
        check("#!/bin/bash" in r.stdout and "#SBATCH --ntasks-per-node=2" in r.stdout,
              "--dry-run prints the batch script")
        check("sbatch --parsable '--comment=a b' job.sbatch" in r.stdout,
              "--dry-run prints the quoted sbatch command")
        check(not os.path.exists(os.path.join(stub, "sbatch.json")), "--dry-run runs no sbatch")
        check(not os.path.exists(os.path.join(work, "tessera-jobs")),
              "--dry-run writes no job directory")
        check(subprocess.run(["bash", "-n"], input=r.stdout, text=True).returncode == 0,
              "the printed script is valid bash")

        # 2. submit for real (stub sbatch).
        r = tessera_cmd("submit", *args)
        print(r.stdout + r.stderr)
        check(r.returncode == 0 and r.stdout.strip() == "4242", "submit prints the job id")
        sb = json.load(open(os.path.join(stub, "sbatch.json")))
        jobdir = sb["cwd"]
        check(sb["argv"] == ["--parsable", "--comment=a b", "job.sbatch"],
              "sbatch gets --parsable, the --sbatch-opt and job.sbatch: %s" % sb["argv"])
        check(os.path.dirname(jobdir) == os.path.join(work, "tessera-jobs")
              and os.path.basename(jobdir).startswith("job_touch_pwned5-"),
              "job directory under ./tessera-jobs named after --job-name: %s" % jobdir)
        check(os.path.isfile(os.path.join(jobdir, evil)), "program copied")
        check(os.path.isfile(os.path.join(jobdir, "inputs", data)), "--arg file copied")
        check(os.path.isdir(os.path.join(jobdir, "outputs")), "outputs/ made")
        job = json.load(open(os.path.join(jobdir, "job.json")))
        check(job["job_id"] == "4242" and job["outputs"] == [out], "job.json records the job")
        idx = json.load(open(os.path.join(top, "home", "jobs.json")))
        check(idx.get("4242", {}).get("dir") == jobdir, "index records the job directory")

        # 3. run the generated script as Slurm would (in the job directory).
        jenv = dict(env, SLURM_JOB_ID="4242", SLURM_CPUS_PER_TASK="3", SLURM_NTASKS="2")
        with open(os.path.join(jobdir, "tessera-4242.out"), "w") as fo, \
                open(os.path.join(jobdir, "tessera-4242.err"), "w") as fe:
            rc = subprocess.run(["bash", "job.sbatch"], cwd=jobdir, env=jenv, stdout=fo,
                                stderr=fe).returncode
        err = open(os.path.join(jobdir, "tessera-4242.err")).read()
        print(err)
        check(rc == 0, "the job script runs")
        check("launcher srun" in err, "the job log says which launcher (srun: pmix offered)")
        t = json.load(open(os.path.join(stub, "tessera.json")))
        want = ["run", evil, "--arg", "X=inputs/" + data, "--arg", "alpha=0.5",
                "--out", "w=outputs/" + out, "--timing"]
        check(t["argv"] == want, "tessera run gets every name unchanged:\n  %s\n  %s"
              % (t["argv"], want))
        check(t["cwd"] == jobdir and t["threads"] == "3",
              "runs in the job directory with TSR_THREADS = --cpus-per-task")
        # mpirun path (TSR_LAUNCHER=mpirun) with a stub mpirun that logs its options.
        write_exe(os.path.join(stub, "mpirun"),
                  "#!/bin/sh\necho \"$@\" > \"$STUB_DIR/mpirun.args\"\n"
                  "while [ $# -gt 0 ]; do case \"$1\" in --*) shift 2 ;; *) break ;; esac; done\n"
                  "exec \"$@\"\n")
        r2 = subprocess.run(["bash", "job.sbatch"], cwd=jobdir, env=dict(jenv, TSR_LAUNCHER="mpirun"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        margs = open(os.path.join(stub, "mpirun.args")).read()
        check(r2.returncode == 0 and "launcher mpirun" in r2.stderr
              and margs.startswith("--map-by slot:PE=3 --bind-to core "),
              "mpirun launch binds each rank to its cores: %s" % margs.strip())

        pwned = [os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs
                 if f.startswith("pwned") or f.endswith("-pwned")]
        pwned += [p for p in ("/tmp/pwned", top + "-pwned") if os.path.exists(p)]
        check(not pwned and not os.path.exists(os.path.join(top, "..", "pwned")),
              "no command in a name ran: %s" % pwned)

        # 4. status and fetch.
        open(os.path.join(stub, "squeue.state"), "w").write("RUNNING\n")
        r = tessera_cmd("status", "4242")
        check(r.returncode == 0 and r.stdout.startswith("4242 RUNNING"),
              "status: RUNNING from squeue: %r" % r.stdout)
        r = tessera_cmd("fetch", "4242", "--timeout", "1", "--poll", "0.2")
        check(r.returncode == 3 and "still RUNNING" in r.stderr,
              "fetch --timeout while running exits 3: %r" % r.stderr)
        open(os.path.join(stub, "squeue.state"), "w").write("")
        open(os.path.join(stub, "sacct.state"), "w").write("COMPLETED|0:0\n")
        r = tessera_cmd("status", "4242")
        check(r.stdout.startswith("4242 COMPLETED exit 0:0"), "status: COMPLETED from sacct")
        r = tessera_cmd("status", jobdir, "--json")
        check(r.returncode == 0 and json.loads(r.stdout)["state"] == "COMPLETED",
              "status JOB-DIR --json")
        dest = os.path.join(top, "dest $(touch pwned6)")
        r = tessera_cmd("fetch", "4242", "--dest", dest)
        print(r.stdout + r.stderr)
        check(r.returncode == 0 and os.path.isfile(os.path.join(dest, out))
              and os.path.isfile(os.path.join(dest, "tessera-4242.err")),
              "fetch copies the output and the logs into --dest")

        # 5. a failing job: fetch exits 1 with the job's error.
        r = tessera_cmd("submit", *(args + ["--arg", "bad=1"]))
        check(r.returncode == 0, "submit (bad argument) is accepted by submit")
        jobdir = json.load(open(os.path.join(stub, "sbatch.json")))["cwd"]
        with open(os.path.join(jobdir, "tessera-4242.err"), "w") as fe:
            rc = subprocess.run(["bash", "job.sbatch"], cwd=jobdir, env=jenv,
                                stdout=subprocess.DEVNULL, stderr=fe).returncode
        check(rc == 2, "the job exits with tessera run's status (2)")
        open(os.path.join(stub, "sacct.state"), "w").write("FAILED|2:0\n")
        r = tessera_cmd("fetch", "4242", "--dest", dest)
        print(r.stdout + r.stderr)
        check(r.returncode == 1 and "FAILED" in r.stderr
              and "main has no parameter 'bad'" in r.stderr,
              "fetch of a failed job exits 1 with the job's error")

        # 6. --no-copy: the job reads the file where it is (absolute path), no inputs/ copy.
        r = tessera_cmd("submit", *(args + ["--no-copy"]))
        jobdir = json.load(open(os.path.join(stub, "sbatch.json")))["cwd"]
        check(r.returncode == 0 and not os.listdir(os.path.join(jobdir, "inputs"))
              and json.load(open(os.path.join(jobdir, "job.json")))["inputs"] == "referenced",
              "--no-copy copies no input")
        subprocess.run(["bash", "job.sbatch"], cwd=jobdir, env=jenv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        t = json.load(open(os.path.join(stub, "tessera.json")))
        check(t["argv"][3] == "X=" + os.path.join(work, data),
              "--no-copy: tessera run reads the file by its absolute path: %s" % t["argv"][3])

        # 7. usage errors.
        r = tessera_cmd("submit", "nosuch.tsl")
        check(r.returncode == 2 and "cannot read program" in r.stderr, "missing program: exit 2")
        r = tessera_cmd("submit", evil, "--arg", "X=nosuch.npy")
        check(r.returncode == 2 and "no file" in r.stderr, "missing --arg file: exit 2")
        r = tessera_cmd("status", "no-such-job")
        check(r.returncode == 2 and "no job" in r.stderr, "unknown job: exit 2")
        for sub in ("submit", "status", "fetch"):
            r = tessera_cmd(sub, "--help")
            check(r.returncode == 0 and "usage: tessera " + sub in r.stdout, sub + " --help")
    finally:
        shutil.rmtree(top, ignore_errors=True)
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
