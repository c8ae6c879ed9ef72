#!/usr/bin/python3
"""tessera scale: the CSV's columns and arithmetic, placeholders, --setup, the
plot, Slurm's srun, and its errors.

    test_scale.py TESSERA

Jobs with known times: a small sh script prints tessera run's --timing line
(rank 0 only, as tessera does) with main = 0.4/ranks s for strong scaling, so
speedup and efficiency are exact; a sleep measured by wall time checks the
wall-time path; one real `tessera run --timing` checks the parsing of the
real lines. Sizes are 1 and 2 ranks through scripts/mpirun-tsr."""
import csv
import os
import struct
import subprocess
import sys
import tempfile

TESSERA = sys.argv[1]
COLUMNS = ["ranks", "threads", "wall_s", "prog_s", "loop_s", "time_s", "speedup", "efficiency",
           "basis"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def close(a, b, tol=1e-5):
    return abs(a - b) <= tol * max(1.0, abs(b))


def scale(args, cwd, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([TESSERA, "scale"] + args, cwd=cwd, env=e, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=240)
    return p


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


def png_ok(path):
    """A PNG signature, an IHDR with a sane size, an IEND, and some bytes."""
    if not os.path.exists(path):
        return False
    data = open(path, "rb").read()
    if len(data) < 2000 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return False
    w, h = struct.unpack(">II", data[16:24])
    return 200 <= w <= 5000 and 200 <= h <= 5000 and data[-8:-4] == b"IEND"


FAKE = r"""#!/bin/sh
# fake.sh MAIN_S LOOP_S: sleep MAIN_S, then print tessera run's --timing lines
# on rank 0's stderr.
rank="${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-0}}"
sleep "$1"
if [ "$rank" = 0 ]; then
  echo "some output on stdout"
  echo "[tessera] timing: check 0.001 s, top-level forms 0.000 s, --arg loads 0.123 s, main $1 s, --out saves 0.050 s" >&2
  echo "[tessera] timing: prog.tsl:7 for: 10 iterations in $2 s, 1.000 ms per iteration" >&2
fi
"""


def main():
    tmp = tempfile.mkdtemp(prefix="test_scale.")
    fake = os.path.join(tmp, "fake.sh")
    with open(fake, "w") as f:
        f.write(FAKE)
    os.chmod(fake, 0o755)

    # 1. Strong scaling on the program's time: main = 0.4/ranks exactly.
    out = os.path.join(tmp, "strong")
    p = scale(["--ranks", "1,2", "--repeat", "2", "--out", out, "--",
               fake, "{0.4/ranks}", "{0.3/ranks}"], tmp)
    print(p.stdout + p.stderr)
    check(p.returncode == 0, "strong: exit 0")
    header, rows = read_csv(os.path.join(out, "scaling.csv"))
    check(header == COLUMNS, "strong: CSV columns %s" % header)
    check([r["ranks"] for r in rows] == ["1", "2"], "strong: one row per size, 1 and 2 ranks")
    check(all(r["basis"] == "prog" for r in rows), "strong: basis is the program time")
    check(close(float(rows[0]["prog_s"]), 0.4) and close(float(rows[1]["prog_s"]), 0.2),
          "strong: prog_s = forms + main = 0.4, 0.2")
    check(close(float(rows[0]["loop_s"]), 0.3) and close(float(rows[1]["loop_s"]), 0.15),
          "strong: loop_s = 0.3, 0.15")
    check(close(float(rows[1]["speedup"]), 2.0) and close(float(rows[1]["efficiency"]), 1.0),
          "strong: speedup t1/t2 = 2, efficiency = speedup/2 = 1")
    check(close(float(rows[0]["speedup"]), 1.0) and close(float(rows[0]["efficiency"]), 1.0),
          "strong: baseline speedup 1, efficiency 1")
    check(all(float(r["wall_s"]) > float(r["prog_s"]) for r in rows),
          "strong: wall time (whole job) > program time")
    check(png_ok(os.path.join(out, "scaling.png")), "strong: scaling.png is a valid PNG")
    check("program time" in p.stdout, "strong: the table says speedup is from the program time")

    # 2. Wall-time basis: sleep 0.4/ranks, no timing lines.
    out = os.path.join(tmp, "wall")
    p = scale(["--ranks", "1,2", "--out", out, "--", "sh", "-c", "sleep {0.4/ranks}"], tmp)
    print(p.stdout + p.stderr)
    check(p.returncode == 0, "wall: exit 0")
    header, rows = read_csv(os.path.join(out, "scaling.csv"))
    check(header == COLUMNS, "wall: CSV columns")
    check(all(r["basis"] == "wall" and r["prog_s"] == "" for r in rows),
          "wall: basis wall, no program time")
    t1, t2 = float(rows[0]["wall_s"]), float(rows[1]["wall_s"])
    check(t1 >= 0.4 and t2 >= 0.2, "wall: wall times at least the sleeps (%.3f, %.3f)" % (t1, t2))
    check(close(float(rows[1]["speedup"]), t1 / t2, 1e-4) and
          close(float(rows[1]["efficiency"]), t1 / t2 / 2, 1e-4),
          "wall: speedup = t1/t2, efficiency = speedup/2 (%s, %s)"
          % (rows[1]["speedup"], rows[1]["efficiency"]))
    check("sleep 0.2" in p.stderr and "sleep 0.4" in p.stderr, "wall: {0.4/ranks} -> 0.4, 0.2")
    check("mpirun-tsr -np 2" in p.stderr, "wall: runs through scripts/mpirun-tsr -np 2")
    check(png_ok(os.path.join(out, "scaling.png")), "wall: scaling.png is a valid PNG")

    # 3. Weak scaling, placeholders, --setup and --threads: main = 0.2, 0.25.
    out = os.path.join(tmp, "weak")
    p = scale(["--ranks", "1,2", "--threads", "1", "--weak", "--out", out,
               "--setup", "echo {ranks*50000} {threads} {{x}} > setup_{ranks}.txt", "--",
               "sh", "-c", "echo {ranks*50000} $TSR_THREADS > cmd_{ranks}_{threads}.txt; "
               "exec %s {0.15+0.05*ranks} {0.1*ranks}" % fake], tmp)
    print(p.stdout + p.stderr)
    check(p.returncode == 0, "weak: exit 0")
    for r, n in ((1, 50000), (2, 100000)):
        s = open(os.path.join(tmp, "setup_%d.txt" % r)).read().split()
        check(s == [str(n), "1", "{x}"], "weak: --setup at %d ranks got %s" % (r, s))
        c = open(os.path.join(tmp, "cmd_%d_1.txt" % r)).read().split()
        check(c == [str(n), "1"], "weak: COMMAND at %d ranks got %s (TSR_THREADS=1)" % (r, c))
    header, rows = read_csv(os.path.join(out, "scaling.csv"))
    check([r["threads"] for r in rows] == ["1", "1"], "weak: threads column 1")
    check(close(float(rows[1]["prog_s"]), 0.25), "weak: prog_s at 2 ranks 0.25")
    check(close(float(rows[1]["efficiency"]), 0.2 / 0.25),
          "weak: efficiency t1/t2 = 0.8 (%s)" % rows[1]["efficiency"])
    check(close(float(rows[1]["speedup"]), 2 * 0.2 / 0.25), "weak: scaled speedup 1.6")
    check(png_ok(os.path.join(out, "scaling.png")), "weak: scaling.png is a valid PNG")

    # 4. A real tessera run --timing, 1 and 2 ranks.
    prog = os.path.join(tmp, "tiny.tsl")
    with open(prog, "w") as f:
        f.write("(define (main n)\n  (define a (zeros n))\n"
                "  (for (i 20) (set! a (+ (* a 0.5) 1)))\n  (sum a))\n")
    out = os.path.join(tmp, "tessera")
    p = scale(["--ranks", "1,2", "--threads", "1", "--out", out, "--",
               "tessera", "run", prog, "--arg", "n=400000", "--timing"], tmp)
    print(p.stdout + p.stderr)
    check(p.returncode == 0, "tessera run: exit 0")
    header, rows = read_csv(os.path.join(out, "scaling.csv"))
    check(all(r["basis"] == "prog" and float(r["prog_s"]) > 0 and r["loop_s"] != ""
              for r in rows), "tessera run: its --timing lines give prog_s and loop_s")
    check(all(float(r["wall_s"]) > float(r["prog_s"]) for r in rows),
          "tessera run: wall > program time")
    check(close(float(rows[1]["speedup"]), float(rows[0]["prog_s"]) / float(rows[1]["prog_s"]),
                1e-4), "tessera run: speedup = prog t1/t2")

    # 5. Slurm: srun -n R -c T inside an allocation (a stand-in srun records its arguments).
    bindir = os.path.join(tmp, "bin")
    os.mkdir(bindir)
    with open(os.path.join(bindir, "srun"), "w") as f:
        f.write('#!/bin/sh\necho "srun $*" >> "%s/srun.log"\nshift 4\nexec "$@"\n' % tmp)
    os.chmod(os.path.join(bindir, "srun"), 0o755)
    out = os.path.join(tmp, "slurm")
    p = scale(["--ranks", "1,2", "--threads", "2", "--out", out, "--", fake, "0.1", "0.1"], tmp,
              {"SLURM_JOB_ID": "4242", "PATH": bindir + os.pathsep + os.environ["PATH"]})
    print(p.stdout + p.stderr)
    check(p.returncode == 0, "slurm: exit 0")
    log = open(os.path.join(tmp, "srun.log")).read().splitlines()
    check(log == ["srun -n 1 -c 2 " + fake + " 0.1 0.1", "srun -n 2 -c 2 " + fake + " 0.1 0.1"],
          "slurm: srun -n R -c T (%s)" % log)

    # 6. Errors: exit status and the message.
    def err(args, status, text, what):
        p = scale(args, tmp)
        ok = p.returncode == status and text in p.stderr
        check(ok, "error: %s -> exit %d, '%s'" % (what, status, text))
        if not ok:
            print("  got exit %d, stderr:\n%s" % (p.returncode, p.stderr))

    err(["--ranks", "1,x", "--", "true"], 2, "--ranks: 'x' is not a positive integer",
        "bad --ranks")
    err(["--ranks", "0,2", "--", "true"], 2, "--ranks: '0' is not a positive integer",
        "--ranks 0")
    err(["--ranks", "2,1", "--", "true"], 2, "is not increasing", "--ranks decreasing")
    err(["--ranks", "1,1", "--", "true"], 2, "1 appears twice", "--ranks duplicate")
    err(["--ranks", "1,2"], 2, "no COMMAND", "no COMMAND")
    err(["--ranks", "1", "--", "echo", "{nodes}"], 2, "unknown name 'nodes'", "unknown name")
    err(["--ranks", "1", "--", "echo", "{threads}"], 2, "needs --threads", "{threads} w/o --threads")
    err(["--ranks", "1", "--", "echo", "{ranks"], 2, "without its '}'", "unclosed brace")
    err(["--ranks", "1", "--bogus", "--", "true"], 2, "unknown option '--bogus'", "unknown option")
    err(["--ranks", "1,2", "--out", os.path.join(tmp, "f"), "--", "sh", "-c",
         "if [ {ranks} = 2 ]; then echo boom at {ranks} ranks >&2; exit 3; fi"],
        1, "boom at 2 ranks", "COMMAND failing at 2 ranks shows its stderr")
    err(["--ranks", "1,2", "--out", os.path.join(tmp, "f2"), "--", "sh", "-c",
         "if [ {ranks} = 2 ]; then echo boom >&2; exit 3; fi"],
        1, "failed at 2 ranks (exit status 3)", "COMMAND failing names the size and status")
    err(["--ranks", "1", "--setup", "echo nope >&2; false", "--out", os.path.join(tmp, "f3"),
         "--", "true"], 1, "nope", "failing --setup")
    check(not os.path.exists(os.path.join(tmp, "f", "scaling.csv")),
          "error: no CSV after a failed size")

    if failures:
        print("%d FAILED:\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
