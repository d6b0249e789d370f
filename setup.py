"""Build script: installs the ``metakan_kernels`` (ops) and ``metakan`` (python/metakan) packages."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["metakan_kernels", "metakan_kernels.*"])
    + find_packages("python", include=["metakan", "metakan.*"]),
    package_dir={"metakan": "python/metakan"},
)
