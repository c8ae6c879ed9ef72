#!/usr/bin/python3
"""tessera submit/status/fetch --host USER@HOST through ssh, against a private
sshd on 127.0.0.1 (own host key, own authorized key, a free port; nothing of
the machine's ssh setup is used or changed) and the real local Slurm.

    test_submit_host.py --tessera BUILD/apps/tessera --work DIR

Submits apps/logreg.tsl with --host (job directory under a remote --jobs-dir
whose name has spaces and $(...)), fetches w and the logs back over ssh and
compares w with numpy. Exit 77 (skipped) when /usr/sbin/sshd is not installed
(apt-get install -y openssh-server); FAIL when `sinfo` does not answer.
"""
import argparse
import getpass
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
SSHD = "/usr/sbin/sshd"
# A login shell starts with a fresh environment: the sanitizer build's settings
# (LSan suppressions for Open MPI) go along explicitly, as a cluster's own
# environment would be set up there.
SANITIZER_ENV = "ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS"


def die(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    if not os.path.exists(SSHD):
        print("SKIP: no %s (apt-get install -y openssh-server to run this test)" % SSHD)
        return 77
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    import test_slurm_jobs
    test_slurm_jobs.need_cluster()
    import numpy as np

    tessera = os.path.abspath(a.tessera)
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    for k in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        os.path.join(work, k)], check=True)
    shutil.copy(os.path.join(work, "user_key.pub"), os.path.join(work, "authorized_keys"))
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
    port = free_port()
    sshd = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", "/dev/null", "-p", str(port), "-o", "ListenAddress=127.0.0.1",
         "-o", "HostKey=" + os.path.join(work, "host_key"),
         "-o", "AuthorizedKeysFile=" + os.path.join(work, "authorized_keys"),
         "-o", "PidFile=" + os.path.join(work, "sshd.pid"), "-o", "StrictModes=no",
         "-o", "PermitRootLogin=prohibit-password", "-o", "PasswordAuthentication=no",
         "-o", "UsePAM=no", "-o", "AcceptEnv=" + SANITIZER_ENV],
        stderr=open(os.path.join(work, "sshd.log"), "w"))
    try:
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "SendEnv=" + SANITIZER_ENV, "-p", str(port),
               "-i", os.path.join(work, "user_key")]
        env = dict(os.environ, TESSERA_HOME=os.path.join(work, "home"),
                   TESSERA_SSH=shlex.join(ssh))
        host = "%s@127.0.0.1" % getpass.getuser()
        for _ in range(50):
            r = subprocess.run(ssh + [host, "true"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode == 0:
                break
            time.sleep(0.2)
        else:
            die("cannot ssh to the test sshd: %s\n%s" % (r.stdout,
                                                        open(work + "/sshd.log").read()))

        here = os.path.join(work, "local side")
        os.makedirs(here)
        rng = np.random.default_rng(3)
        m, n, iters = 1000, 5, 10
        X = rng.standard_normal((m, n))
        y = (X[:, 0] > 0).astype(float)
        np.save(os.path.join(here, "X.npy"), X)
        np.save(os.path.join(here, "y.npy"), y)
        remote_jobs = os.path.join(work, "remote jobs $(touch pwned)")

        def tsr(*argv, check=0):
            cmd = [tessera] + list(argv)
            print("$ " + " ".join(cmd))
            r = subprocess.run(cmd, cwd=here, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
            sys.stdout.write(r.stdout + r.stderr)
            if check is not None and r.returncode != check:
                die("%s exited %d, expected %d" % (argv[0], r.returncode, check))
            return r

        jid = tsr("submit", os.path.join(SRC, "apps", "logreg.tsl"), "--host", host,
                  "--jobs-dir", remote_jobs, "--tessera", tessera, "--ntasks-per-node", "2",
                  "--arg", "X=X.npy", "--arg", "y=y.npy", "--arg", "alpha=1",
                  "--arg", "iters=%d" % iters, "--out", "w=w.npy").stdout.strip()
        if not jid.isdigit():
            die("submit --host printed no job id")
        if os.path.exists(os.path.join(here, "tessera-jobs")):
            die("submit --host left a job directory on the local side")
        tsr("fetch", jid, "--dest", "back", "--timeout", "300", "--poll", "1")
        r = tsr("status", jid)
        if " COMPLETED" not in r.stdout or host not in r.stdout:
            die("status --host: %r" % r.stdout)
        w = np.load(os.path.join(here, "back", "w.npy"))
        w_ref = np.zeros(n)
        for _ in range(iters):
            w_ref = w_ref - 1.0 / m * (X.T @ (1.0 / (1.0 + np.exp(-(X @ w_ref))) - y))
        err = float(np.max(np.abs(w - w_ref)) / np.max(np.abs(w_ref)))
        if err > 1e-10:
            die("w differs from numpy's by %.3g" % err)
        if not os.path.isfile(os.path.join(here, "back", "tessera-%s.err" % jid)):
            die("fetch --host did not bring the job's stderr back")
        pwned = [os.path.join(d, f) for d, _, fs in os.walk(work) for f in fs
                 if f.startswith("pwned")]
        if pwned:
            die("a name's $(...) ran: %s" % pwned)
        print("ok: --host through ssh: job %s, w agrees with numpy to %.1e" % (jid, err))
        return 0
    finally:
        sshd.terminate()
        sshd.wait()


if __name__ == "__main__":
    sys.exit(main())
