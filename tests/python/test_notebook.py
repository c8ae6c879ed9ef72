#!/usr/bin/python3
"""Execute examples/logreg.ipynb with `jupyter nbconvert --to notebook --execute`
(Debian: jupyter-nbconvert, python3-nbconvert, python3-ipykernel) and check its
outputs: no cell raised (the notebook itself asserts Tessera's weights against
numpy's at 1, 2 and 4 ranks), the comparison printed OK, the unsupported
construct gave a TranspileError, and the trace plot is an image.

--mutate 'OLD=>NEW' --expect-failure runs a copy of the notebook with OLD
replaced by NEW in its code and passes only if the execution fails (a planted
wrong answer must be caught).

Exit 0 pass, 1 fail. Needs the tessera build (TESSERA_EXE, or the checkout's
build/apps/tessera found by the runtime).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NOTEBOOK = os.path.join(ROOT, 'examples', 'logreg.ipynb')


def fail(msg):
    print('FAIL:', msg)
    sys.exit(1)


def nbconvert_cmd():
    exe = shutil.which('jupyter-nbconvert', path='/usr/bin') or shutil.which('jupyter-nbconvert')
    if exe:
        return [exe]
    try:
        import nbconvert  # noqa: F401
        import ipykernel  # noqa: F401
    except ImportError as e:
        fail('%s: install Debian jupyter-nbconvert python3-nbconvert python3-ipykernel '
             '(scripts/install-deps)' % e)
    return ['/usr/bin/python3', '-m', 'nbconvert']


def outputs_text(nb):
    texts, images = [], 0
    for cell in nb['cells']:
        for o in cell.get('outputs', []):
            if o.get('output_type') == 'error':
                texts.append('%s: %s' % (o.get('ename'), o.get('evalue')))
            t = o.get('text')
            if t:
                texts.append(''.join(t) if isinstance(t, list) else t)
            data = o.get('data', {})
            if 'image/png' in data:
                images += 1
            if 'text/plain' in data:
                v = data['text/plain']
                texts.append(''.join(v) if isinstance(v, list) else v)
    return '\n'.join(texts), images


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument('--notebook', default=NOTEBOOK)
    ap.add_argument('--mutate', help="'OLD=>NEW': plant a change in the notebook's code")
    ap.add_argument('--expect-failure', action='store_true')
    ap.add_argument('--timeout', type=int, default=240, help='per cell, seconds')
    ap.add_argument('--keep', help='copy the executed notebook here')
    a = ap.parse_args()

    env = dict(os.environ)
    env['PYTHONPATH'] = os.path.join(ROOT, 'python') + (
        os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
    env.setdefault('PYDEVD_DISABLE_FILE_VALIDATION', '1')   # debugpy's frozen-modules note
    env.setdefault('MPLBACKEND', 'Agg')
    env.setdefault('OPENBLAS_NUM_THREADS', '1')
    env.setdefault('TSR_THREADS', '1')

    with tempfile.TemporaryDirectory(prefix='tsr-nb-') as tmp:
        env['JUPYTER_RUNTIME_DIR'] = os.path.join(tmp, 'runtime')
        env['TMPDIR'] = tmp                    # job dirs and traces of the run land here too
        src = a.notebook
        if a.mutate:
            old, sep, new = a.mutate.partition('=>')
            if not sep:
                fail('--mutate wants OLD=>NEW')
            with open(src) as f:
                nb = json.load(f)
            hits = 0
            for cell in nb['cells']:
                if cell['cell_type'] != 'code':
                    continue
                text = ''.join(cell['source'])
                hits += text.count(old)
                cell['source'] = text.replace(old, new)
            if hits == 0:
                fail('--mutate: %r is not in the notebook' % old)
            src = os.path.join(tmp, 'mutated.ipynb')
            with open(src, 'w') as f:
                json.dump(nb, f)
        out = os.path.join(tmp, 'executed.ipynb')
        cmd = nbconvert_cmd() + ['--to', 'notebook', '--execute', src, '--output', out,
                                 '--ExecutePreprocessor.timeout=%d' % a.timeout,
                                 '--ExecutePreprocessor.kernel_name=python3']
        # the kernel runs in the notebook's directory (examples/ for the real one)
        p = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
        log = p.stdout
        if a.expect_failure:
            if p.returncode == 0:
                fail('the planted change %r was not caught: the notebook ran through' % a.mutate)
            print('ok: planted change %r made the notebook fail' % a.mutate)
            tail = [l for l in log.splitlines() if 'Error' in l][-3:]
            print('\n'.join(tail))
            return 0
        if p.returncode != 0:
            print(log[-6000:])
            fail('nbconvert --execute exited %d' % p.returncode)
        with open(out) as f:
            nb = json.load(f)
        if a.keep:
            shutil.copy(out, a.keep)
        text, images = outputs_text(nb)
        checks = [
            ('OK: same weights and accuracy' in text, 'Tessera vs numpy comparison printed OK'),
            ('1 rank(s): accuracy' in text and '4 rank(s): accuracy' in text, '1 and 4 ranks ran'),
            ('TranspileError:' in text and 'not supported' in text, 'unsupported construct refused'),
            ('(define (main X y alpha iters)' in text, 'f.source shown'),
            ('trace:' in text, 'trace path printed'),
            (images >= 1, 'trace plot drawn (image/png output)'),
            ('error' not in [o.get('output_type') for c in nb['cells'] for o in c.get('outputs', [])],
             'no cell raised'),
        ]
        bad = [what for ok, what in checks if not ok]
        for ok, what in checks:
            print('%s: %s' % ('ok' if ok else 'FAIL', what))
        if bad:
            print(text[-4000:])
            fail('; '.join(bad))
    print('PASS: examples/logreg.ipynb executed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
