"""Build script: the ``metakan_kernels`` and ``metakan`` packages and the compiled ``metakan_kernels._C``.

``_C`` always holds the fused C++ kernels, and the CUDA kernels when torch has CUDA, nvcc is found
and a GPU is present. Switches: ``METAKAN_SKIP_CUDA_BUILD=1`` (C++ only), ``METAKAN_FORCE_CUDA_BUILD=1``
(CUDA without a GPU), ``TORCH_CUDA_ARCH_LIST`` (default "8.0;9.0+PTX"), ``MAX_JOBS``, ``CUDA_HOME``.
The build uses the installed torch: ``pip install --no-build-isolation``.
"""

import os
import sys
from pathlib import Path

from setuptools import find_packages, setup

# Commands that only need metadata do not import torch.
METADATA_COMMANDS = {"egg_info", "dist_info", "sdist", "--name", "--version", "--help", "clean"}
CXX_FLAGS = ["-O3", "-fopenmp", "-ffp-contract=off"]
NVCC_FLAGS = ["-O3", "-Xptxas=-v", "-lineinfo"]
CUDA_SOURCES = ["csrc/cuda/forward.cu", "csrc/cuda/backward_input.cu", "csrc/cuda/backward_params.cu"]


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
    sources = ["csrc/binding.cpp", "csrc/cpu/kernels.cpp"]
    if not _build_cuda(torch, cpp_extension):
        extension = cpp_extension.CppExtension(
            "metakan_kernels._C", sources, extra_compile_args={"cxx": CXX_FLAGS}, extra_link_args=["-fopenmp"]
        )
    else:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0+PTX")
        # pip's CUDA toolkit keeps the library headers (cuBLAS, cuSPARSE) that ATen's CUDA headers include.
        major = torch.version.cuda.split(".")[0]
        wheel_headers = Path(torch.__file__).resolve().parents[1] / "nvidia" / f"cu{major}" / "include"
        extension = cpp_extension.CUDAExtension(
            "metakan_kernels._C", sources + CUDA_SOURCES,
            include_dirs=[str(wheel_headers)] if wheel_headers.is_dir() else [],
            extra_compile_args={"cxx": CXX_FLAGS + ["-DMETAKAN_WITH_CUDA"], "nvcc": NVCC_FLAGS},
            extra_link_args=["-fopenmp"],
        )
    return [extension], {"build_ext": cpp_extension.BuildExtension}


ext_modules, cmdclass = ([], {}) if METADATA_COMMANDS & set(sys.argv[1:]) else native_build()

setup(
    packages=find_packages(include=["metakan_kernels", "metakan_kernels.*"])
    + find_packages("python", include=["metakan", "metakan.*"]),
    package_dir={"metakan": "python/metakan"},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
