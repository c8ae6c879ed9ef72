"""The examples of docs/language.md: a fenced ```tsl block whose first line is
`; example: NAME`, followed (blank lines allowed) by a fenced ```output block
holding exactly what the program prints on stdout."""
import re
from dataclasses import dataclass

_PAIR = re.compile(r"^```tsl\n(?P<tsl>.*?)^```\n(?:[ \t]*\n)*^```output\n(?P<out>.*?)^```$",
                   re.S | re.M)
_NAME = re.compile(r"^;\s*example:\s*(\S+)\s*$")


@dataclass
class Example:
    name: str
    line: int       # of the ```tsl fence, from 1
    tsl: str
    output: str
    out_start: int  # offsets of the output body in the doc's text
    out_end: int


def extract(text):
    """Every tsl/output pair, in order. A ```tsl block without an output
    block after it, or without its `; example:` line, is an error: every
    example in the doc is run."""
    found = []
    for m in _PAIR.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        first = m.group("tsl").split("\n", 1)[0]
        nm = _NAME.match(first)
        if not nm:
            raise ValueError(f"line {line}: a ```tsl example must start with '; example: NAME'")
        found.append(Example(nm.group(1), line, m.group("tsl"), m.group("out"),
                             m.start("out"), m.end("out")))
    fences = len(re.findall(r"^```tsl$", text, re.M))
    if fences != len(found):
        paired = {e.line for e in found}
        lone = [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"^```tsl$", text, re.M)
                if text.count("\n", 0, m.start()) + 1 not in paired]
        raise ValueError(f"```tsl blocks without an ```output block after them at lines {lone}")
    names = [e.name for e in found]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ValueError(f"example names used twice: {dups}")
    return found


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|;[^\n]*|[()]|[^\s()";]+')


def called_names(tsl):
    """Names in call position: the symbol right after each '('."""
    names, prev = set(), None
    for tok in _TOKEN.findall(tsl):
        if tok.startswith(";"):
            continue
        if prev == "(" and tok not in "()" and not tok.startswith('"'):
            names.add(tok)
        prev = tok
    return names
