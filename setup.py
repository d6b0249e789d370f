"""Build script: the ``metakan_kernels`` and ``metakan`` packages and the compiled ``metakan_kernels._C``.

This is the one build description of ``_C``: its sources, flags and default GPU architectures come
from ``csrc/build.txt`` (which CMakeLists.txt reads for the ctest programs). ``_C`` always holds the
fused C++ kernels, and the CUDA kernels when torch has CUDA, nvcc is found and a GPU is present.
It uses only torch's stable ABI (targeting torch 2.10) and Python's limited API (3.10), so that one
build loads into every torch >= 2.10 and every CPython >= 3.10: an abi3 wheel.
Switches: ``METAKAN_SKIP_CUDA_BUILD=1`` (C++ only), ``METAKAN_FORCE_CUDA_BUILD=1`` (CUDA without a
GPU), ``METAKAN_SKIP_NATIVE_BUILD=1`` (no ``_C`` at all: the Makefile's editable install, after which
it builds ``_C`` in place), ``TORCH_CUDA_ARCH_LIST`` (default: build.txt's), ``MAX_JOBS``, ``CUDA_HOME``.
The build uses the installed torch: ``pip install --no-build-isolation``.
"""

import os
import sys
from pathlib import Path

from setuptools import find_packages, setup

# The oldest CPython whose limited API _C uses (as torch.utils.cpp_extension defines Py_LIMITED_API).
LIMITED_API_TAG = "cp310"

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
            "metakan_kernels._C", sources, extra_compile_args={"cxx": cxx_flags}, extra_link_args=["-fopenmp"],
            py_limited_api=True,
        )
    else:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", ";".join(lists["cuda_arch_list"]))
        extension = cpp_extension.CUDAExtension(
            "metakan_kernels._C", sources + lists["cuda_sources"],
            extra_compile_args={"cxx": cxx_flags + ["-DMETAKAN_WITH_CUDA"], "nvcc": lists["nvcc_flags"]},
            extra_link_args=["-fopenmp"], py_limited_api=True,
        )
        # The CUDA runtime linked in, not loaded: a torch built for another CUDA major version (torch 2.10
        # on CUDA 12, say) ships another libcudart soname.
        extension.libraries = ["cudart_static" if lib == "cudart" else lib for lib in extension.libraries]
    return [extension], {"build_ext": _build_ext(cpp_extension.BuildExtension)}


def _build_ext(base):
    """torch's build command, which first removes in-place builds of ``_C`` under another name.

    Python imports ``_C.cpython-311-x86_64-linux-gnu.so`` before ``_C.abi3.so``: a leftover of an older
    build would hide the new one.
    """

    class BuildExt(base):
        def copy_extensions_to_source(self):
            for ext in self.extensions:
                built = Path(self.get_ext_filename(ext.name))
                package_dir = Path(__file__).resolve().parent.joinpath(*ext.name.split(".")[:-1])
                for stale in package_dir.glob(built.name.split(".")[0] + ".*.so"):
                    if stale.name != built.name:
                        stale.unlink()
            super().copy_extensions_to_source()

    return BuildExt


def main() -> None:
    metadata_only = METADATA_COMMANDS & set(sys.argv[1:]) or _switch("METAKAN_SKIP_NATIVE_BUILD")
    ext_modules, cmdclass = ([], {}) if metadata_only else native_build()
    setup(
        packages=find_packages(include=["metakan_kernels", "metakan_kernels.*"])
        + find_packages("python", include=["metakan", "metakan.*"]),
        package_dir={"metakan": "python/metakan"},
        ext_modules=ext_modules,
        cmdclass=cmdclass,
        options={"bdist_wheel": {"py_limited_api": LIMITED_API_TAG}},
    )


# pip, setuptools' build backend and `python setup.py` all run this file as __main__; the tests load
# it under another name for read_build_lists.
if __name__ == "__main__":
    main()
