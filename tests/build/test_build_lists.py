"""csrc/build.txt, the one list of what _C is compiled from: setup.py and CMakeLists.txt read it and
name no kernel source, flag or GPU architecture of their own."""

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_LISTS = runpy.run_path(str(ROOT / "setup.py"), run_name="metakan_setup")["read_build_lists"]


def test_build_lists_name_every_kernel_source_and_only_existing_files():
    lists = BUILD_LISTS()
    assert set(lists) == {"binding", "cpu_sources", "cuda_sources", "cxx_flags", "nvcc_flags", "cuda_arch_list"}
    sources = lists["binding"] + lists["cpu_sources"] + lists["cuda_sources"]
    assert all((ROOT / source).is_file() for source in sources), sources
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "csrc").rglob("*") if p.suffix in (".cpp", ".cu")}
    assert on_disk - {s for s in on_disk if s.startswith("csrc/tests/")} == set(sources)
    assert "-ffp-contract=off" in lists["cxx_flags"] and "-Xptxas=-v" in lists["nvcc_flags"]
    assert lists["cuda_arch_list"] and all(re.fullmatch(r"\d+\.\d+(\+PTX)?", a) for a in lists["cuda_arch_list"])


def test_setup_and_cmake_take_sources_flags_and_architectures_from_the_lists_only():
    setup, cmake = (ROOT / "setup.py").read_text(), (ROOT / "CMakeLists.txt").read_text()
    for text in (setup, cmake):
        assert not re.search(r"csrc/(cpu|cuda)/\w+\.(cpp|cu)\b|ffp-contract|Xptxas|\b[89]\.?0\b", text)
    assert "Python_add_library" not in cmake and "find_package(Torch" not in cmake  # _C is setup.py's alone


def test_malformed_build_lists_are_refused(tmp_path):
    path = tmp_path / "build.txt"
    path.write_text("# comment\ncpu_sources: a.cpp b.cpp  # trailing\n\nno colon here\n")
    with pytest.raises(RuntimeError, match="build.txt:4: expected 'key: values', got 'no colon here'"):
        BUILD_LISTS(path)
    path.write_text("cpu_sources: a.cpp b.cpp  # trailing\n")
    assert BUILD_LISTS(path) == {"cpu_sources": ["a.cpp", "b.cpp"]}
