#!/usr/bin/python3
"""tessera submit / status / fetch against a real Slurm (tests/slurm/start-cluster).

    test_slurm_jobs.py logreg|logreg-mpirun|fail|cancel --tessera BUILD/apps/tessera --work DIR

  logreg  submit apps/logreg.tsl on 2 ranks (small data made here, in a
          directory whose name has spaces and $(...)), fetch, compare w with
          numpy's same iterations (launcher auto: srun when it offers PMIx)
  logreg-mpirun  the same with --launcher mpirun (mpirun inside the allocation)
  fail    submit with a bad --arg: fetch exits 1 and shows tessera run's error
  cancel  submit a long loop, wait until RUNNING, scancel it: status says
          CANCELLED, fetch exits 1

Fails at once, with the command to start one, when `sinfo` does not answer.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
START = "bash tests/slurm/start-cluster"


def die(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def need_cluster():
    try:
        r = subprocess.run(["sinfo", "-h", "-o", "%T"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
    except FileNotFoundError:
        die("no Slurm here (sinfo not found). These tests need a running cluster: "
            "as root, '%s' in %s (and 'bash tests/slurm/stop-cluster' after)" % (START, SRC))
    except subprocess.TimeoutExpired:
        die("sinfo did not answer in 30 s: is slurmctld running? Start it with '%s'" % START)
    if r.returncode != 0 or not r.stdout.strip():
        die("sinfo does not answer (%s): no running Slurm. Start it with '%s' in %s"
            % ((r.stderr or r.stdout).strip(), START, SRC))
    states = r.stdout.split()
    print("cluster: node states %s" % " ".join(states))
    if not any(s.startswith(("idle", "mix", "alloc")) for s in states):
        die("no usable node (sinfo: %s); see 'sinfo -R' and slurmd's log" % " ".join(states))


class T:
    def __init__(self, a):
        self.tessera = os.path.abspath(a.tessera)
        self.work = os.path.abspath(a.work)
        shutil.rmtree(self.work, ignore_errors=True)
        # A directory name with spaces and $(...): quoting is tested for real too.
        self.dir = os.path.join(self.work, "data dir $(touch pwned)")
        os.makedirs(self.dir)
        self.env = dict(os.environ, TESSERA_HOME=os.path.join(self.work, "home"))
        # Ranks of one job share the node: no single-copy (CMA) between them here.
        self.env.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        self.env.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")

    def run(self, *argv, check=None, timeout=None):
        cmd = [self.tessera] + list(argv)
        print("$ " + " ".join(cmd))
        r = subprocess.run(cmd, cwd=self.dir, env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
        sys.stdout.write(r.stdout)
        sys.stdout.write(r.stderr)
        if check is not None and r.returncode != check:
            die("%s exited %d, expected %d" % (argv[0], r.returncode, check))
        return r

    def submit(self, *argv):
        r = self.run("submit", *argv, check=0)
        jid = r.stdout.strip()
        if not jid.isdigit():
            die("submit printed no job id: %r" % r.stdout)
        return jid

    def state(self, jid):
        r = self.run("status", jid, "--json", check=0)
        return json.loads(r.stdout)["state"]


def test_logreg(t, launcher="auto"):
    import numpy as np
    rng = np.random.default_rng(7)
    m, n, iters, alpha = 3000, 8, 15, 1.0
    X = rng.standard_normal((m, n))
    y = (X @ rng.standard_normal(n) + 0.3 * rng.standard_normal(m) > 0).astype(float)
    np.save(os.path.join(t.dir, "X train.npy"), X)
    np.save(os.path.join(t.dir, "y $(touch pwned2).npy"), y)
    jid = t.submit(os.path.join(SRC, "apps", "logreg.tsl"), "--nodes", "1",
                   "--ntasks-per-node", "2", "--time", "00:05:00",
                   "--arg", "X=X train.npy", "--arg", "y=y $(touch pwned2).npy",
                   "--arg", "alpha=%r" % alpha, "--arg", "iters=%d" % iters,
                   "--out", "w=w out.npy", "--run-opt=--quiet", "--launcher", launcher)
    dest = os.path.join(t.dir, "fetched")
    t.run("fetch", jid, "--dest", dest, "--timeout", "300", "--poll", "1", check=0)
    w = np.load(os.path.join(dest, "w out.npy"))
    w_ref = np.zeros(n)
    for _ in range(iters):
        w_ref = w_ref - alpha / m * (X.T @ (1.0 / (1.0 + np.exp(-(X @ w_ref))) - y))
    err = float(np.max(np.abs(w - w_ref)) / np.max(np.abs(w_ref)))
    log = open(os.path.join(dest, "tessera-%s.err" % jid)).read()
    out = open(os.path.join(dest, "tessera-%s.out" % jid)).read()
    if "launcher" not in log:
        die("the job's stderr does not say which launcher ran it")
    if launcher != "auto" and "launcher " + launcher not in log:
        die("the job did not run with --launcher %s" % launcher)
    if "accuracy" not in out:
        die("the job's stdout has no accuracy line: %r" % out)
    if err > 1e-10:
        die("w differs from numpy's by %.3g (relative)" % err)
    if t.state(jid) != "COMPLETED":
        die("status does not say COMPLETED")
    print("ok: logreg on Slurm, w agrees with numpy to %.1e; %s" %
          (err, [ln for ln in log.splitlines() if "launcher" in ln][0]))


def test_fail(t):
    jid = t.submit(os.path.join(SRC, "apps", "logreg.tsl"), "--ntasks-per-node", "1",
                   "--arg", "X=1", "--arg", "y=1", "--arg", "alpha=1", "--arg", "iters=1",
                   "--arg", "nosuch=3", "--time", "00:02:00")
    r = t.run("fetch", jid, "--dest", os.path.join(t.dir, "fetched"), "--timeout", "180",
              "--poll", "1")
    if r.returncode != 1:
        die("fetch of a failed job exited %d, expected 1" % r.returncode)
    if "FAILED" not in r.stderr or "nosuch" not in r.stderr:
        die("fetch did not show FAILED and tessera run's error about 'nosuch'")
    st = t.state(jid)
    if st != "FAILED":
        die("status says %s, expected FAILED" % st)
    print("ok: failed job: fetch exits 1 with the job's error; status FAILED")


def test_cancel(t):
    prog = os.path.join(t.dir, "long loop.tsl")
    with open(prog, "w") as f:
        f.write("; counts to n, one number at a time: minutes for n = 1e9\n"
                "(define (main n)\n  (define s 0)\n  (while (< s n)\n    (set! s (+ s 1)))\n  s)\n")
    jid = t.submit(prog, "--ntasks-per-node", "1", "--arg", "n=1000000000", "--time", "00:05:00",
                   "--run-opt=--quiet")
    t0 = time.monotonic()
    while True:
        st = t.state(jid)
        if st == "RUNNING":
            break
        if st not in ("PENDING", "CONFIGURING") or time.monotonic() - t0 > 120:
            die("job %s is %s, never RUNNING (see its tessera-%s.err)" % (jid, st, jid))
        time.sleep(1)
    time.sleep(2)
    r = subprocess.run(["scancel", jid], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        die("scancel %s failed: %s" % (jid, r.stdout))
    t0 = time.monotonic()
    while True:
        st = t.state(jid)
        if st.startswith("CANCELLED"):
            break
        if time.monotonic() - t0 > 90:
            die("after scancel, status says %s, not CANCELLED" % st)
        time.sleep(1)
    r = t.run("fetch", jid, "--dest", os.path.join(t.dir, "fetched"), "--timeout", "30")
    if r.returncode != 1 or "CANCELLED" not in r.stderr:
        die("fetch of a cancelled job: exit %d, expected 1 and CANCELLED" % r.returncode)
    print("ok: scancel: status says %s; fetch exits 1" % st)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("test", choices=("logreg", "logreg-mpirun", "fail", "cancel"))
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--work", required=True, help="scratch directory (emptied first)")
    a = ap.parse_args()
    need_cluster()
    t = T(a)
    {"logreg": test_logreg, "logreg-mpirun": lambda t: test_logreg(t, "mpirun"),
     "fail": test_fail, "cancel": test_cancel}[a.test](t)
    pwned = [os.path.join(d, f) for d, _, fs in os.walk(t.work) for f in fs
             if f.startswith("pwned")]
    if pwned or os.path.exists("/tmp/pwned"):
        die("a name's $(...) ran: %s" % pwned)
    return 0


if __name__ == "__main__":
    sys.exit(main())
