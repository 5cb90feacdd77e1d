#!/usr/bin/env python3
"""Fails when a C example quoted in README.md differs from its file, or
when a document holds what a merge left behind.

README.md marks each quoted example with a line
    <!-- example: examples/NAME.c -->
followed by a ```c fenced block holding the file's exact text. The example
file itself is compiled and run by its own test, so the README's code is
proven to build and work.

The documents (README.md, BENCHMARKS.md, docs/*.md) must not hold merge
conflict markers or @@NAME@@ placeholders (a merge once left three README
sections as placeholders, and no test saw it)."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
readme = (root / "README.md").read_text()
blocks = re.findall(r"<!-- example: (\S+) -->\s*```c\n(.*?)```", readme, re.S)
if not blocks:
    print("README.md quotes no example (expected '<!-- example: examples/NAME.c -->')")
    sys.exit(1)
failed = 0
for path, code in blocks:
    text = (root / path).read_text()
    if code != text:
        failed += 1
        print(f"README.md's copy of {path} differs from the file: update one or the other")
docs = [root / "README.md", root / "BENCHMARKS.md"] + sorted((root / "docs").glob("*.md"))
leftover = re.compile(r"^(<{7}|>{7})( |$)|@@[A-Z_]+@@", re.M)  # not =======: a heading underline
for doc in docs:
    text = doc.read_text()
    for m in leftover.finditer(text):
        failed += 1
        line = text.count("\n", 0, m.start()) + 1
        print(f"{doc.relative_to(root)}:{line}: merge leftover {m.group(0)!r}: resolve it")
print(f"readme_sync: {len(blocks) + len(docs) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
