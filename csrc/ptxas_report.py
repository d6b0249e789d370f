"""One line per compiled CUDA kernel from the ``ptxas -v`` lines of a build log: registers, static
shared memory, stack and spills. Exits with status 1 if a kernel spills registers.

usage: python csrc/ptxas_report.py build/native-build.log
"""

import re
import shutil
import subprocess
import sys

ENTRY = re.compile(r"Compiling entry function '(\S+)' for '(sm_\d+a?)'")
STACK = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
USED = re.compile(r"Used (\d+) registers(?:.*?(\d+) bytes smem)?")


def demangle(names):
    if not names or shutil.which("c++filt") is None:
        return names
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    return [re.sub(r"^void |\(.*$|metakan::cuda::\(anonymous namespace\)::", "", line) for line in out.splitlines()]


def kernels(log: str):
    """(name, arch, registers, static smem bytes, stack bytes, spill store bytes, spill load bytes) per kernel."""
    rows, current = [], None
    for line in log.splitlines():
        if m := ENTRY.search(line):
            current = [m.group(1), m.group(2), 0, 0, 0, 0, 0]
            rows.append(current)
        elif current and (m := STACK.search(line)):
            current[4:7] = [int(v) for v in m.groups()]
        elif current and (m := USED.search(line)):
            current[2], current[3] = int(m.group(1)), int(m.group(2) or 0)
    names = demangle([row[0] for row in rows])
    return [(name, *row[1:]) for name, row in zip(names, rows)]


def main(path: str) -> int:
    with open(path, errors="replace") as f:
        rows = kernels(f.read())
    if not rows:
        print(f"{path}: no CUDA kernel was (re)compiled in this build")
        return 0
    print("CUDA kernels (ptxas -v; the fused kernels' tiles use dynamic shared memory, not shown here):")
    for name, arch, regs, smem, stack, spill_st, spill_ld in sorted(set(rows)):
        print(f"  {arch} {name}: {regs} registers, {smem} B static smem, {stack} B stack, "
              f"{spill_st} B spill stores, {spill_ld} B spill loads")
    spilled = [row for row in rows if row[5] or row[6]]
    if spilled:
        print(f"error: {len(spilled)} kernel(s) spill registers", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
