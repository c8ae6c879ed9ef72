#!/usr/bin/python3
"""Write the seed corpora of tests/fuzz/*/corpus (run once; the output is
committed, so CI never regenerates it and a crash input added by hand stays).

  make_seeds.py [--only lang,npy_header,am_decode,run_args,submit_args]

lang:        the example apps and every tests/lang program, each with a ';@'
             directive binding main's parameters (see fuzz_lang.c), from
             its '; args:' / '; npy:' header lines where it has them
npy_header:  real numpy headers (np.lib.format: several dtypes, shapes,
             orders, versions 1.0/2.0/3.0) and broken ones
am_decode:   encoded active messages as src/am/wire.c writes them (eager,
             rendezvous RTS, trace flow ids, the remote-future handlers'
             headers) and malformed ones
run_args:    argv sets of tessera run/check, NUL-separated (first byte 0:
             run, 1: check)
submit_args: argv sets of tessera submit, NUL-separated
Existing files of the same name are overwritten; others are left alone."""
import argparse
import glob
import io
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(corpus, name, data):
    d = os.path.join(HERE, corpus, "corpus")
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- lang ------------------------------------------------------------------

APP_ARGS = {
    "logreg": "X=64x5 y=64, alpha=1 iters=5 >w",
    "als": "R=20x12 V0=12x3 lambda=0.1 iters=3 >result",
    "cg": "A=16x16 b=16, tol=1e-6 maxiter=20 >result",
    "jacobi": "u0=16x16 steps=5 >result",
    "kmeans": "X=50x2 C0=3x2 iters=4 >result",
}


def directive(text):
    """';@ ...' from the '; args:' and '; npy:' header lines, or None."""
    shapes = {}
    for m in re.finditer(r"^; npy: (\S+) (\d+)(?: (\d+))?", text, re.M):
        shapes[m.group(1)] = "%sx%s" % (m.group(2), m.group(3)) if m.group(3) else m.group(2) + ","
    words = []
    for m in re.finditer(r"^; args: (.*)$", text, re.M):
        toks = m.group(1).split()
        for opt, val in zip(toks, toks[1:]):
            if opt not in ("--arg", "--out") or "=" not in val:
                continue
            name, v = val.split("=", 1)
            if opt == "--out":
                words.append(">" + name)
            else:
                words.append("%s=%s" % (name, shapes.get(v, v if not v.endswith(".npy") else "8x4")))
    return ";@ " + " ".join(words) + "\n" if words else None


def lang():
    for path in sorted(glob.glob(os.path.join(ROOT, "apps", "*.tsl"))):
        name = os.path.splitext(os.path.basename(path))[0]
        text = open(path).read()
        put("lang", "app_%s.tsl" % name, ";@ %s\n%s" % (APP_ARGS.get(name, ""), text))
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "lang", "**", "*.tsl"), recursive=True)):
        rel = os.path.relpath(path, os.path.join(ROOT, "tests", "lang"))
        text = open(path).read()
        d = directive(text)
        put("lang", rel.replace(os.sep, "_"), (d or "") + text)


# ---- npy_header --------------------------------------------------------------

def npy_header():
    import numpy as np
    fmt = np.lib.format
    cases = [
        ("f8_2d", np.zeros((3, 4)), None),
        ("f8_1d", np.arange(5.0), None),
        ("f8_0d", np.array(2.5), None),
        ("f8_empty", np.zeros((0, 3)), None),
        ("f8_fortran", np.asfortranarray(np.ones((4, 2))), None),
        ("i8_2d", np.ones((2, 3), dtype=np.int64), None),
        ("f4_1d", np.ones(7, dtype=np.float32), None),
        ("f8_3d", np.zeros((2, 2, 2)), None),
        ("be_f8", np.zeros(3, dtype=">f8"), None),
        ("u1", np.zeros(3, dtype=np.uint8), None),
        ("c16", np.zeros(2, dtype=np.complex128), None),
        ("structured", np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")]), None),
        ("v2_f8", np.zeros((3, 3)), (2, 0)),
        ("v3_utf8", np.zeros(2, dtype=[("\u00e9", "<f8")]), (3, 0)),
        ("v3_f8", np.zeros((2, 5)), (3, 0)),
    ]
    for name, a, version in cases:
        b = io.BytesIO()
        fmt.write_array(b, a, version=version, allow_pickle=False)
        put("npy_header", name + ".npy", b.getvalue()[:512])

    def raw(d, version=1, hlen=None):
        body = d.encode()
        if version == 1:
            return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body) if hlen is None else hlen) + body
        return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(body) if hlen is None else hlen) + body

    good = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }"
    broken = {
        "bad_magic": b"\x93NUMPZ\x01\x00" + b"\x10\x00" + b"{}" * 8,
        "truncated_prelude": b"\x93NUMPY\x01",
        "version4": raw(good, 1).replace(b"\x01\x00", b"\x04\x00", 1),
        "hlen_past_end": raw(good, 1, hlen=4000),
        "hlen_v2_huge": raw(good, 2, hlen=0xFFFFFFF0),
        "shape_list": raw("{'descr': '<f8', 'fortran_order': False, 'shape': [3, 4], }\n"),
        "shape_negative": raw("{'descr': '<f8', 'fortran_order': False, 'shape': (-3, 4), }\n"),
        "shape_leading_zero": raw("{'descr': '<f8', 'fortran_order': False, 'shape': (03, 4), }\n"),
        "shape_not_tuple": raw("{'descr': '<f8', 'fortran_order': False, 'shape': (3), }\n"),
        "shape_huge": raw("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }\n"),
        "shape_overflow_product": raw("{'descr': '<f8', 'fortran_order': False, 'shape': (3037000500, 3037000500), }\n"),
        "shape_long": raw("{'descr': '<i8', 'fortran_order': True, 'shape': (3L, 4L), }\n"),
        "unterminated": raw("{'descr': '<f8, 'fortran_order': False, 'shape': (3, 4), }"),
        "dup_key": raw("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }\n"),
        "extra_key": raw("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), 'x': 1}\n"),
        "missing_key": raw("{'descr': '<f8', 'shape': (3, 4), }\n"),
        "bool_bad": raw("{'descr': '<f8', 'fortran_order': Falsey, 'shape': (3, 4), }\n"),
        "double_quotes": raw('{"descr": "<f4", "fortran_order": false, "shape": (2,), }\n'),
        "escape": raw("{'descr': '<f\\8', 'fortran_order': False, 'shape': (3, 4), }\n"),
        "trailing": raw(good + " x\n"),
        "empty_dict": raw("{}\n"),
        "nul_in_header": raw("{'descr': '<f8'\x00, 'fortran_order': False, 'shape': (3,), }\n"),
    }
    for name, data in broken.items():
        put("npy_header", "broken_" + name + ".npy", data)


# ---- am_decode ---------------------------------------------------------------

EAGER, RTS, MAGIC, FLOW = 1, 2, 0x5354, 0x80


def frame(kind, hid, tag=0, hdr=b"", payload=b"", flow=0, length=None, magic=MAGIC, flags=None):
    fl = (FLOW if flow else 0) if flags is None else flags
    plen = len(payload) if length is None else length
    out = struct.pack("<HBBiIIQ", magic, kind, fl, hid, len(hdr), tag, plen) + hdr
    if flow:
        out += struct.pack("<Q", flow)
    if kind == EAGER:
        out += b"\0" * ((-len(out)) % 16) + payload
    return out


def am_decode():
    key = struct.pack("<Q", (7 << 32) | 3)           # remote future handle key
    fail = struct.pack("<Qi", (7 << 32) | 3, -5) + b"\0\0\0\0"  # fail_hdr: key, status, pad
    doubles = struct.pack("<4d", 1.0, 2.0, 3.0, 4.0)
    good = {
        "eager_empty": frame(EAGER, 2),
        "eager_user": frame(EAGER, 2, hdr=b"hdr!", payload=doubles),
        "eager_maxhdr": frame(EAGER, 5, hdr=bytes(range(256)), payload=b"x"),
        "eager_flow": frame(EAGER, 2, hdr=b"abc", payload=doubles, flow=0x1234),
        "remote_set_eager": frame(EAGER, 0, hdr=key, payload=doubles),
        "remote_set_empty": frame(EAGER, 0, hdr=key),
        "remote_fail_eager": frame(EAGER, 1, hdr=fail, payload=b"rank 1: it went wrong"),
        "rts_user": frame(RTS, 3, tag=17, hdr=b"tile", length=1 << 20),
        "rts_remote_set": frame(RTS, 0, tag=9, hdr=key, length=65536),
        "rts_flow": frame(RTS, 4, tag=1, hdr=b"", length=100, flow=99),
    }
    bad = {
        "short": frame(EAGER, 2)[:23],
        "empty": b"",
        "bad_magic": frame(EAGER, 2, magic=0x5453),
        "bad_flags": frame(EAGER, 2, flags=0x01),
        "neg_id": frame(EAGER, -1),
        "hdr_too_long": frame(EAGER, 2, hdr=b"h" * 257),
        "flow_zero": frame(EAGER, 2, flags=FLOW) + b"\0" * 8,
        "flow_truncated": frame(EAGER, 2, hdr=b"abc", flow=5)[:30],
        "eager_len_mismatch": frame(EAGER, 2, payload=doubles, length=64),
        "eager_tag": frame(EAGER, 2, tag=3, payload=doubles),
        "eager_len_huge": frame(EAGER, 2, payload=b"", length=(1 << 64) - 8),
        "rts_len_zero": frame(RTS, 3, tag=1, length=0),
        "rts_len_huge": frame(RTS, 0, tag=1, hdr=key, length=(1 << 63) + 5),
        "rts_tag_neg": frame(RTS, 3, tag=0x80000000, length=10),
        "rts_extra_bytes": frame(RTS, 3, tag=1, length=10) + b"junk",
        "kind_unknown": frame(3, 2),
    }
    for name, data in good.items():
        put("am_decode", name, data)
    for name, data in bad.items():
        put("am_decode", "bad_" + name, data)


# ---- argv sets -----------------------------------------------------------------

RUN_ARGV = {
    "logreg": ["apps/logreg.tsl", "--arg", "X=X.npy", "--arg", "y=y.npy", "--arg", "alpha=1",
               "--arg", "iters=100", "--out", "w=w.npy"],
    "all_options": ["p.tsl", "--threads", "2", "--trace", "t.json", "--grid", "2x1", "--tile",
                    "64", "--quiet", "--timing", "--arg", "flag=true", "--arg", "eps=1e-3"],
    "equals_forms": ["--grid=1x4", "--tile=128", "--threads=1", "--arg=a=0.5", "--out=result=r.npy",
                     "p.tsl"],
    "help": ["--help"],
    "short_help": ["p.tsl", "-h"],
    "bad_grid": ["p.tsl", "--grid", "0x2"],
    "bad_grid_big": ["p.tsl", "--grid", "65536x65536"],
    "bad_tile": ["p.tsl", "--tile", "0"],
    "missing_value": ["p.tsl", "--arg"],
    "unknown_option": ["p.tsl", "--bogus"],
    "two_programs": ["a.tsl", "b.tsl"],
    "no_program": ["--quiet"],
    "arg_no_name": ["p.tsl", "--arg", "=1"],
    "arg_no_value": ["p.tsl", "--arg", "x="],
    "trace_empty": ["p.tsl", "--trace="],
    "threads_huge": ["p.tsl", "--threads", "99999999999999999999"],
    "dash_program": ["-"],
}

SUBMIT_ARGV = {
    "basic": ["prog.tsl", "--nodes", "2", "--ntasks-per-node", "4", "--dry-run"],
    "full": ["prog.tsl", "--nodes", "1", "--ntasks-per-node", "2", "--cpus-per-task", "2",
             "--time", "00:10:00", "--partition", "debug", "--account", "proj",
             "--job-name", "my job", "--arg", "X=X.npy", "--arg", "alpha=0.5",
             "--out", "w=w.npy", "--run-opt=--timing", "--sbatch-opt=--mem=1G",
             "--launcher", "mpirun", "--tessera", "/opt/tessera/bin/tessera", "--dry-run"],
    "no_copy": ["prog.tsl", "--arg", "X=X.npy", "--no-copy", "--jobs-dir", "jobs", "--dry-run"],
    "host": ["prog.tsl", "--host", "me@login", "--jobs-dir", "/scratch/jobs", "--dry-run"],
    "help": ["--help"],
    "bad_nodes": ["prog.tsl", "--nodes", "0", "--dry-run"],
    "bad_time": ["prog.tsl", "--time", "soon", "--dry-run"],
    "bad_launcher": ["prog.tsl", "--launcher", "ssh", "--dry-run"],
    "missing_prog": ["nothere.tsl", "--dry-run"],
    "bad_arg": ["prog.tsl", "--arg", "1x=2", "--dry-run"],
    "bad_out": ["prog.tsl", "--out", "w=..", "--dry-run"],
    "two_outs": ["prog.tsl", "--out", "a=o.npy", "--out", "b=d/o.npy", "--dry-run"],
    "quotes": ["prog.tsl", "--run-opt", "$(rm -rf /)", "--job-name", "a'b\"c", "--dry-run"],
}


def argv_sets():
    for name, argv in RUN_ARGV.items():
        put("run_args", name, b"\0" + b"\0".join(a.encode() for a in argv))
        put("run_args", "check_" + name, b"\1" + b"\0".join(a.encode() for a in argv))
    for name, argv in SUBMIT_ARGV.items():
        put("submit_args", name, b"\0".join(a.encode() for a in argv))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="lang,npy_header,am_decode,run_args,submit_args")
    a = ap.parse_args()
    only = a.only.split(",")
    if "lang" in only:
        lang()
    if "npy_header" in only:
        npy_header()
    if "am_decode" in only:
        am_decode()
    if "run_args" in only or "submit_args" in only:
        argv_sets()
    return 0


if __name__ == "__main__":
    sys.exit(main())
