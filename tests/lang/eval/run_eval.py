#!/usr/bin/python3
"""Evaluator tests: each tests/lang/eval/*.tsl runs through `tessera run`
(under mpirun at the given rank count) and `tessera check`, and its header
says what must come out.

  run_eval.py --tessera build/apps/tessera --np N [--mpirun scripts/mpirun-tsr]
              [--only NAME ...]

Header lines at the top of a program (`; key: value`, any number of each):
  args: ARGS             extra command-line arguments (--arg, --out, ...)
  npy: FILE EXPR         np.save(FILE, EXPR) in the run's directory first (numpy as np)
  file: FILE TEXT        write TEXT to FILE there first
  expect-exit: N         `tessera run`'s exit status (default 0); `tessera check`
                         must give the same for 2 and 3, and 0 when the run gives 0 or 1
  expect-stdout: TEXT    stdout is exactly TEXT ("\\n" for newlines) plus a newline
  expect-stderr: TEXT    a line of stderr contains TEXT, once per rank (" [rank R]"
                         after it on ranks R > 0)
  expect-npy: FILE EXPR  after the run, np.load(FILE) has EXPR's shape and values
                         (within 1e-12 relative)
  max-live: N            with TSR_LANG_STATS=1, at most N array values were alive
                         at once (the leak check)
  max-rss-mb: N          and rank 0's peak resident memory stayed below N MB
Each program runs in a fresh temporary directory holding a copy of it."""
import argparse
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT_S = 120
_RANK = re.compile(r" \[rank (\d+)\]$")


def header(path):
    h = {"args": [], "npy": [], "file": [], "expect-stderr": [], "expect-npy": []}
    for line in open(path):
        m = re.match(r";\s*(args|npy|file|expect-exit|expect-stdout|expect-stderr|expect-npy|max-live|max-rss-mb):"
                     r"\s?(.*)$", line.rstrip("\n"))
        if not m:
            if line.startswith(";") or not line.strip():
                continue
            break
        key, val = m.groups()
        if isinstance(h.get(key), list):
            h[key].append(val)
        else:
            h[key] = val
    return h


def run(cmd, cwd, env):
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S,
                           stdin=subprocess.DEVNULL, env=env)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return None, "", err


def lines_once(stderr, text, nranks, suffixed):
    seen = {}
    for line in stderr.splitlines():
        if text not in line:
            continue
        m = _RANK.search(line)
        r = int(m.group(1)) if (m and suffixed) else 0
        seen[r] = seen.get(r, 0) + 1
    want = {r: 1 for r in range(nranks)}
    return "" if seen == want else f"expected {text!r} once on each of ranks 0..{nranks - 1}, seen {seen}"


def one(path, nranks, tessera, mpirun, corrupt=False):
    name = os.path.basename(path)
    h = header(path)
    if corrupt:  # a test of the test: a wrong expectation must be caught
        h["expect-stdout"] = h.get("expect-stdout", "") + "x"
        h["expect-npy"] = [f"{s} + 1" for s in h["expect-npy"]]
    want_rc = int(h.get("expect-exit", "0"))
    why = []
    env = dict(os.environ)
    if "max-live" in h or "max-rss-mb" in h:
        env["TSR_LANG_STATS"] = "1"
    with tempfile.TemporaryDirectory(prefix="tsl-eval-") as d:
        shutil.copy(path, d)
        for spec in h["npy"]:
            f, expr = spec.split(None, 1)
            np.save(os.path.join(d, f), eval(expr, {"np": np}))
        for spec in h["file"]:
            f, text = spec.split(None, 1)
            with open(os.path.join(d, f), "w") as fh:
                fh.write(text + "\n")
        args = [a for s in h["args"] for a in shlex.split(s)]
        cmd = [mpirun, "-np", str(nranks), tessera, "run", name] + args
        rc, out, err = run(cmd, d, env)
        if rc is None:
            why.append(f"no exit after {TIMEOUT_S} s")
        elif rc != want_rc:
            why.append(f"exit {rc}, expected {want_rc}")
        if "expect-stdout" in h:
            want = h["expect-stdout"].replace("\\n", "\n") + "\n"
            if out != want:
                why.append(f"stdout {out!r}, expected {want!r}")
        for text in h["expect-stderr"]:
            w = lines_once(err, text, nranks, True)
            if w:
                why.append(w)
        if rc == want_rc == 0:
            for spec in h["expect-npy"]:
                f, expr = spec.split(None, 1)
                want = np.asarray(eval(expr, {"np": np}), dtype=np.float64)
                try:
                    got = np.load(os.path.join(d, f))
                except Exception as e:  # noqa: BLE001 - any failure to read is a failure
                    why.append(f"{f}: {e}")
                    continue
                if got.shape != want.shape:
                    why.append(f"{f}: shape {got.shape}, expected {want.shape}")
                elif not np.allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True):
                    why.append(f"{f}: {got!r}, expected {want!r}")
        if "max-live" in h:
            m = re.search(r"at most (\d+) at once", err)
            if not m:
                why.append("no array statistics line on stderr")
            elif int(m.group(1)) > int(h["max-live"]):
                why.append(f"{m.group(1)} array values alive at once, at most {h['max-live']} expected")
        if "max-rss-mb" in h:
            # AddressSanitizer keeps freed memory in a quarantine (256 MB) and
            # adds shadow memory: its builds get that much more. The unbounded
            # run-ahead this guards against takes over 1 GB either way.
            bound = int(h["max-rss-mb"]) + (320 if asan_build(tessera) else 0)
            m = re.search(r"peak resident memory (\d+) MB", err)
            if not m:
                why.append("no memory statistics on stderr")
            elif int(m.group(1)) > bound:
                why.append(f"peak resident memory {m.group(1)} MB, at most {bound} expected")
        # tessera check: the same verdict before running, no MPI.
        crc, cout, cerr = run([tessera, "check", name] + args, d, env)
        want_c = want_rc if want_rc in (2, 3) else 0
        if crc != want_c:
            why.append(f"tessera check: exit {crc}, expected {want_c}\n{cerr}")
        if want_c:
            for text in h["expect-stderr"]:
                w = lines_once(cerr, text, 1, False)
                if w:
                    why.append("tessera check: " + w)
    if why:
        return [f"{' '.join(cmd)}: " + "; ".join(why) + f"\n--- stdout\n{out}--- stderr\n{err}"]
    return []


def asan_build(tessera):
    """Whether the tessera binary (or the library it loads) uses ASan."""
    try:
        out = subprocess.run(["ldd", tessera], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "libasan" in out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mpirun", default=os.path.join(HERE, "../../../scripts/mpirun-tsr"))
    ap.add_argument("--np", type=int, default=1)
    ap.add_argument("--only", action="append", help="only these programs (names without .tsl)")
    ap.add_argument("--corrupt", action="store_true",
                    help="change every expectation; succeed only if every program then fails")
    args = ap.parse_args()
    files = sorted(glob.glob(os.path.join(HERE, "*.tsl")))
    if args.only:
        files = [f for f in files if os.path.basename(f)[:-4] in args.only]
    if not files:
        print("no programs")
        return 1
    problems = []
    for f in files:
        problems += one(f, args.np, os.path.abspath(args.tessera), os.path.abspath(args.mpirun),
                        args.corrupt)
    if args.corrupt:
        print(f"{len(problems)} of {len(files)} programs failed with corrupted expectations")
        return 0 if len(problems) == len(files) else 1
    print(f"{len(files) - len(problems)} of {len(files)} programs as expected at {args.np} ranks")
    for p in problems:
        print("FAIL " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
