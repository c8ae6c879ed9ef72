"""Running a transpiled program: `mpirun -np N tessera run`, locally, or
`tessera submit` to Slurm.

Everything a run needs lives in a temporary job directory (the program, the
array arguments as .npy, the --out files); it is removed when the call ends,
also on an error or KeyboardInterrupt, and then the job's whole process tree
(mpirun and every rank) is killed first: no orphan ranks.

Finding the executables:
  tessera  TESSERA_EXE, else BUILD/apps/tessera of the source checkout this
           package sits in (python/tessera/ -> ../../build/apps/tessera), else
           `tessera` on PATH
  mpirun   TESSERA_MPIRUN, else scripts/mpirun-tsr of the source checkout
           (root, oversubscribe, no binding), else `mpirun` on PATH
"""
from __future__ import annotations

import json
import numbers
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.realpath(__file__))
CHECKOUT = os.path.dirname(os.path.dirname(HERE))     # python/tessera -> repository root


class TesseraError(Exception):
    """A Tessera job failed. str(e) is "PYFILE:PYLINE: message" when the
    error's .tsl line maps to a line of the Python function, else the
    message. Attributes: message (tessera's own, without FILE:LINE:COL),
    pyfile, pyline (None when unknown), tsl_line, tsl_col, returncode, stderr
    (tessera's whole stderr), stdout."""

    def __init__(self, message, pyfile=None, pyline=None, tsl_line=None, tsl_col=None,
                 returncode=None, stderr='', stdout=''):
        self.message = message
        self.pyfile = pyfile
        self.pyline = pyline
        self.tsl_line = tsl_line
        self.tsl_col = tsl_col
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout
        where = ''
        if pyfile and pyline:
            where = '%s:%d: ' % (pyfile, pyline)
        super().__init__(where + message)


# ---- finding the executables ----------------------------------------------

def find_tessera():
    exe = os.environ.get('TESSERA_EXE')
    if exe:
        return exe
    for build in ('build',):
        cand = os.path.join(CHECKOUT, build, 'apps', 'tessera')
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    exe = shutil.which('tessera')
    if exe:
        return exe
    raise TesseraError('cannot find the tessera executable: set TESSERA_EXE, build it in %s '
                       '(meson setup build && ninja -C build) or put tessera on PATH'
                       % os.path.join(CHECKOUT, 'build'))


def find_mpirun():
    m = os.environ.get('TESSERA_MPIRUN')
    if m:
        return m
    cand = os.path.join(CHECKOUT, 'scripts', 'mpirun-tsr')
    if os.path.isfile(cand):
        return cand
    m = shutil.which('mpirun')
    if m:
        return m
    raise TesseraError('cannot find mpirun: install Open MPI or set TESSERA_MPIRUN')


# ---- arguments and results -------------------------------------------------

def _number_text(name, x):
    v = float(x)
    if not np.isfinite(v):
        raise TesseraError("argument '%s' is %r: only finite numbers can be passed "
                           "(pass an array instead)" % (name, v))
    return repr(v)


def bind_args(program, values, jobdir):
    """--arg options for main's parameters: values maps parameter -> value.
    Arrays (1-D or 2-D) are written as float64 .npy into jobdir, numbers and
    booleans are passed as text. Returns (argv, copies) with copies the
    list of (name, path) of written files."""
    argv = []
    for name in program.params:
        if name not in values:
            raise TypeError('%s() missing argument %r' % (program.name, name))
        x = values[name]
        if isinstance(x, (bool, np.bool_, numbers.Number)) and not isinstance(x, complex):
            argv += ['--arg', '%s=%s' % (name, _number_text(name, x))]
            continue
        a = np.asarray(x)
        if a.dtype == object or a.dtype.kind not in 'biuf':
            raise TypeError("argument '%s' of %s(): %s is not a number or a numeric array"
                            % (name, program.name, type(x).__name__))
        if a.ndim == 0:
            argv += ['--arg', '%s=%s' % (name, _number_text(name, a))]
            continue
        if a.ndim > 2:
            raise TypeError("argument '%s' of %s(): %d-D array; Tessera arrays are 1-D or 2-D"
                            % (name, program.name, a.ndim))
        path = os.path.join(jobdir, 'arg_%s.npy' % name)
        np.save(path, np.ascontiguousarray(a, dtype=np.float64))
        argv += ['--arg', '%s=%s' % (name, path)]
    return argv


def out_args(program, outdir):
    argv = []
    for name in program.outputs:
        argv += ['--out', '%s=%s' % (name, os.path.join(outdir, 'out_%s.npy' % name))]
    return argv


def load_results(program, outdir):
    vals = []
    for name in program.outputs:
        path = os.path.join(outdir, 'out_%s.npy' % name)
        if not os.path.isfile(path):
            raise TesseraError("the job wrote no output '%s' (%s)" % (name, path))
        a = np.load(path)
        vals.append(float(a) if a.ndim == 0 else a)
    if len(program.outputs) == 1 and program.outputs[0] == 'result':
        return vals[0]
    return tuple(vals)


# ---- errors ----------------------------------------------------------------

_ERR = re.compile(r'^(?P<file>[^\s:][^:]*\.tsl):(?P<line>\d+):(?P<col>\d+): (?P<msg>.*)$')


def py_line(program, tsl_line):
    """The Python line of .tsl line tsl_line: its own entry in linemap, else
    the nearest mapped line above it."""
    lm = getattr(program, 'linemap', None) or {}
    if tsl_line in lm:
        return lm[tsl_line]
    keys = sorted(k for k in lm if k <= tsl_line)
    return lm[keys[-1]] if keys else None


def job_error(program, returncode, stdout, stderr, what='tessera run'):
    """A TesseraError for a failed job: tessera's first FILE:LINE:COL error
    (rank 0's, else any rank's) mapped to the Python line; else the first
    meaningful stderr line."""
    lines = [ln.rstrip() for ln in stderr.splitlines() if ln.strip()]
    best = None
    for ln in lines:
        m = _ERR.match(ln)
        if m:
            msg = m.group('msg')
            rank = re.search(r' \[rank \d+\]$', msg)
            if rank:
                msg = msg[:rank.start()]
            if best is None or (best[2] and not rank):
                best = (m, msg, bool(rank))
            if not rank:
                break
    pyfile = getattr(program, 'pyfile', None)
    if best:
        m, msg, _ = best
        tl, tc = int(m.group('line')), int(m.group('col'))
        pl = py_line(program, tl)
        return TesseraError('%s (%s line %d)' % (msg, os.path.basename(m.group('file')), tl),
                            pyfile=pyfile if pl else None, pyline=pl, tsl_line=tl, tsl_col=tc,
                            returncode=returncode, stderr=stderr, stdout=stdout)
    plain = [ln for ln in lines if not ln.startswith(('-----', '[rank', 'warn'))
             and 'warn:' not in ln]
    msg = plain[0] if plain else '%s failed with exit status %s' % (what, returncode)
    msg = re.sub(r' \[rank \d+\]$', '', msg)
    return TesseraError(msg, returncode=returncode, stderr=stderr, stdout=stdout)


# ---- process-tree handling ---------------------------------------------------

def _children():
    """pid -> list of child pids, from /proc."""
    kids = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                s = f.read()
            ppid = int(s[s.rindex(')') + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def descendants(pid):
    """pid and every process below it (what this package started)."""
    kids = _children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def kill_tree(proc, grace=3.0):
    """End the job proc (started in its own session) and everything it
    started: SIGTERM to its process group and to each descendant, then
    SIGKILL to what is left after `grace` seconds; reaps proc."""
    if proc.poll() is not None:
        pids = []
    else:
        pids = descendants(proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for p in pids:
            try:
                os.kill(p, sig)
            except (ProcessLookupError, PermissionError):
                pass
        t0 = time.monotonic()
        while time.monotonic() - t0 < grace:
            if proc.poll() is not None and not any(_alive(p) for p in pids if p != proc.pid):
                break
            time.sleep(0.05)
        else:
            continue
        break
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
        return s[s.rindex(')') + 2] != 'Z'
    except (OSError, ValueError, IndexError):
        return False


def run_process(cmd, env=None, cwd=None, timeout=None):
    """Run cmd in a new session (so a terminal's Ctrl-C reaches only this
    Python process); returns (returncode, stdout, stderr). On any exception,
    KeyboardInterrupt included, the whole process tree is killed first."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, universal_newlines=True,
                            start_new_session=True, env=env, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        kill_tree(proc)
        raise
    return proc.returncode, out, err


# ---- local runs --------------------------------------------------------------

def _threads_env(threads):
    env = dict(os.environ)
    if threads:
        env['TSR_THREADS'] = str(int(threads))
    return env


def default_trace_path(name):
    d = os.path.join(tempfile.gettempdir(), 'tessera-traces')
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, '%s-%s-%d.json' % (name, time.strftime('%Y%m%d-%H%M%S'), os.getpid()))


def trace_summary(trace_path, tessera=None):
    """`tessera prof --json TRACE` as a dict."""
    tessera = tessera or find_tessera()
    rc, out, err = run_process([tessera, 'prof', '--json', trace_path], timeout=300)
    if rc != 0:
        raise TesseraError('tessera prof %s failed (exit %d): %s'
                           % (trace_path, rc, err.strip() or out.strip()))
    return json.loads(out)


def run_local(program, values, ranks=1, threads=None, trace=None, options=(),
              timeout=None, echo=True):
    """Run program with main's parameters bound from values (dict) on
    `ranks` MPI ranks. Returns the results (one value, or a tuple for
    program.outputs r0, r1, ...); with trace (a path, or True for a fresh
    one) returns (results, trace_path, summary). The program's own printed
    lines are echoed to sys.stdout when echo (the result line that tessera
    prints for a number result is left out)."""
    tessera = find_tessera()
    mpirun = find_mpirun()
    jobdir = tempfile.mkdtemp(prefix='tessera-%s-' % program.name)
    try:
        prog = os.path.join(jobdir, '%s.tsl' % program.name)
        with open(prog, 'w') as f:
            f.write(program.text)
        cmd = [mpirun, '-np', str(int(ranks)), tessera, 'run', prog, '--quiet']
        if threads:
            cmd += ['--threads', str(int(threads))]
        trace_path = None
        if trace:
            trace_path = os.path.abspath(trace if isinstance(trace, str)
                                         else default_trace_path(program.name))
            cmd += ['--trace', trace_path]
        cmd += list(options)
        cmd += bind_args(program, values, jobdir)
        cmd += out_args(program, jobdir)
        env = _threads_env(threads)
        if len(jobdir) < 60:
            # Open MPI's session directory (TMPDIR/ompi.*) goes into the job
            # directory too, so a killed mpirun leaves nothing behind (short
            # paths only: its socket names must fit 108 characters).
            env['TMPDIR'] = jobdir
        rc, out, err = run_process(cmd, env=env, timeout=timeout)
        if rc != 0:
            raise job_error(program, rc, out, err)
        result = load_results(program, jobdir)
        if echo and out:
            lines = out.splitlines(True)
            if (program.outputs == ['result'] and not isinstance(result, np.ndarray)
                    and lines):
                lines = lines[:-1]        # tessera printed the number result itself
            if lines:
                sys.stdout.write(''.join(lines))
                sys.stdout.flush()
        if trace_path:
            return result, trace_path, trace_summary(trace_path, tessera)
        return result
    finally:
        shutil.rmtree(jobdir, ignore_errors=True)


# ---- Slurm -------------------------------------------------------------------

TERMINAL = ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL',
            'PREEMPTED', 'BOOT_FAIL', 'DEADLINE')


class Job:
    """A submitted job (`tessera submit`): status(), result(timeout=),
    cancel(). job_id, dir (the job directory), program."""

    def __init__(self, program, job_id, jobdir, host=None, env=None):
        self.program = program
        self.job_id = job_id
        self.dir = jobdir
        self.host = host
        self.env = env
        self._result = None
        self._done = False

    def __repr__(self):
        return 'tessera.Job(%s, %s)' % (self.job_id, self.dir)

    def _tessera(self, *args, timeout=None):
        return run_process([find_tessera()] + list(args), env=self.env, timeout=timeout)

    def status(self):
        """The Slurm state: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ..."""
        rc, out, err = self._tessera('status', '--json', self.dir or self.job_id, timeout=120)
        if rc != 0:
            raise TesseraError('tessera status %s failed (exit %d): %s'
                               % (self.job_id, rc, (err or out).strip()), returncode=rc,
                               stderr=err)
        return json.loads(out)['state']

    def result(self, timeout=None, poll=1.0):
        """Wait (at most timeout seconds; None: as long as it takes) and
        return the results as a call would; TimeoutError when the job has
        not ended by then, TesseraError when it failed or was cancelled."""
        if self._done:
            return self._result
        dest = tempfile.mkdtemp(prefix='tessera-fetch-')
        try:
            args = ['fetch', self.dir or self.job_id, '--dest', dest, '--poll', str(poll)]
            if timeout is not None:
                args += ['--timeout', str(timeout)]
            rc, out, err = self._tessera(*args)
            if rc == 3:
                raise TimeoutError('job %s has not ended after %s s' % (self.job_id, timeout))
            if rc != 0:
                # The job's own stderr (tessera run's error) is at the end of fetch's.
                e = job_error(self.program, rc, out, err, what='job %s' % self.job_id)
                if e.tsl_line is None:
                    e = TesseraError('job %s failed: %s' % (self.job_id, err.strip()),
                                     returncode=rc, stderr=err, stdout=out)
                raise e
            vals = []
            for name in self.program.outputs:
                p = os.path.join(dest, 'out_%s.npy' % name)
                a = np.load(p)
                vals.append(float(a) if a.ndim == 0 else a)
            if self.program.outputs == ['result']:
                self._result = vals[0]
            else:
                self._result = tuple(vals)
            self._done = True
            return self._result
        finally:
            shutil.rmtree(dest, ignore_errors=True)

    def cancel(self):
        """scancel the job (through ssh for a job submitted with host=)."""
        cmd = ['scancel', str(self.job_id)]
        if self.host:
            ssh = os.environ.get('TESSERA_SSH', 'ssh -o BatchMode=yes').split()
            cmd = ssh + [self.host] + cmd
        rc, out, err = run_process(cmd, env=self.env, timeout=120)
        if rc != 0:
            raise TesseraError('scancel %s failed (exit %d): %s'
                               % (self.job_id, rc, (err or out).strip()), returncode=rc)


def submit(program, values, nodes=1, ntasks_per_node=1, time=None, threads=None,
           jobs_dir=None, options=(), host=None, env=None, **sbatch):
    """`tessera submit` the program with these arguments; returns a Job.
    sbatch: partition=, account=, job_name=, launcher=, as tessera submit's
    options of those names."""
    tessera = find_tessera()
    stage = tempfile.mkdtemp(prefix='tessera-submit-%s-' % program.name)
    try:
        prog = os.path.join(stage, '%s.tsl' % program.name)
        with open(prog, 'w') as f:
            f.write(program.text)
        cmd = [tessera, 'submit', prog, '--nodes', str(int(nodes)),
               '--ntasks-per-node', str(int(ntasks_per_node))]
        if threads:
            cmd += ['--cpus-per-task', str(int(threads))]
        if time:
            cmd += ['--time', str(time)]
        if jobs_dir:
            cmd += ['--jobs-dir', os.path.abspath(jobs_dir) if not host else jobs_dir]
        if host:
            cmd += ['--host', host]
        for k, v in sbatch.items():
            if v is not None:
                cmd += ['--' + k.replace('_', '-'), str(v)]
        cmd += ['--run-opt=--quiet']
        for o in options:
            cmd += ['--run-opt=' + o]
        cmd += bind_args(program, values, stage)
        for name in program.outputs:
            cmd += ['--out', '%s=out_%s.npy' % (name, name)]
        rc, out, err = run_process(cmd, env=env, timeout=300)
        if rc != 0:
            raise TesseraError('tessera submit failed (exit %d): %s'
                               % (rc, (err or out).strip()), returncode=rc, stderr=err,
                               stdout=out)
        job_id = out.strip().splitlines()[-1].strip()
        m = re.search(r', directory (.+)$', err.strip().splitlines()[-1]) if err.strip() else None
        jobdir = m.group(1).strip() if (m and not host) else None
        return Job(program, job_id, jobdir, host=host, env=env)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
