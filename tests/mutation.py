"""A mutation check: applies each listed change to the sources, one at a time, runs a test subset and reports
whether a test failed (killed) or all passed (survived); the subset must pass on the unchanged sources first. Run from the repository root:

    python tests/mutation.py [--only NAME ...] [--list] [-- PYTEST ARGS]

A change to csrc/ rebuilds the compiled extension in place (METAKAN_SKIP_CUDA_BUILD=1, the CPU kernels
only) before its tests and once more at the end, from the restored sources. Every file is restored
even when the run is interrupted. See tests/README.md for the last score.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List, NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Mutant(NamedTuple):
    name: str
    path: str  # relative to the repository root
    before: str  # occurs exactly once in the file
    after: str


MUTANTS = [
    # The reference's Cox–de Boor recursion on half-open intervals [t_j, t_{j+1}).
    Mutant("reference: intervals closed at the right", "metakan_kernels/reference.py",
           "(xs < knots[:, 1:])", "(xs <= knots[:, 1:])"),
    Mutant("reference: intervals open at the left", "metakan_kernels/reference.py",
           "(xs >= knots[:, :-1])", "(xs > knots[:, :-1])"),
    Mutant("reference: span open at the left", "metakan_kernels/reference.py",
           "(xe >= knots[:, :1])", "(xe > knots[:, :1])"),
    Mutant("reference: coef_scale ignored", "metakan_kernels/reference.py",
           "coef = coef * coef_scale.unsqueeze(-1)", "coef = coef"),
    Mutant("reference: right term of the recursion dropped", "metakan_kernels/reference.py",
           "bases = left * bases[..., :-1] + right * bases[..., 1:]", "bases = left * bases[..., :-1]"),
    # The C++ knot search: which interval an input on a knot falls into.
    Mutant("C++: per-feature knots, intervals closed at the right", "csrc/metakan/spline.h",
           "if (x >= A(row[mid])) {", "if (x > A(row[mid])) {"),
    Mutant("C++: per-feature knots, span closed at the right", "csrc/metakan/spline.h",
           "if (!(x >= A(row[0]) && x < A(row[last]))) return -1;",
           "if (!(x >= A(row[0]) && x <= A(row[last]))) return -1;"),
    Mutant("C++: uniform knots, intervals closed at the right", "csrc/metakan/spline.h",
           "if (x < knot(s)) {", "if (x <= knot(s)) {"),
    # The CPU meta-learner's gradients, summed over steps, tasks and groups.
    Mutant("C++: dw2 not summed over steps and tasks", "csrc/cpu/kernels.cpp",
           "dw2[k] += s.share[k];", "dw2[k] = s.share[k];"),
    Mutant("C++: dw1 not summed over steps and tasks", "csrc/cpu/kernels.cpp",
           "dw1[k] += s.share[k];", "dw1[k] = s.share[k];"),
    Mutant("C++: db2 not summed over edges", "csrc/cpu/kernels.cpp",
           "db2[m] += dw[e * width_ + m];", "db2[m] = dw[e * width_ + m];"),
    Mutant("C++: db1 not summed over edges", "csrc/cpu/kernels.cpp",
           "db1[h] += g[h];", "db1[h] = g[h];"),
    Mutant("C++: groups not summed", "csrc/cpu/kernels.cpp",
           "sum += partial[g * count + offset + k];", "sum = partial[g * count + offset + k];"),
    Mutant("C++: forward not summed over input tiles", "csrc/cpu/kernels.cpp",
           "const T beta = i0 == 0 ? T(0) : T(1);", "const T beta = T(0);"),
    Mutant("C++: parameter gradients not summed over batch steps", "csrc/cpu/kernels.cpp",
           "cols, b0 == 0 ? T(0) : T(1), scratch.grad.data(), cols);", "cols, T(0), scratch.grad.data(), cols);"),
]

# The op tests of the reference and the cpu backend (Triton's interpreter is too slow to rerun per mutant).
DEFAULT_TESTS = ["tests/ops/test_reference.py", "tests/ops/test_on_knots.py", "tests/ops/test_kan_linear.py",
                 "tests/ops/test_metakan_linear.py", "tests/ops/test_properties.py",
                 "-k", "not triton and not compile"]


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "python")]), METAKAN_SKIP_CUDA_BUILD="1")


def _build() -> None:
    done = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the build failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def _run_tests(pytest_args: List[str]) -> int:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *pytest_args]
    return subprocess.run(command, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def run(mutant: Mutant, pytest_args: List[str]) -> str:
    """'killed', 'survived' or 'broken' (the build failed: not a test's merit) for one mutant."""
    path = ROOT / mutant.path
    source = path.read_text()
    if source.count(mutant.before) != 1:
        raise ValueError(f"{mutant.name}: {mutant.before!r} occurs {source.count(mutant.before)} times in {mutant.path}")
    native = mutant.path.startswith("csrc/")
    try:
        path.write_text(source.replace(mutant.before, mutant.after))
        if native:
            try:
                _build()
            except RuntimeError:
                return "broken"
        code = _run_tests(pytest_args)
    finally:
        path.write_text(source)
    if code in (0, 1):
        return "survived" if code == 0 else "killed"
    raise RuntimeError(f"{mutant.name}: pytest exited with {code} (no tests collected, or a usage error)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="mutants whose name contains one of these")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("pytest_args", nargs="*", help=f"the tests to run (default: {' '.join(DEFAULT_TESTS)})")
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or any(s in m.name for s in args.only)]
    if args.list:
        print("\n".join(m.name for m in mutants))
        return 0
    pytest_args = args.pytest_args or DEFAULT_TESTS
    if _run_tests(pytest_args) != 0:
        print("the tests fail on the unchanged sources: no mutant can be scored", file=sys.stderr)
        return 2
    results = {}
    try:
        for mutant in mutants:
            start = time.monotonic()
            results[mutant.name] = run(mutant, pytest_args)
            print(f"{results[mutant.name]:8s} {mutant.name} ({time.monotonic() - start:.0f} s)", flush=True)
    finally:
        if any(m.path.startswith("csrc/") for m in mutants):
            _build()  # the restored sources
    killed = sum(r == "killed" for r in results.values())
    scored = sum(r != "broken" for r in results.values())
    print(f"{killed} of {scored} mutants killed")
    return 0 if killed == scored else 1


if __name__ == "__main__":
    sys.exit(main())
