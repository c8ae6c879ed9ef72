#!/usr/bin/python3
"""tessera scale: run one job at several sizes and write a scaling study.

    tessera scale [--ranks 1,2,4] [--threads T,...] [--weak] [--repeat N]
                  [--setup CMD] [--out DIR] [--launcher CMD] [--timeout S]
                  -- COMMAND [ARGS...]

COMMAND runs once per (ranks, threads) size under the job launcher:
  * under a Slurm allocation (SLURM_JOB_ID set): srun -n RANKS [-c THREADS]
  * in Tessera's source tree: scripts/mpirun-tsr -np RANKS (root, oversubscribe)
  * otherwise: mpirun -np RANKS from PATH
--launcher 'CMD' replaces that choice ({ranks} and {threads} are substituted;
--launcher none runs COMMAND as it is, for commands that start their own job).

COMMAND, --setup and --launcher may hold placeholders {ranks}, {threads} and
arithmetic on them ({ranks*50000}, {100//ranks}, {0.4/ranks}); '{{' and '}}'
are literal braces. A COMMAND whose first word is 'tessera' runs this tessera.
--setup CMD runs once before each size (through sh -c), e.g. to make the size's
data set for weak scaling.

Each size runs --repeat times; the best (smallest) wall time is kept, and when
the job prints tessera run's --timing lines on stderr, the best program time
too: top-level forms + main (no start-up, MPI init, --arg loads or --out
saves), and the outermost loops' time. Speedup and efficiency use the program
time when every size has it, the wall time otherwise; the 'basis' column and
the plot say which.

Sizes are relative to the first one (P = ranks x threads workers, P0 the
first size's; with --ranks 1,... and no --threads, P/P0 is the rank count):
  strong (default):  speedup = t(first) / t (ideal P/P0), efficiency = speedup / (P/P0)
  --weak (the problem grows with the size, through the placeholders):
                     efficiency = t(first) / t (ideal 1), speedup = efficiency x P/P0

Writes DIR/scaling.csv (ranks, threads, wall_s, prog_s, loop_s, time_s,
speedup, efficiency, basis), DIR/scaling.json (every run's times and command
lines) and DIR/scaling.png (speedup and efficiency against ideal; for --weak the
efficiency and time per size). Prints the table.

Exit status: 0 done; 1 a run or --setup failed (its stderr is shown) or the
plot could not be made; 2 bad command line.
"""
import argparse
import ast
import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

PROG = "tessera scale"
NAMES = ("ranks", "threads")


class UsageError(Exception):
    pass


class RunError(Exception):
    pass


# ---- placeholders ---------------------------------------------------------

_OPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a ** b,
}


def _eval(node, env, text):
    if isinstance(node, ast.Expression):
        return _eval(node.body, env, text)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in NAMES:
            raise UsageError("placeholder {%s}: unknown name '%s' (known: ranks, threads)"
                             % (text, node.id))
        if env.get(node.id) is None:
            raise UsageError("placeholder {%s} needs --threads (threads per rank)" % text)
        return env[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        a, b = _eval(node.left, env, text), _eval(node.right, env, text)
        try:
            return _OPS[type(node.op)](a, b)
        except ZeroDivisionError:
            raise UsageError("placeholder {%s}: division by zero at %s" % (text, _envtext(env)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand, env, text)
        return -v if isinstance(node.op, ast.USub) else v
    raise UsageError("placeholder {%s}: only numbers, ranks, threads and + - * / // %% ** ( ) "
                     "are allowed" % text)


def _envtext(env):
    return ", ".join("%s=%s" % (k, env[k]) for k in NAMES if env.get(k) is not None)


def _fmt(v):
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return format(v, ".12g")
    return str(v)


def substitute(s, env):
    """Replace {expr} in s; {{ and }} are literal braces."""
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "{" and s.startswith("{{", i):
            out.append("{")
            i += 2
        elif c == "}" and s.startswith("}}", i):
            out.append("}")
            i += 2
        elif c == "{":
            j = s.find("}", i + 1)
            if j < 0:
                raise UsageError("'%s': '{' without its '}' (write '{{' for a brace)" % s)
            text = s[i + 1:j].strip()
            try:
                tree = ast.parse(text, mode="eval")
            except SyntaxError:
                raise UsageError("placeholder {%s} in '%s' is not an expression of ranks and "
                                 "threads" % (text, s))
            out.append(_fmt(_eval(tree, env, text)))
            i = j + 1
        elif c == "}":
            raise UsageError("'%s': '}' without its '{' (write '}}' for a brace)" % s)
        else:
            out.append(c)
            i += 1
    return "".join(out)


# ---- command line ----------------------------------------------------------

def int_list(opt, s):
    items = [x.strip() for x in s.split(",")]
    vals = []
    for x in items:
        if not re.fullmatch(r"[0-9]+", x) or int(x) < 1:
            raise UsageError("%s: '%s' is not a positive integer (in '%s'; e.g. 1,2,4)"
                             % (opt, x, s))
        v = int(x)
        if v in vals:
            raise UsageError("%s: %d appears twice in '%s'" % (opt, v, s))
        if vals and v < vals[-1]:
            raise UsageError("%s: '%s' is not increasing (%d after %d); the first size is "
                             "the baseline" % (opt, s, v, vals[-1]))
        vals.append(v)
    return vals


def parse_args(argv):
    if "--" in argv:
        k = argv.index("--")
        opts, command = argv[:k], argv[k + 1:]
    else:
        opts, command = argv, []
    ap = argparse.ArgumentParser(prog=PROG, add_help=False,
                                 usage="%(prog)s [--ranks 1,2,4] [--threads T,...] [--weak] "
                                       "[--repeat N] [--setup CMD] [--out DIR] -- COMMAND ...")
    ap.add_argument("-h", "--help", action="store_true")
    ap.add_argument("--ranks", default="1,2,4")
    ap.add_argument("--threads", default=None)
    ap.add_argument("--weak", action="store_true")
    ap.add_argument("--repeat", default="1")
    ap.add_argument("--setup", default=None)
    ap.add_argument("--out", default="scale-out")
    ap.add_argument("--launcher", default=None)
    ap.add_argument("--timeout", default=None)
    ap.add_argument("--title", default=None)
    ap.add_argument("--tessera-exe", default=None, help=argparse.SUPPRESS)
    try:
        a, extra = ap.parse_known_args(opts)
    except SystemExit:
        raise UsageError("see 'tessera scale --help'")
    if a.help:
        return a
    if extra:
        raise UsageError("unknown option '%s' (COMMAND goes after '--')" % extra[0])
    if not command:
        raise UsageError("no COMMAND: write it after '--', e.g. "
                         "tessera scale --ranks 1,2 -- tessera run prog.tsl --timing")
    a.command = command
    a.ranks = int_list("--ranks", a.ranks)
    a.threads = int_list("--threads", a.threads) if a.threads is not None else [None]
    if not re.fullmatch(r"[0-9]+", a.repeat) or int(a.repeat) < 1:
        raise UsageError("--repeat: '%s' is not a positive integer" % a.repeat)
    a.repeat = int(a.repeat)
    if a.timeout is not None:
        try:
            a.timeout = float(a.timeout)
            if a.timeout <= 0:
                raise ValueError
        except ValueError:
            raise UsageError("--timeout: '%s' is not a positive number of seconds" % a.timeout)
    # Check every placeholder at every size before anything runs.
    for r in a.ranks:
        for t in a.threads:
            env = {"ranks": r, "threads": t}
            for s in command + ([a.setup] if a.setup else []) + \
                    ([a.launcher] if a.launcher else []):
                substitute(s, env)
    return a


# ---- running ---------------------------------------------------------------

def source_tree():
    """Tessera's source tree if this script is in it (apps/ beside scripts/)."""
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.access(os.path.join(top, "scripts", "mpirun-tsr"), os.X_OK):
        return top
    return None


def launcher_words(a, ranks, threads):
    env = {"ranks": ranks, "threads": threads}
    if a.launcher is not None:
        if a.launcher.strip() == "none":
            return [], "none"
        return [substitute(w, env) for w in shlex.split(a.launcher)], "--launcher"
    if os.environ.get("SLURM_JOB_ID"):
        w = ["srun", "-n", str(ranks)]
        if threads is not None:
            w += ["-c", str(threads)]
        return w, "srun (Slurm job %s)" % os.environ["SLURM_JOB_ID"]
    top = source_tree()
    if top:
        return [os.path.join(top, "scripts", "mpirun-tsr"), "-np", str(ranks)], \
            "scripts/mpirun-tsr"
    mpirun = shutil.which("mpirun")
    if not mpirun:
        raise UsageError("no mpirun on PATH (and not in Tessera's source tree, not under Slurm); "
                         "install openmpi-bin or pass --launcher")
    return [mpirun, "-np", str(ranks)], "mpirun"


def command_words(a, ranks, threads):
    env = {"ranks": ranks, "threads": threads}
    words = [substitute(w, env) for w in a.command]
    if words[0] == "tessera":
        exe = a.tessera_exe or shutil.which("tessera")
        if not exe:
            raise UsageError("COMMAND starts with 'tessera' but no tessera was found "
                             "(run this as 'tessera scale' or put tessera on PATH)")
        words[0] = exe
    return words


_MAIN = re.compile(r"^\[tessera\] timing: check \S+ s, top-level forms (\S+) s, --arg loads \S+ s, "
                   r"main (\S+) s, --out saves \S+ s\s*$")
_LOOP = re.compile(r"^\[tessera\] timing: \S+ (?:for|while): \d+ iterations in (\S+) s")


def parse_timing(stderr):
    """tessera run --timing's lines: (forms + main seconds, outermost loops' seconds)."""
    prog = loops = None
    for line in stderr.splitlines():
        m = _MAIN.match(line)
        if m:
            prog = float(m.group(1)) + float(m.group(2))
            loops = None  # a new report: its loop lines follow it
            continue
        m = _LOOP.match(line)
        if m:
            loops = (loops or 0.0) + float(m.group(1))
    return prog, loops


def tail(text, n=30):
    lines = text.rstrip("\n").splitlines()
    if len(lines) > n:
        lines = ["... (%d lines before)" % (len(lines) - n)] + lines[-n:]
    return "\n".join(lines)


def size_text(ranks, threads):
    s = "%d rank%s" % (ranks, "" if ranks == 1 else "s")
    if threads is not None:
        s += " x %d thread%s" % (threads, "" if threads == 1 else "s")
    return s


def run_size(a, ranks, threads, log):
    env = dict(os.environ)
    env["TSR_SCALE_RANKS"] = str(ranks)
    if threads is not None:
        env["TSR_THREADS"] = str(threads)
        env["TSR_SCALE_THREADS"] = str(threads)
    subst = {"ranks": ranks, "threads": threads}
    if a.setup:
        setup = substitute(a.setup, subst)
        log("[scale] %s: setup: %s" % (size_text(ranks, threads), setup))
        p = subprocess.run(["sh", "-c", setup], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
        if p.returncode != 0:
            raise RunError("--setup failed at %s (exit status %d): %s\n%s"
                           % (size_text(ranks, threads), p.returncode, setup,
                              tail(p.stderr or p.stdout)))
    lw, _ = launcher_words(a, ranks, threads)
    argv = lw + command_words(a, ranks, threads)
    line = " ".join(shlex.quote(w) for w in argv)
    runs = []
    for k in range(a.repeat):
        log("[scale] %s, run %d/%d: %s" % (size_text(ranks, threads), k + 1, a.repeat, line))
        t0 = time.monotonic()
        try:
            p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=a.timeout)
        except subprocess.TimeoutExpired as e:
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            raise RunError("COMMAND ran past --timeout %g s at %s: %s\n%s"
                           % (a.timeout, size_text(ranks, threads), line, tail(err)))
        except OSError as e:
            raise RunError("cannot run '%s' at %s: %s" % (argv[0], size_text(ranks, threads),
                                                          e.strerror))
        wall = time.monotonic() - t0
        if p.returncode != 0:
            raise RunError("COMMAND failed at %s (exit status %d): %s\n%s"
                           % (size_text(ranks, threads), p.returncode, line,
                              tail(p.stderr or p.stdout) or "(no output)"))
        prog, loops = parse_timing(p.stderr)
        runs.append({"wall_s": wall, "prog_s": prog, "loop_s": loops})
    best = lambda key: (min(r[key] for r in runs)
                        if all(r[key] is not None for r in runs) else None)
    return {"ranks": ranks, "threads": threads, "command": line, "runs": runs,
            "wall_s": best("wall_s"), "prog_s": best("prog_s"), "loop_s": best("loop_s")}


def analyse(rows, weak):
    """Fill time_s, speedup, efficiency and basis in rows (the first is the baseline)."""
    # The program time only when every size has it and it is above --timing's
    # resolution (it prints milliseconds).
    basis = "prog" if all(r["prog_s"] is not None and r["prog_s"] > 0 for r in rows) else "wall"
    workers = lambda r: r["ranks"] * (r["threads"] or 1)
    t0, p0 = rows[0][basis + "_s"], workers(rows[0])
    for r in rows:
        t, rel = r[basis + "_s"], workers(r) / p0
        r["time_s"], r["basis"] = t, basis
        if t <= 0 or t0 <= 0:
            r["speedup"] = r["efficiency"] = float("nan")
        elif weak:
            r["efficiency"] = t0 / t
            r["speedup"] = r["efficiency"] * rel
        else:
            r["speedup"] = t0 / t
            r["efficiency"] = r["speedup"] / rel
    return basis


COLUMNS = ["ranks", "threads", "wall_s", "prog_s", "loop_s", "time_s", "speedup", "efficiency",
           "basis"]


def cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "%.6f" % v
    return str(v)


def write_csv(path, rows):
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow([cell(r[c]) for c in COLUMNS])
    os.replace(path + ".tmp", path)


BASIS_TEXT = {"prog": "program time (tessera --timing: top-level forms + main)",
              "wall": "wall time of the whole job (start-up included)"}


def plot(path, rows, weak, basis, title, command):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RunError("cannot draw %s: matplotlib is missing for %s "
                       "(apt-get install -y python3-matplotlib)" % (path, sys.executable))
    threads = sorted({r["threads"] for r in rows}, key=lambda t: t or 0)
    p0 = rows[0]["ranks"] * (rows[0]["threads"] or 1)
    cores = os.cpu_count() or 0
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    xs_all = sorted({r["ranks"] * (r["threads"] or 1) for r in rows})
    xlabel = "workers (ranks x threads)" if threads != [None] else "ranks"
    for t in threads:
        sel = [r for r in rows if r["threads"] == t]
        x = [r["ranks"] * (t or 1) for r in sel]
        lab = ("%d thread%s/rank" % (t, "" if t == 1 else "s")) if t is not None else "measured"
        if weak:
            ax1.plot(x, [r["time_s"] for r in sel], "o-", label=lab)
        else:
            ax1.plot(x, [r["speedup"] for r in sel], "o-", label=lab)
        ax2.plot(x, [r["efficiency"] for r in sel], "o-", label=lab)
    if weak:
        ax1.axhline(rows[0]["time_s"], color="gray", ls="--", label="ideal (constant)")
        ax1.set_ylabel("time (s, %s time)" % basis)
        ax1.set_title("weak scaling: time per size")
        ax1.set_ylim(bottom=0)
        ax2.set_title("weak-scaling efficiency t(first) / t")
    else:
        ax1.plot(xs_all, [x / p0 for x in xs_all], "--", color="gray", label="ideal")
        ax1.set_ylabel("speedup (%s time)" % basis)
        ax1.set_title("strong scaling: speedup")
        ax1.set_ylim(bottom=0)
        ax2.set_title("parallel efficiency speedup / (P / P0)")
    ax2.axhline(1.0, color="gray", ls="--", label="ideal")
    ax2.set_ylabel("efficiency")
    ax2.set_ylim(0, max(1.2, max(r["efficiency"] for r in rows) * 1.1))
    for ax in (ax1, ax2):
        ax.set_xlabel(xlabel)
        ax.set_xticks(xs_all)
        ax.set_xticklabels([str(x) for x in xs_all])
        ax.grid(True, alpha=0.3)
        over = [x for x in xs_all if x > cores]
        if cores and over:  # sizes with more workers than cores
            lo = (max([x for x in xs_all if x <= cores] or [cores]) + over[0]) / 2
            ax.axvspan(lo, xs_all[-1] + 0.5, color="red", alpha=0.06)
        ax.legend(fontsize=8)
    head = title or command
    if len(head) > 110:
        head = head[:107] + "..."
    note = "times: %s" % BASIS_TEXT[basis]
    if cores and xs_all[-1] > cores:
        note += "; %d cores here: shaded sizes oversubscribe" % cores
    fig.suptitle(head + "\n" + note, fontsize=9)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=110)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)


def short_command(a):
    return " ".join(shlex.quote(w) for w in a.command)


def main(argv):
    try:
        a = parse_args(argv)
    except UsageError as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 2
    if a.help:
        print(__doc__.strip())
        return 0
    log = lambda s: print(s, file=sys.stderr, flush=True)
    try:
        _, how = launcher_words(a, a.ranks[0], a.threads[0])
        log("[scale] launcher: %s" % how)
        os.makedirs(a.out, exist_ok=True)
        rows = []
        for r in a.ranks:
            for t in a.threads:
                rows.append(run_size(a, r, t, log))
    except UsageError as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 2
    except RunError as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 1
    basis = analyse(rows, a.weak)
    csv_path = os.path.join(a.out, "scaling.csv")
    png_path = os.path.join(a.out, "scaling.png")
    json_path = os.path.join(a.out, "scaling.json")
    write_csv(csv_path, rows)
    with open(json_path, "w") as f:
        json.dump({"command": a.command, "weak": a.weak, "repeat": a.repeat, "basis": basis,
                   "setup": a.setup, "cores": os.cpu_count(), "rows": rows}, f, indent=1)
        f.write("\n")
    cmd = short_command(a)
    print("%s scaling of: %s" % ("weak" if a.weak else "strong", cmd))
    print("best of %d; speedup and efficiency from the %s" % (a.repeat, BASIS_TEXT[basis]))
    print("%6s %7s %9s %9s %9s %8s %10s" % ("ranks", "threads", "wall_s", "prog_s", "loop_s",
                                            "speedup", "efficiency"))
    for r in rows:
        f = lambda v: "%9.3f" % v if v is not None else "%9s" % "-"
        print("%6d %7s %s %s %s %8.3f %10.3f" % (r["ranks"], r["threads"] or "-", f(r["wall_s"]),
                                                 f(r["prog_s"]), f(r["loop_s"]), r["speedup"],
                                                 r["efficiency"]))
    if basis == "wall" and "run" in a.command[1:2] and os.path.basename(a.command[0]) == "tessera":
        print("note: add --timing to 'tessera run' to scale on the program's own time")
    try:
        plot(png_path, rows, a.weak, basis, a.title, cmd)
    except RunError as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        print("wrote %s, %s" % (csv_path, json_path))
        return 1
    print("wrote %s, %s, %s" % (csv_path, png_path, json_path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
