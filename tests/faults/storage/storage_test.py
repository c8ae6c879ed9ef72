#!/usr/bin/python3
"""Storage and memory faults of `tessera run` (issue 8): each case runs real
jobs through scripts/mpirun-tsr and asserts the exit status, the message on
every rank, a bounded time and the bytes of the files involved (against the
original bytes and numpy).

  storage_test.py CASE NP --tessera PATH --mpirun PATH

CASE:
  kill-save  kill -9 of a rank while `save` writes (test hook
             TSR_TEST_SAVE_DELAY_MS slows the write): the old file stays byte
             for byte, nothing else takes its name; the next save removes
             the killed save's temporary file and writes the right data
  kill-out   the same for `tessera run --out`
  paths      unwritable outputs found before anything runs: a missing
             directory, a path under a regular file, a directory as the
             target, a read-only directory (a read-only bind mount as root,
             mode 0555 otherwise), for --out (exit 2) and `save` (exit 3);
             paths-basic: --out to a missing directory and to the read-only
             one, and save to the missing one
  diskfull   (root: mounts a 1 MiB tmpfs) no room, found by the check pass
             when the shape is known (save and --out, exit 3), else ENOSPC
             while saving (exit 1): old file intact, no temporary file
  memory     (memory-basic: the first and the third case only)
             arrays that cannot fit: 10^12 and 10^20 elements at check time
             (exit 3), 10^12 with a shape known only while running (the array
             layer's guard, exit 1), a per-process address-space limit
             (RLIMIT_AS; not under ASan, which needs the address space), and
             a legitimately large array (2 GB) that must still work
Exit 77 (skip) for diskfull when not root."""
import argparse
import glob
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

BOUND_S = 60  # every job must end within this (generous, fixed; not a timing check)
KILL_BOUND_S = 20  # after a kill -9, the job must be gone within this
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def run(args, cwd, env=None, preexec=None, bound=BOUND_S):
    t0 = time.monotonic()
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(args, cwd=cwd, env=e, capture_output=True, text=True, timeout=bound + 30,
                       preexec_fn=preexec)
    dt = time.monotonic() - t0
    if dt > bound:
        fail(f"{' '.join(args)} took {dt:.1f} s, more than {bound} s")
    return p.returncode, p.stdout, p.stderr, dt


def expect(what, rc, out, err, want_rc, pattern, nranks, want_out=None):
    """Exit status; the message (a regex) once on every rank (plain on rank 0,
    ' [rank R]' on the others); stdout exactly want_out when given."""
    ok = True
    if rc != want_rc:
        fail(f"{what}: exit {rc}, expected {want_rc}")
        ok = False
    seen = {}
    for line in err.splitlines():
        if re.search(pattern, line):
            m = re.search(r" \[rank (\d+)\]$", line)
            r = int(m.group(1)) if m else 0
            seen[r] = seen.get(r, 0) + 1
    if seen != {r: 1 for r in range(nranks)}:
        fail(f"{what}: expected /{pattern}/ once on each of {nranks} ranks, seen {seen}")
        ok = False
    if want_out is not None and out != want_out:
        fail(f"{what}: stdout {out!r}, expected {want_out!r}")
        ok = False
    if not ok:
        print("---- stderr ----\n" + err + "----------------", flush=True)
    else:
        print(f"ok: {what}", flush=True)
    return ok


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def temps(d, name):
    return sorted(glob.glob(os.path.join(d, "." + name + ".tmp.*")))


def same_file(what, path, want_bytes):
    if not os.path.exists(path):
        fail(f"{what}: {path} is gone")
    elif file_bytes(path) != want_bytes:
        fail(f"{what}: {path} changed ({os.path.getsize(path)} bytes, had {len(want_bytes)})")
    else:
        print(f"ok: {what}: {os.path.basename(path)} byte-identical to the original", flush=True)


def write(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)


# ---- kill -9 during a save ----

def children(pid):
    out = []
    for st in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(st) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(st.split("/")[2]))
        except (OSError, IndexError, ValueError):
            pass
    return out


def rank_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for kv in f.read().split(b"\0"):
                if kv.startswith(b"OMPI_COMM_WORLD_RANK="):
                    return int(kv.split(b"=", 1)[1])
    except OSError:
        pass
    return -1


def alive_with(marker):
    """Processes whose command line mentions marker (the job's unique dir)."""
    pids = []
    for c in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(c, "rb") as f:
                if marker.encode() in f.read():
                    pids.append(int(c.split("/")[2]))
        except OSError:
            pass
    return [p for p in pids if p != os.getpid()]


def kill_case(a, d, use_out):
    np_ = a.np
    old = np.arange(12.0).reshape(3, 4)
    target = os.path.join(d, "out.npy")
    np.save(target, old)
    orig = file_bytes(target)
    # 1500 x 1000 doubles (12 MB): with the hook's 1 MiB chunks every rank
    # has at least 3 chunks at 4 ranks, with a pause after each.
    if use_out:
        write(d, "k.tsl", "(define (main)\n  (define w (+ (ones 1500 1000) 1))\n  0)\n")
        args = [a.mpirun, "-np", str(np_), a.tessera, "run", os.path.join(d, "k.tsl"),
                "--out", "w=out.npy"]
    else:
        write(d, "k.tsl", '(save (+ (ones 1500 1000) 1) "out.npy")\n')
        args = [a.mpirun, "-np", str(np_), a.tessera, "run", os.path.join(d, "k.tsl")]
    what = f"kill -9 during {'--out' if use_out else 'save'} at {np_} ranks"
    env = dict(os.environ, TSR_TEST_SAVE_DELAY_MS="3000")
    job = subprocess.Popen(args, cwd=d, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, start_new_session=True)
    # Wait until the temporary file holds data beyond the header: the write
    # has begun and is paused between chunks.
    t0 = time.monotonic()
    started = False
    while time.monotonic() - t0 < BOUND_S and job.poll() is None:
        tmp = temps(d, "out.npy")
        if tmp and os.path.getsize(tmp[0]) > 128:
            started = True
            break
        time.sleep(0.05)
    if not started:
        os.killpg(job.pid, signal.SIGKILL)
        out, err = job.communicate()
        fail(f"{what}: the save never started writing (exit {job.returncode})\n{err}")
        return
    ranks = {rank_of(p): p for p in children(job.pid)}
    victim = ranks.get(0)
    if victim is None:
        fail(f"{what}: no rank 0 among mpirun's children {ranks}")
        os.killpg(job.pid, signal.SIGKILL)
        job.communicate()
        return
    tk = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    try:
        out, err = job.communicate(timeout=KILL_BOUND_S)
    except subprocess.TimeoutExpired:
        fail(f"{what}: the job was still running {KILL_BOUND_S} s after the kill")
        os.killpg(job.pid, signal.SIGKILL)
        out, err = job.communicate()
    dt = time.monotonic() - tk
    time.sleep(0.5)
    left = alive_with(d)
    if left:
        fail(f"{what}: processes left behind: {left}")
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    if job.returncode == 0:
        fail(f"{what}: mpirun exited 0 after a rank was killed")
    # Open MPI's own report names the killed rank and the signal.
    # (Open MPI 4.1 prints "PID 0" here, not the real one.)
    if not re.search(r"process rank 0 with PID \d+ on node \S+ exited on signal 9", err):
        fail(f"{what}: mpirun did not report rank 0 killed by signal 9:\n{err}")
    print(f"ok: {what}: job ended {dt:.1f} s after the kill (exit {job.returncode})", flush=True)
    same_file(what, target, orig)
    left_tmp = temps(d, "out.npy")
    names = sorted(os.listdir(d))
    extra = [n for n in names if n not in ("k.tsl", "out.npy") and
             not n.startswith(".out.npy.tmp.")]
    if extra:
        fail(f"{what}: unexpected files {extra}")
    if len(left_tmp) != 1:
        fail(f"{what}: expected the killed save's one temporary file, found {left_tmp}")
    # The next save to the name removes the leftover and writes the data.
    rc, out2, err2, _ = run(args, cwd=d)
    if rc != 0:
        fail(f"{what}: the next save failed (exit {rc}):\n{err2}")
    got = np.load(target)
    if got.shape != (1500, 1000) or not np.array_equal(got, np.ones((1500, 1000)) + 1):
        fail(f"{what}: the next save wrote the wrong data (shape {got.shape})")
    if temps(d, "out.npy"):
        fail(f"{what}: temporary files left after the next save: {temps(d, 'out.npy')}")
    else:
        print(f"ok: {what}: the next save removed {os.path.basename(left_tmp[0]) if left_tmp else '-'}"
              " and wrote the right array", flush=True)


# ---- unwritable outputs ----

def paths_case(a, d, full):
    np_ = a.np
    mp = [a.mpirun, "-np", str(np_), a.tessera, "run"]
    write(d, "o.tsl", '(define (main)\n  (print "started")\n  (define w (ones 30 20))\n  0)\n')
    open(os.path.join(d, "afile"), "w").close()
    os.mkdir(os.path.join(d, "adir"))
    cases = [
        ("nodir/sub/w.npy", r"cannot create a file in directory 'nodir/sub': No such file or directory"),
        ("afile/w.npy", r"cannot create a file in directory 'afile': Not a directory"),
        ("adir", r"it is a directory"),
    ]
    # A read-only directory holding an old file: root ignores mode bits, so
    # as root a read-only bind mount of it.
    rw, ro = os.path.join(d, "rw"), os.path.join(d, "ro")
    os.mkdir(rw)
    np.save(os.path.join(rw, "w.npy"), np.arange(5.0))
    orig = file_bytes(os.path.join(rw, "w.npy"))
    mounted = False
    if os.geteuid() == 0:
        os.mkdir(ro)
        subprocess.run(["mount", "--bind", rw, ro], check=True)
        mounted = True
        subprocess.run(["mount", "-o", "remount,ro,bind", ro], check=True)
        ro_reason = "Read-only file system"
    else:
        os.chmod(rw, 0o555)
        ro = rw
        ro_reason = "Permission denied"
    if not full:
        cases = cases[:1]
    try:
        cases.append(("ro/w.npy" if mounted else "rw/w.npy",
                      r"cannot create a file in directory '%s': %s" % ("ro" if mounted else "rw",
                                                                      ro_reason)))
        for path, reason in cases:
            rc, out, err, _ = run(mp + ["o.tsl", "--out", "w=" + path], cwd=d)
            expect(f"--out to {path} at {np_} ranks", rc, out, err, 2,
                   r"^--out w: %s: %s" % (re.escape(path), reason), np_, want_out="")
            # save goes through the same check (tsr__npy_check_target): two
            # kinds are enough to show the route and its message.
            if path not in ("nodir/sub/w.npy", "ro/w.npy", "rw/w.npy") or (
                    not full and path != "nodir/sub/w.npy"):
                continue
            write(d, "s.tsl", '(print "started")\n(save (ones 30 20) "%s")\n' % path)
            rc, out, err, _ = run(mp + ["s.tsl"], cwd=d)
            expect(f"save to {path} at {np_} ranks", rc, out, err, 3,
                   r"^s\.tsl:2:1: save: %s: %s" % (re.escape(path), reason), np_, want_out="")
        same_file("read-only directory", os.path.join(ro, "w.npy"), orig)
        if temps(ro, "w.npy"):
            fail(f"temporary files in the read-only directory: {temps(ro, 'w.npy')}")
    finally:
        if mounted:
            subprocess.run(["umount", ro], check=False)
        else:
            os.chmod(rw, 0o755)


# ---- disk full (root) ----

def diskfull_case(a, d):
    if os.geteuid() != 0:
        print("skip: diskfull mounts a tmpfs and needs root")
        sys.exit(77)
    np_ = a.np
    mp = [a.mpirun, "-np", str(np_), a.tessera, "run"]
    full = os.path.join(d, "full")
    os.mkdir(full)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", full], check=True)
    try:
        target = os.path.join(full, "out.npy")
        np.save(target, np.arange(10.0))
        orig = file_bytes(target)
        room = r"not enough space: the file needs 7\.63 MiB, [0-9.]+ KiB free in full"
        # Known shapes: found by the check pass, nothing runs.
        write(d, "s.tsl", '(print "started")\n(save (ones 1000 1000) "full/out.npy")\n')
        rc, out, err, _ = run(mp + ["s.tsl"], cwd=d)
        expect(f"save to a full disk at {np_} ranks", rc, out, err, 3,
               r"^s\.tsl:2:1: save: full/out\.npy: " + room, np_, want_out="")
        write(d, "o.tsl", '(define (main)\n  (print "started")\n  (define w (ones 1000 1000))\n  0)\n')
        rc, out, err, _ = run(mp + ["o.tsl", "--out", "w=full/out.npy"], cwd=d)
        expect(f"--out to a full disk at {np_} ranks", rc, out, err, 3,
               r"^--out w: full/out\.npy: " + room, np_, want_out="")
        same_file("full disk, found before running", target, orig)
        # A shape known only while running: the write itself hits ENOSPC.
        write(d, "r.tsl", '(print "started")\n(define k (sum (ones 1000)))\n'
                          '(save (ones k 1000) "full/out.npy")\n(print "not reached")\n')
        rc, out, err, _ = run(mp + ["r.tsl"], cwd=d)
        expect(f"ENOSPC while saving at {np_} ranks", rc, out, err, 1,
               r"^r\.tsl:3:1: save: full/out\.npy: rank \d+: no space left on the device: the "
               r"file needs 7\.63 MiB, [0-9.]+ KiB free in full \(the old file, if any, is kept\)",
               np_, want_out="started\n")
        same_file("ENOSPC while saving", target, orig)
        if sorted(os.listdir(full)) != ["out.npy"]:
            fail(f"ENOSPC while saving: {sorted(os.listdir(full))} in the full file system, "
                 "expected only out.npy")
    finally:
        subprocess.run(["umount", full], check=False)


# ---- memory ----

def asan_build(tessera):
    p = subprocess.run(["ldd", tessera], capture_output=True, text=True)
    return "libasan" in p.stdout


def memory_case(a, d, full):
    np_ = a.np
    mp = [a.mpirun, "-np", str(np_), a.tessera, "run"]
    each = "on 1 rank" if np_ == 1 else f"on each of {np_} ranks"
    fits = r"more than fits: this node \(\S+\) has [0-9.]+ [GT]iB of memory and swap \(found before running\)"
    cases = [("(zeros 1000000 1000000)", "1000000x1000000")]
    if full:
        cases.append(("(zeros 10000000000 10000000000)", "10000000000x10000000000"))
    for prog, shape in cases:
        write(d, "m.tsl", '(print "started")\n(print (sum %s))\n' % prog)
        rc, out, err, _ = run(mp + ["m.tsl"], cwd=d)
        expect(f"{prog} at {np_} ranks (check)", rc, out, err, 3,
               r"^m\.tsl:2:13: zeros: a %s array needs [0-9.]+ [TPE]iB %s, %s" % (shape, each, fits),
               np_, want_out="")
    # Known only while running: the array layer refuses it on every rank.
    write(d, "r.tsl", '(print "started")\n(define k (sum (ones 1000)))\n'
                      '(print (sum (zeros (* k 1000) 1000000)))\n')
    rc, out, err, _ = run(mp + ["r.tsl"], cwd=d)
    expect(f"10^12 elements at {np_} ranks (run)", rc, out, err, 1,
           r"^r\.tsl:3:13: zeros: an array of shape \(1000000, 1000000\) needs [0-9.]+ TiB on a "
           r"rank \(its largest part, \d+ x \d+ doubles on a \d+ x \d+ grid\), more than the "
           r"[0-9.]+ GiB a rank can have: [0-9.]+ GiB available on host \S+ for its %d ranks?(?: \[rank \d+\])?$" % np_,
           np_, want_out="started\n")
    if not full:
        return
    # An address-space limit (RLIMIT_AS) below the array's share.
    if asan_build(a.tessera):
        print("note: RLIMIT_AS cases left out under ASan (it reserves terabytes of address space)")
    else:
        lim = 1536 << 20

        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        write(d, "l.tsl", '(print "started")\n(print (sum (zeros 100000 10000)))\n')
        rc, out, err, _ = run(mp + ["l.tsl"], cwd=d, preexec=limit)
        expect(f"RLIMIT_AS at {np_} ranks (check)", rc, out, err, 3,
               r"^l\.tsl:2:13: zeros: a 100000x10000 array needs [0-9.]+ GiB %s, more than fits: "
               r"RLIMIT_AS is 1\.5 GiB \(found before running\)" % each, np_, want_out="")
        write(d, "l2.tsl", '(print "started")\n(define k (sum (ones 1000)))\n'
                           '(print (sum (zeros (* k 100) 10000)))\n')
        rc, out, err, _ = run(mp + ["l2.tsl"], cwd=d, preexec=limit)
        expect(f"RLIMIT_AS at {np_} ranks (run)", rc, out, err, 1,
               r"^l2\.tsl:3:13: zeros: an array of shape \(100000, 10000\) needs [0-9.]+ GiB on a "
               r"rank .*RLIMIT_AS \(1\.5 GiB\) leaves [0-9.]+ [MG]iB on host \S+(?: \[rank \d+\])?$", np_,
               want_out="started\n")
    # What fits still works: 2 GB in all, checked against the exact sum.
    write(d, "ok.tsl", "(print (sum (ones 16000 16000)))\n")
    rc, out, err, _ = run(mp + ["ok.tsl"], cwd=d)
    if rc != 0 or out != "256000000\n":
        fail(f"a 16000x16000 array at {np_} ranks: exit {rc}, stdout {out!r}\n{err}")
    else:
        print(f"ok: a 16000x16000 array (1.9 GiB) at {np_} ranks works", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=["kill-save", "kill-out", "paths", "paths-basic",
                                     "diskfull", "memory", "memory-basic"])
    ap.add_argument("np", type=int)
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mpirun", required=True)
    a = ap.parse_args()
    a.tessera = os.path.abspath(a.tessera)
    a.mpirun = os.path.abspath(a.mpirun)
    d = tempfile.mkdtemp(prefix=f"tsr-storage-{a.case}-")
    try:
        if a.case == "kill-save":
            kill_case(a, d, False)
        elif a.case == "kill-out":
            kill_case(a, d, True)
        elif a.case.startswith("paths"):
            paths_case(a, d, a.case == "paths")
        elif a.case == "diskfull":
            diskfull_case(a, d)
        else:
            memory_case(a, d, a.case == "memory")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("all ok")


if __name__ == "__main__":
    main()
