#!/usr/bin/python3
"""Real-Slurm test of slurm/tessera.sbatch and slurm/scaling.sbatch.

    test_sbatch_templates.py --tessera BUILD/apps/tessera --work DIR

Needs a running cluster (bash tests/slurm/start-cluster); fails with that advice
when `sinfo` does not answer. Submits, with plain sbatch:
  * tessera.sbatch running apps/logreg.tsl at 2 ranks with the automatic launcher
    and with TSR_LAUNCHER=mpirun; w must equal numpy's, the log must name the launcher;
  * tessera.sbatch with a bad --arg: the job FAILS and its log has tessera's error;
  * scaling.sbatch --ranks 1,2: scaling.csv with one row per size and scaling.png.
"""
import argparse
import csv
import os
import re
import subprocess
import sys
import time

import numpy as np

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RANKS = 2


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def job_state(job):
    r = sh(["squeue", "-h", "-t", "all", "-j", job, "-o", "%T"])
    st = r.stdout.strip()
    if not st:
        r = sh(["scontrol", "show", "job", job])
        m = re.search(r"JobState=(\S+)", r.stdout)
        st = m.group(1) if m else ""
    return st


def wait(job, limit=300):
    t0 = time.time()
    while time.time() - t0 < limit:
        st = job_state(job)
        if st and st not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING"):
            return st
        time.sleep(1)
    sh(["scancel", job])
    fail("job %s did not end within %d s" % (job, limit))


def sbatch(work, args, env_extra):
    env = ",".join(["ALL"] + ["%s=%s" % kv for kv in env_extra.items()])
    r = sh(["sbatch", "--parsable", "--export=" + env] + args, cwd=work)
    if r.returncode != 0:
        fail("sbatch %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout.strip().split(";")[0]


def numpy_logreg(X, y, alpha, iters):
    w = np.zeros(X.shape[1])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(X @ w)))
        w = w - (alpha / len(y)) * (X.T @ (p - y))
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    tessera = os.path.abspath(a.tessera)
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)

    try:
        ok = sh(["sinfo", "-h", "-o", "%t"]).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        fail("no Slurm cluster answers (sinfo failed); start one first, as root: "
             "bash tests/slurm/start-cluster")

    rng = np.random.default_rng(3)
    X = rng.standard_normal((600, 8))
    y = (X @ rng.standard_normal(8) > 0).astype(np.float64)
    np.save(os.path.join(work, "X.npy"), X)
    np.save(os.path.join(work, "y.npy"), y)
    want = numpy_logreg(X, y, 1.0, 30)
    tpl = os.path.join(TOP, "slurm", "tessera.sbatch")
    run_args = [os.path.join(TOP, "apps", "logreg.tsl"), "--arg", "X=X.npy", "--arg", "y=y.npy",
                "--arg", "alpha=1", "--arg", "iters=30"]
    base = {"TESSERA": tessera}

    for launcher in ("auto", "mpirun"):
        out = "w-%s.npy" % launcher
        if os.path.exists(os.path.join(work, out)):
            os.remove(os.path.join(work, out))
        env = dict(base)
        if launcher != "auto":
            env["TSR_LAUNCHER"] = launcher
        job = sbatch(work, ["--ntasks-per-node=%d" % RANKS, tpl] + run_args + ["--out", "w=" + out],
                     env)
        st = wait(job)
        log = open(os.path.join(work, "tessera-%s.out" % job)).read()
        if st != "COMPLETED":
            fail("tessera.sbatch (%s) job %s ended %s:\n%s" % (launcher, job, st, log))
        m = re.search(r"(\d+) ranks, 1 core\(s\) and thread\(s\) per rank, launcher (\w+)", log)
        if not m or m.group(1) != str(RANKS):
            fail("job %s: no launcher line with %d ranks in its log:\n%s" % (job, RANKS, log))
        if launcher == "mpirun" and m.group(2) != "mpirun":
            fail("job %s: TSR_LAUNCHER=mpirun but the log says %s" % (job, m.group(2)))
        got = np.load(os.path.join(work, out))
        err = float(np.max(np.abs(got - want)))
        if err > 1e-10:
            fail("tessera.sbatch (%s): w differs from numpy by %g" % (launcher, err))
        print("ok: tessera.sbatch job %s, launcher %s, %d ranks, |w - numpy| = %.1e"
              % (job, m.group(2), RANKS, err))

    job = sbatch(work, ["--ntasks-per-node=%d" % RANKS, tpl, run_args[0], "--arg", "bogus=1"], base)
    st = wait(job)
    log = open(os.path.join(work, "tessera-%s.out" % job)).read()
    if st != "FAILED" or "main has no parameter 'bogus'" not in log:
        fail("bad --arg: job %s ended %s (want FAILED with tessera's error); log:\n%s"
             % (job, st, log))
    print("ok: tessera.sbatch job %s with a bad --arg FAILED with tessera's error" % job)

    sc = os.path.join(work, "scaling")
    job = sbatch(work, ["--ntasks=%d" % RANKS, os.path.join(TOP, "slurm", "scaling.sbatch"),
                        "--ranks", "1,%d" % RANKS, "--out", sc, "--", "tessera", "run"] +
                 run_args + ["--timing"], base)
    st = wait(job)
    log = open(os.path.join(work, "tessera-scaling-%s.out" % job)).read()
    if st != "COMPLETED":
        fail("scaling.sbatch job %s ended %s:\n%s" % (job, st, log))
    rows = list(csv.DictReader(open(os.path.join(sc, "scaling.csv"))))
    if [r["ranks"] for r in rows] != ["1", str(RANKS)] or not os.path.exists(
            os.path.join(sc, "scaling.png")):
        fail("scaling.sbatch job %s: scaling.csv ranks %s (want 1,%d) or no scaling.png:\n%s"
             % (job, [r["ranks"] for r in rows], RANKS, log))
    print("ok: scaling.sbatch job %s wrote scaling.csv (ranks 1,%d) and scaling.png" % (job, RANKS))


if __name__ == "__main__":
    main()
