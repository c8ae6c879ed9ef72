#!/usr/bin/python3
"""A bounded-time mutation fuzzer for `tessera submit`'s command line, whose
parsing is Python argparse in apps/tessera_submit.py (libFuzzer does not
reach it).

  submit_args_fuzz.py [--seconds S] [--corpus DIR] [--crash-dir DIR]
                      [--tessera PATH] [--seed N]
  submit_args_fuzz.py --run FILE     (one input: prints what happened)

Inputs are argv lists after `submit` (corpus files: arguments separated by
NUL bytes, tests/fuzz/submit_args/corpus). Each round takes a corpus entry,
applies a few random token mutations (insert an option or a value from a
vocabulary of options, numbers, names, quotes, shell syntax, non-UTF-8 bytes
as Python decodes them from argv; delete, duplicate, swap, splice) and byte
mutations inside a token, puts --dry-run first (so argparse always sees it:
nothing is written or submitted), and runs tessera_submit.main in-process in
a scratch directory holding prog.tsl and a few .npy files, with the
functions that would run ssh/sbatch replaced by ones that fail the round.

A round passes when it ends as a user would want: exit 0 with the script
on stdout, a usage error (exit 2, stderr "tessera submit: ..." or
argparse's "usage: ... error: ..."), or --help (exit 0). Anything else -- a
traceback, another exit status, output stdout cannot encode, more than 10 s
-- fails: the input is saved in --crash-dir and the script exits 1.
Before mutating, every corpus entry also goes once through the real
`tessera submit` (--tessera) to check that the in-process verdict is the
one the command gives."""
import argparse
import importlib.util
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

OPTIONS = ["--nodes", "--ntasks-per-node", "--cpus-per-task", "--time", "--partition",
           "--account", "--job-name", "--arg", "--out", "--run-opt", "--sbatch-opt",
           "--no-copy", "--jobs-dir", "--launcher", "--tessera", "--host", "--dry-run",
           "--help", "-h", "--", "-", "--no", "--node", "--ar", "--bogus", "-x"]
VALUES = ["prog.tsl", "X.npy", "y.npy", "my file.npy", "nothere.npy", "other.tsl", "0", "1", "-1",
          "2", "99999999999999999999999", "1e3", "0x10", "nan", "inf", " 3", "", " ", "=",
          "x=1", "X=X.npy", "y=y.npy", "w=w.npy", "w=out/w.npy", "a=b=c", "=1", "x=", "1x=2",
          "w=..", "w=/", "w=.", "00:10:00", "UNLIMITED", "1-00:00", "debug", "a,b", "srun",
          "mpirun", "auto", "me@login", "@", "/abs/path", "../up", "~/x", "$HOME", "$(id)",
          "`id`", "a'b", 'a"b', "a\\b", "a\nb", "a\tb", "\u00e9", "\u2603", "--timing",
          "--mem=1G", "-N", "--x=y", "A" * 300, "job.sbatch", "inputs", "outputs",
          os.fsdecode(b"\xff\xfe"), os.fsdecode(b"caf\xc3"), os.fsdecode(b"x=\x80.npy")]
SPECIAL_CHARS = "=-_.,:/@~$`'\"\\ \t\n;|&*?[](){}<>!#%^+0123456789aZ\u00e9\u2603"


def load_module():
    spec = importlib.util.spec_from_file_location("tessera_submit",
                                                  os.path.join(ROOT, "apps", "tessera_submit.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def forbidden(*a, **k):
        raise RuntimeError("--dry-run ran a command: %r" % (a,))
    # Dry runs must not run ssh, sbatch, tar or anything else.
    mod.Site.run = forbidden
    mod.Site.push_dir = forbidden
    mod.Site.push_file = forbidden
    mod.Site.pull = forbidden
    return mod


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout()


def run_in_process(mod, argv):
    """(verdict, detail): verdict None when the round passed."""
    out_b, err_b = io.BytesIO(), io.BytesIO()
    # As a terminal in a UTF-8 locale: stdout strict, stderr backslashreplace.
    out = io.TextIOWrapper(out_b, encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(err_b, encoding="utf-8", errors="backslashreplace")
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    code, exc = None, None
    signal.alarm(10)
    try:
        try:
            code = mod.main(["submit"] + argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        try:
            out.flush()
            err.flush()
        except Exception:  # noqa: BLE001 -- reported as the verdict
            exc = traceback.format_exc()
    except Timeout:
        exc = "timed out after 10 s"
    except BaseException:  # noqa: BLE001 -- any escape is the finding
        exc = traceback.format_exc()
    finally:
        signal.alarm(0)
        sys.stdout, sys.stderr = saved
    stdout = out_b.getvalue().decode("utf-8", "replace")
    stderr = err_b.getvalue().decode("utf-8", "replace")
    if exc:
        return "exception", exc
    if code == 0:
        if stdout.startswith("usage: tessera submit"):  # --help, -h, --he, ...
            return None, "help"
        if "#SBATCH" in stdout and "# submit with" in stdout:
            return None, "script"
        return "exit 0 without a script", stdout[-500:] + stderr[-500:]
    if code == 2 and (stderr.startswith("tessera submit: ") or
                      ("usage: tessera submit" in stderr and "error:" in stderr)):
        return None, "usage: " + stderr.strip().splitlines()[-1][:200]
    return "exit %r" % code, stderr[-800:]


def mutate(rng, corpus):
    argv = list(rng.choice(corpus))
    for _ in range(rng.randint(1, 5)):
        op = rng.randrange(9)
        if op == 0 or not argv:
            argv.insert(rng.randint(0, len(argv)), rng.choice(OPTIONS))
        elif op == 1:
            argv.insert(rng.randint(0, len(argv)), rng.choice(VALUES))
        elif op == 2:
            del argv[rng.randrange(len(argv))]
        elif op == 3:
            i = rng.randrange(len(argv))
            argv.insert(i, argv[i])
        elif op == 4 and len(argv) > 1:
            i, j = rng.randrange(len(argv)), rng.randrange(len(argv))
            argv[i], argv[j] = argv[j], argv[i]
        elif op == 5:
            other = rng.choice(corpus)
            if other:
                k = rng.randrange(len(other))
                argv[rng.randint(0, len(argv)):rng.randint(0, len(argv))] = other[k:k + 3]
        elif op == 6:
            i = rng.randrange(len(argv))
            opt = rng.choice(OPTIONS)
            argv[i] = "%s=%s" % (opt, rng.choice(VALUES)) if opt.startswith("--") else opt
        else:  # bytes inside one token
            i = rng.randrange(len(argv))
            t = argv[i]
            k = rng.randint(0, len(t))
            c = rng.choice(SPECIAL_CHARS) if rng.random() < 0.8 else os.fsdecode(bytes([rng.randint(1, 255)]))
            if rng.random() < 0.5 and t:
                t = t[:k] + c + t[k + 1:]
            elif rng.random() < 0.5:
                t = t[:k] + c + t[k:]
            else:
                t = t[:k] + t[k + 1:]
            argv[i] = t
    # Real argv strings hold no NUL byte.
    return ["--dry-run"] + [a.replace("\0", "") for a in argv]


def read_corpus(d):
    out = []
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        out.append([os.fsdecode(t) for t in data.split(b"\0")] if data else [])
    return out


def make_scratch():
    d = tempfile.mkdtemp(prefix="tsr-submit-fuzz-")
    with open(os.path.join(d, "prog.tsl"), "w") as f:
        f.write("(define (main X alpha) (* alpha (sum X)))\n")
    for name in ("X.npy", "y.npy", "my file.npy"):
        with open(os.path.join(d, name), "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + b"v\x00" + b"{'descr': '<f8', 'fortran_order': False, "
                    b"'shape': (2,), }".ljust(117) + b"\n" + bytes(16))
    return d


def save_crash(crash_dir, argv, verdict, detail):
    os.makedirs(crash_dir, exist_ok=True)
    data = b"\0".join(os.fsencode(a) for a in argv)
    path = os.path.join(crash_dir, "crash-%08x" % (hash(data) & 0xFFFFFFFF))
    with open(path, "wb") as f:
        f.write(data)
    sys.stderr.write("submit_args_fuzz: FAILED (%s) on argv %r\n%s\nsubmit_args_fuzz: input saved "
                     "as %s\n" % (verdict, argv, detail, path))


def real_command(tessera, argv, scratch):
    env = dict(os.environ, TESSERA_HOME=scratch, TESSERA_SSH="false",
               ASAN_OPTIONS="detect_leaks=0")
    r = subprocess.run([tessera, "submit"] + argv, cwd=scratch, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return r.returncode, r.stderr.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--corpus", default=os.path.join(HERE, "submit_args", "corpus"))
    ap.add_argument("--crash-dir", default="fuzz-crashes")
    ap.add_argument("--tessera", help="the tessera command, to run each corpus entry once")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--run", metavar="FILE", help="run one input and print the verdict")
    a = ap.parse_args()
    crash_dir = os.path.abspath(a.crash_dir)
    tessera = os.path.abspath(a.tessera) if a.tessera else None
    corpus_dir = os.path.abspath(a.corpus)
    mod = load_module()
    signal.signal(signal.SIGALRM, on_alarm)
    scratch = make_scratch()
    home = os.getcwd()
    os.environ["TESSERA_HOME"] = scratch
    os.environ["TESSERA_SSH"] = "false"
    os.chdir(scratch)
    try:
        if a.run:
            with open(os.path.join(home, a.run), "rb") as f:
                argv = [os.fsdecode(t) for t in f.read().split(b"\0")]
            verdict, detail = run_in_process(mod, argv)
            print("argv %r: %s\n%s" % (argv, verdict or "ok", detail))
            return 1 if verdict else 0
        corpus = read_corpus(corpus_dir)
        if not corpus:
            sys.stderr.write("submit_args_fuzz: empty corpus %s\n" % corpus_dir)
            return 2
        # The corpus as is: in-process, and through the real command.
        for argv in corpus:
            verdict, detail = run_in_process(mod, argv)
            if verdict:
                save_crash(crash_dir, argv, verdict, detail)
                return 1
            if tessera:
                code, err = real_command(tessera, argv, scratch)
                want = 0 if detail in ("script", "help") else 2
                if code != want:
                    save_crash(crash_dir, argv, "real tessera submit exited %d, in-process %d"
                               % (code, want), err[-800:])
                    return 1
        rng = random.Random(a.seed)
        end = time.monotonic() + a.seconds
        runs, kinds = 0, {}
        while time.monotonic() < end:
            argv = mutate(rng, corpus)
            verdict, detail = run_in_process(mod, argv)
            runs += 1
            kind = detail.split(":")[0] if detail else "?"
            kinds[kind] = kinds.get(kind, 0) + 1
            if verdict:
                save_crash(crash_dir, argv, verdict, detail)
                return 1
        print("submit_args_fuzz: %d inputs in %.0f s, no failure (%s)"
              % (runs, a.seconds, ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
        return 0
    finally:
        os.chdir(home)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
