#!/usr/bin/python3
"""The bad-program corpus: every tests/lang/errors/*.tsl must fail with the
exit status and the message its header states, on every rank, without hanging.

  run_corpus.py --tessera build/apps/tessera [--mpirun scripts/mpirun-tsr]
                [--np N ...] [--check] [--only NAME ...]

Header lines at the top of each file (`; key: value`):
  expect-exit: N       `tessera run`'s exit status (1 runtime, 2 usage, 3 before running)
  expect-stderr: TEXT  a line of stderr contains TEXT (usually FILE:LINE:COL: message):
                       exactly one such line per rank, plain on rank 0 and ending
                       with " [rank R]" on rank R > 0
  expect-stdout: TEXT  stdout is exactly TEXT ("\\n" for newlines) plus a newline;
                       without it, stdout must be empty for exit 2 and 3 (nothing ran)
  args: ARGS           extra command-line arguments (--arg, --out)
  npy: FILE M [N]      make FILE (float64 ones, M or M x N) in the run's directory

Each program runs from a fresh temporary directory holding a copy of it, as
`mpirun -np N tessera run NAME.tsl ARGS`, at each rank count (default 1 2 4),
killed after 60 s (a hang fails). With --check, programs expected to exit 2
or 3 also go through `tessera check NAME.tsl ARGS` (no mpirun), which must
exit the same and print the message once, without a rank suffix."""
import argparse
import concurrent.futures
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
TIMEOUT_S = 60
MIN_FILES = 25
_RANK = re.compile(r" \[rank (\d+)\]$")


def header(path):
    h = {"stderr": []}
    for line in open(path):
        m = re.match(r";\s*(expect-exit|expect-stderr|expect-stdout|args|npy):\s?(.*)$",
                     line.rstrip("\n"))
        if not m:
            if line.startswith(";"):
                continue
            break
        key, val = m.groups()
        if key == "expect-stderr":
            h["stderr"].append(val)
        else:
            h[key] = val
    return h


def prepare(path, h, d):
    shutil.copy(path, d)
    if "npy" in h:
        f, *dims = h["npy"].split()
        np.save(os.path.join(d, f), np.ones(tuple(int(x) for x in dims)))


def check_lines(stderr, text, nranks, suffixed):
    """Exactly one line containing text per rank; '' when so, else why not."""
    seen = {}
    for line in stderr.splitlines():
        if text not in line:
            continue
        m = _RANK.search(line)
        r = int(m.group(1)) if (m and suffixed) else 0
        if m and not suffixed:
            return f"a rank suffix in: {line!r}"
        seen[r] = seen.get(r, 0) + 1
    want = {r: 1 for r in range(nranks)}
    if seen != want:
        return f"expected {text!r} once on each of ranks 0..{nranks - 1}, seen {seen}"
    return ""


def run(cmd, cwd):
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S,
                           stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return None, out, err


def one(path, h, cmd_prefix, nranks, mode):
    """Problems of one run (mode 'run' under mpirun, or 'check')."""
    name = os.path.basename(path)
    want_rc = int(h["expect-exit"])
    with tempfile.TemporaryDirectory(prefix="tsl-err-") as d:
        prepare(path, h, d)
        cmd = cmd_prefix + [mode, name] + shlex.split(h.get("args", ""))
        rc, out, err = run(cmd, d)
    why = []
    if rc is None:
        why.append(f"no exit after {TIMEOUT_S} s (a hang)")
    elif rc != want_rc:
        why.append(f"exit {rc}, expected {want_rc}")
    for text in h["stderr"]:
        w = check_lines(err, text, nranks if mode == "run" else 1, mode == "run")
        if w:
            why.append(w)
    if mode == "run":
        if "expect-stdout" in h:
            want_out = h["expect-stdout"].replace("\\n", "\n") + "\n"
        elif want_rc in (2, 3):
            want_out = ""
        else:
            want_out = None
        if want_out is not None and out != want_out:
            why.append(f"stdout {out!r}, expected {want_out!r}"
                       + (" (it ran before the error was found)" if want_rc == 3 else ""))
    if why:
        return [f"{' '.join(cmd)}: " + "; ".join(why) + f"\n--- stderr\n{err}"]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mpirun", default=os.path.join(HERE, "../../../scripts/mpirun-tsr"))
    ap.add_argument("--dir", default=HERE)
    ap.add_argument("--np", type=int, action="append", help="rank counts (default 1 2 4)")
    ap.add_argument("--check", action="store_true", help="also run `tessera check` (exit 2, 3)")
    ap.add_argument("--only", action="append", help="only these files (names without .tsl)")
    ap.add_argument("--jobs", type=int, default=2,
                    help="runs at once (default 2: a run mostly waits for mpirun to start)")
    args = ap.parse_args()
    nps = args.np or [1, 2, 4]
    tessera = os.path.abspath(args.tessera)
    mpirun = os.path.abspath(args.mpirun)

    files = sorted(glob.glob(os.path.join(args.dir, "*.tsl")))
    problems = []
    if len(files) < MIN_FILES and not args.only:
        problems.append(f"only {len(files)} programs in the corpus (at least {MIN_FILES})")
    if args.only:
        files = [f for f in files if os.path.basename(f)[:-4] in args.only]
    todo = []
    for path in files:
        h = header(path)
        if "expect-exit" not in h or not h["stderr"]:
            problems.append(f"{path}: needs '; expect-exit:' and '; expect-stderr:' lines")
            continue
        for n in nps:
            todo.append((path, h, [mpirun, "-np", str(n), tessera], n, "run"))
        if args.check and int(h["expect-exit"]) in (2, 3):
            todo.append((path, h, [tessera], 1, "check"))
    runs = len(todo)
    # Each run has its own temporary directory; results are kept in corpus order.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for found in pool.map(lambda t: one(*t), todo):
            problems += found
    print(f"{runs - len(problems)} of {runs} runs as expected ({len(files)} programs at "
          f"{', '.join(map(str, nps))} ranks{', and tessera check' if args.check else ''})")
    for p in problems:
        print("FAIL " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
