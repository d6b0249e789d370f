"""Build script: the ``metakan_kernels`` and ``metakan`` packages and the compiled ``metakan_kernels._C``.

This is the one build description of ``_C``: its sources, flags and default GPU architectures come
from ``csrc/build.txt`` (which CMakeLists.txt reads for the ctest programs). ``_C`` always holds the
fused C++ kernels, and the CUDA kernels when torch has CUDA, nvcc is found and a GPU is present.
Switches: ``METAKAN_SKIP_CUDA_BUILD=1`` (C++ only), ``METAKAN_FORCE_CUDA_BUILD=1`` (CUDA without a
GPU), ``METAKAN_SKIP_NATIVE_BUILD=1`` (no ``_C`` at all: the Makefile's editable install, after which
it builds ``_C`` in place), ``TORCH_CUDA_ARCH_LIST`` (default: build.txt's), ``MAX_JOBS``, ``CUDA_HOME``.
The build uses the installed torch: ``pip install --no-build-isolation``.
"""

import os
import sys
from pathlib import Path

from setuptools import find_packages, setup

# Commands that only need metadata do not import torch.
METADATA_COMMANDS = {"egg_info", "dist_info", "sdist", "--name", "--version", "--help", "clean"}
BUILD_LISTS = Path(__file__).resolve().parent / "csrc" / "build.txt"


def read_build_lists(path: Path = BUILD_LISTS) -> dict:
    """``csrc/build.txt`` as {key: [values]}: one "key: values" per line, ``#`` comments."""
    lists = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, colon, values = line.partition(":")
        if not colon or not key.strip().isidentifier():
            raise RuntimeError(f"{path}:{number}: expected 'key: values', got {line!r}")
        lists[key.strip()] = values.split()
    return lists


def _switch(name: str) -> bool:
    return os.environ.get(name, "0") == "1"


def _build_cuda(torch, cpp_extension) -> bool:
    if _switch("METAKAN_SKIP_CUDA_BUILD"):
        return False
    home = cpp_extension.CUDA_HOME
    toolkit = torch.version.cuda is not None and home is not None and Path(home, "bin", "nvcc").exists()
    if _switch("METAKAN_FORCE_CUDA_BUILD"):
        if not toolkit:
            raise RuntimeError(
                "METAKAN_FORCE_CUDA_BUILD=1 needs a CUDA build of torch and nvcc under CUDA_HOME "
                f"(torch.version.cuda={torch.version.cuda}, CUDA_HOME={home})"
            )
        return True
    return toolkit and torch.cuda.is_available()


def native_build():
    """The ``_C`` extension and the build command that compiles it."""
    try:
        import torch
        from torch.utils import cpp_extension
    except ImportError:
        sys.exit("metakan builds its kernels against the installed torch: pip install torch first, then "
                 "pip install --no-build-isolation .")
    lists = read_build_lists()
    sources = lists["binding"] + lists["cpu_sources"]
    cxx_flags = lists["cxx_flags"] + ["-fopenmp"]
    if not _build_cuda(torch, cpp_extension):
        extension = cpp_extension.CppExtension(
            "metakan_kernels._C", sources, extra_compile_args={"cxx": cxx_flags}, extra_link_args=["-fopenmp"]
        )
    else:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", ";".join(lists["cuda_arch_list"]))
        # pip's CUDA toolkit keeps the library headers (cuBLAS, cuSPARSE) that ATen's CUDA headers include.
        major = torch.version.cuda.split(".")[0]
        wheel_headers = Path(torch.__file__).resolve().parents[1] / "nvidia" / f"cu{major}" / "include"
        extension = cpp_extension.CUDAExtension(
            "metakan_kernels._C", sources + lists["cuda_sources"],
            include_dirs=[str(wheel_headers)] if wheel_headers.is_dir() else [],
            extra_compile_args={"cxx": cxx_flags + ["-DMETAKAN_WITH_CUDA"], "nvcc": lists["nvcc_flags"]},
            extra_link_args=["-fopenmp"],
        )
    return [extension], {"build_ext": cpp_extension.BuildExtension}


def main() -> None:
    metadata_only = METADATA_COMMANDS & set(sys.argv[1:]) or _switch("METAKAN_SKIP_NATIVE_BUILD")
    ext_modules, cmdclass = ([], {}) if metadata_only else native_build()
    setup(
        packages=find_packages(include=["metakan_kernels", "metakan_kernels.*"])
        + find_packages("python", include=["metakan", "metakan.*"]),
        package_dir={"metakan": "python/metakan"},
        ext_modules=ext_modules,
        cmdclass=cmdclass,
    )


# pip, setuptools' build backend and `python setup.py` all run this file as __main__; the tests load
# it under another name for read_build_lists.
if __name__ == "__main__":
    main()
