#!/usr/bin/python3
"""f.submit() against a real Slurm (tests/slurm/start-cluster): the Python
front end's remote-function path over `tessera submit/status/fetch`.

    test_slurm_submit.py --tessera BUILD/apps/tessera --work DIR

  logreg   submit a jitted logistic regression on 2 ranks, status() is a
           Slurm state, result(timeout=) equals the plain numpy function
  fail     a job that fails (singular solve): result() raises TesseraError
           with tessera's message and the Python line
  cancel   a long job: when RUNNING, cancel(); status() becomes CANCELLED
           and result() raises TesseraError
  timeout  result(timeout=0.5) of a job still running raises TimeoutError
           (checked on the long job before it is cancelled)

Fails at once, with the command to start a cluster, when `sinfo` does not answer.
"""
import argparse
import inspect
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, 'python'))

import tessera  # noqa: E402

START = 'bash tests/slurm/start-cluster'


def die(msg):
    print('FAIL: ' + msg, flush=True)
    sys.exit(1)


def need_cluster():
    try:
        r = subprocess.run(['sinfo', '-h', '-o', '%T'], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
    except FileNotFoundError:
        die("no Slurm here (sinfo not found): start one as root with '%s' in %s" % (START, SRC))
    except subprocess.TimeoutExpired:
        die("sinfo did not answer in 30 s: start Slurm with '%s'" % START)
    if r.returncode != 0 or not r.stdout.strip():
        die("sinfo does not answer (%s): start Slurm with '%s' in %s"
            % ((r.stderr or r.stdout).strip(), START, SRC))
    print('cluster: node states %s' % ' '.join(r.stdout.split()), flush=True)


def logreg(X, y, alpha, iters):
    m = X.shape[0]
    w = np.zeros(X.shape[1])
    for i in range(iters):
        r = 1.0 / (1.0 + np.exp(-(X @ w))) - y
        w = w - (alpha / m) * (X.T @ r)
    return w


def bad_solve(A, b):
    z = b + 1.0
    return np.linalg.solve(A, z)       # LINE-SOLVE


def long_loop(v, n):
    for i in range(n):
        v = v * 0.5 + 1.0
    return v


def line_of(tag):
    src, _ = inspect.findsource(bad_solve)
    return next(i + 1 for i, t in enumerate(src) if tag in t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--tessera', required=True)
    ap.add_argument('--work', required=True)
    a = ap.parse_args()
    need_cluster()
    os.environ['TESSERA_EXE'] = os.path.abspath(a.tessera)
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.environ['TESSERA_HOME'] = os.path.join(work, 'home')
    jobs = os.path.join(work, 'jobs')

    # logreg
    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 5))
    y = (rng.random(200) < 1 / (1 + np.exp(-X @ np.arange(5.0)))).astype(float)
    f = tessera.jit(logreg)
    job = f.submit(X, y, 1.0, 40, nodes=1, ntasks_per_node=2, time='00:05:00', jobs_dir=jobs)
    print('submitted', job, flush=True)
    st = job.status()
    if st not in ('PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'COMPLETED'):
        die('status() of a new job is %r' % st)
    w = job.result(timeout=300)
    ref = logreg(X, y, 1.0, 40)
    if not (isinstance(w, np.ndarray) and w.shape == ref.shape
            and np.allclose(w, ref, rtol=1e-9, atol=1e-12)):
        die('logreg result %r differs from numpy %r' % (w, ref))
    if job.status() != 'COMPLETED':
        die('status() after result() is %s' % job.status())
    print('ok logreg: result equals numpy, status COMPLETED', flush=True)

    # fail
    g = tessera.jit(bad_solve)
    job = g.submit(np.zeros((3, 3)), np.ones(3), ntasks_per_node=2, time='00:05:00',
                   jobs_dir=jobs)
    try:
        job.result(timeout=300)
        die('a failing job returned a result')
    except tessera.TesseraError as e:
        print('   ', e)
        if 'singular' not in str(e):
            die('the failing job\'s error does not say singular: %s' % e)
        if e.pyline != line_of('LINE-SOLVE'):
            die('the failing job\'s error is at line %s, not %d' % (e.pyline, line_of('LINE-SOLVE')))
    print('ok fail: TesseraError with the message and the Python line', flush=True)

    # timeout + cancel
    h = tessera.jit(long_loop)
    job = h.submit(np.ones(2000), 10 ** 8, ntasks_per_node=1, time='00:10:00', jobs_dir=jobs)
    t0 = time.time()
    while job.status() != 'RUNNING':
        if time.time() - t0 > 120:
            die('the long job never reached RUNNING (%s)' % job.status())
        time.sleep(1)
    try:
        job.result(timeout=0.5)
        die('result(timeout=0.5) of a running job returned')
    except TimeoutError:
        print('ok timeout: TimeoutError', flush=True)
    job.cancel()
    t0 = time.time()
    while True:
        st = job.status()
        if st.startswith('CANCELLED'):
            break
        if time.time() - t0 > 60:
            die('after cancel(), status is %s' % st)
        time.sleep(1)
    try:
        job.result(timeout=60)
        die('result() of a cancelled job returned')
    except tessera.TesseraError as e:
        print('   ', str(e)[:300])
    print('ok cancel: CANCELLED, result() raises', flush=True)
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
