#!/usr/bin/python3
"""Run every example of docs/language.md through `tessera run` and compare
what it prints with the doc's ```output block, exactly.

  run_examples.py --doc docs/language.md --tessera build/apps/tessera \
      [--mpirun scripts/mpirun-tsr] [--np 1 [--np 2 ...]] [--only NAME ...]

Fails (exit 1), listing them, when:
- an example prints anything else (stdout, byte for byte), exits non-zero or
  takes over 60 s, at any of the rank counts;
- an output block differs from what numpy_ref.py computes with numpy (the
  doc's outputs are derived from numpy, never from Tessera);
- a builtin has no example calling it. The builtins are the brief's list
  below, plus any that `tessera builtins` lists (when the command has it).
Each program runs in a fresh temporary directory (so `save`/`load` examples
write there)."""
import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import docexamples  # noqa: E402
import numpy_ref  # noqa: E402

# Every builtin of the language's specification (issue 4's brief).
BUILTINS = """
zeros ones full arange linspace identity random randn
+ - * / neg abs sqrt exp log tanh sigmoid pow maximum minimum
< <= > >= == != not where
sum mean min max norm argmin argmax
dot transpose solve cholesky
shape size list nth len slice concat reshape shift at
load save print
""".split()

TIMEOUT_S = 60


def listed_builtins(tessera):
    """Names from `tessera builtins` (one per line, the name first), if the
    command exists; else an empty set."""
    try:
        r = subprocess.run([tessera, "builtins"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    if r.returncode != 0:
        return set()
    names = set()
    for line in r.stdout.splitlines():
        tok = line.split()
        if tok and not line.startswith((" ", "\t", "#")):
            names.add(tok[0].strip("()"))
    return names


def run_one(ex, tessera, mpirun, np_):
    with tempfile.TemporaryDirectory(prefix="tsl-doc-") as d:
        path = os.path.join(d, ex.name + ".tsl")
        with open(path, "w") as f:
            f.write(ex.tsl)
        cmd = [mpirun, "-np", str(np_), tessera, "run", path]
        try:
            r = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return f"timed out after {TIMEOUT_S} s"
        if r.returncode != 0 or r.stdout != ex.output:
            return (f"exit {r.returncode}\n--- expected\n{ex.output}--- got\n{r.stdout}"
                    + (f"--- stderr\n{r.stderr}" if r.stderr else ""))
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--doc", default=os.path.join(HERE, "../../../docs/language.md"))
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mpirun", default=os.path.join(HERE, "../../../scripts/mpirun-tsr"))
    ap.add_argument("--np", type=int, action="append", help="rank counts (default 1 2 4)")
    ap.add_argument("--only", action="append", help="run only these examples")
    ap.add_argument("--jobs", type=int, default=2,
                    help="runs at once (default 2: a run mostly waits for mpirun to start)")
    args = ap.parse_args()
    nps = args.np or [1, 2, 4]
    args.tessera = os.path.abspath(args.tessera)  # the programs run in a temporary directory
    args.mpirun = os.path.abspath(args.mpirun)

    text = open(args.doc).read()
    try:
        examples = docexamples.extract(text)
    except ValueError as e:
        print(f"{args.doc}: {e}")
        return 1
    problems = []

    # The doc's outputs are numpy's.
    for ex in examples:
        if ex.name not in numpy_ref.REF:
            problems.append(f"{args.doc}:{ex.line}: example '{ex.name}': no numpy reference "
                            "in numpy_ref.REF")
        elif numpy_ref.expected(ex.name) != ex.output:
            problems.append(f"{args.doc}:{ex.line}: example '{ex.name}': the output block is "
                            f"not numpy's:\n--- numpy\n{numpy_ref.expected(ex.name)}"
                            f"--- doc\n{ex.output}")

    # Every builtin has an example.
    builtins = set(BUILTINS) | listed_builtins(args.tessera)
    called = set()
    for ex in examples:
        called |= docexamples.called_names(ex.tsl)
    missing = sorted(builtins - called)
    if missing:
        problems.append("builtins without an example in the doc: " + " ".join(missing))

    chosen = [e for e in examples if not args.only or e.name in args.only]
    ok = 0
    todo = [(ex, np_) for np_ in nps for ex in chosen]
    # Each run has its own temporary directory; results are kept in order.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        whys = list(pool.map(lambda t: run_one(t[0], args.tessera, args.mpirun, t[1]), todo))
    for (ex, np_), why in zip(todo, whys):
        if why:
            problems.append(f"{args.doc}:{ex.line}: example '{ex.name}' at {np_} rank(s): {why}")
        else:
            ok += 1
    print(f"{ok} of {len(chosen) * len(nps)} example runs match ({len(chosen)} examples at "
          f"{', '.join(map(str, nps))} ranks); {len(builtins)} builtins, "
          f"{len(builtins) - len(missing)} with an example")
    for p in problems:
        print("FAIL " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
