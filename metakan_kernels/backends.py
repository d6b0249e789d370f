"""Backend registry: which implementations exist, which are usable here, and what ``auto`` picks."""

from __future__ import annotations

import importlib
import logging
from typing import Callable, Dict, List, NamedTuple, Optional

import torch

from . import reference
from .spec import SplineSpec, make_spec

logger = logging.getLogger("metakan_kernels")


class CallSizes(NamedTuple):
    """Sizes of one call, for backends whose tiles or index arithmetic have limits."""

    batch: int
    in_features: int
    out_features: int
    embedding_dim: int = 0  # 0 for kan_linear
    hidden_dim: int = 0


def knots_or_uniform(x: torch.Tensor, spec: SplineSpec, grid: Optional[torch.Tensor]) -> torch.Tensor:
    """The per-feature knots of a call: ``grid`` when given, else the uniform ones, (I, G + 2k + 1)."""
    if grid is not None:
        return grid
    return reference.uniform_knots(
        x.shape[-1], spec.grid_size, spec.spline_order, (spec.lo, spec.hi), dtype=x.dtype, device=x.device
    )


class Backend:
    """One implementation of both ops, on 2-D inputs.

    Subclasses implement ``kan_linear(x, coef, base_weight, spec, grid)`` and
    ``metakan_linear(x, embedding, w1, b1, w2, b2, spec, grid, meta_activation)`` for
    x: (B, I), returning (B, O); arguments have been checked by the public ops already.
    """

    name: str = ""
    device_types: tuple = ()

    def unsupported(
        self, device: torch.device, dtype: torch.dtype, spec: SplineSpec, meta_activation: str, sizes: CallSizes
    ) -> Optional[str]:
        """Why this backend cannot run this call (None when it can)."""
        if device.type not in self.device_types:
            return f"runs on {'/'.join(self.device_types)} tensors, got a {device.type} tensor"
        return None

    def kan_linear(self, x, coef, base_weight, spec: SplineSpec, grid, coef_scale=None):
        raise NotImplementedError

    def metakan_linear(self, x, embedding, w1, b1, w2, b2, spec: SplineSpec, grid, meta_activation):
        raise NotImplementedError


class ReferenceBackend(Backend):
    """Pure PyTorch, materializing; any device, any float dtype, differentiable to any order."""

    name = "reference"

    def unsupported(self, device, dtype, spec, meta_activation, sizes):
        return None

    def kan_linear(self, x, coef, base_weight, spec, grid, coef_scale=None):
        knots = knots_or_uniform(x, spec, grid)
        return reference.kan_linear_ref(x, coef, base_weight, knots, spec.spline_order, coef_scale)

    def metakan_linear(self, x, embedding, w1, b1, w2, b2, spec, grid, meta_activation):
        knots = knots_or_uniform(x, spec, grid)
        return reference.metakan_linear_ref(
            x, embedding, w1, b1, w2, b2, knots, spec.spline_order, meta_activation
        )


class BackendUnavailable(RuntimeError):
    """A backend was asked for by name but cannot run here; the message says how to get it."""


_LOADERS: Dict[str, Callable[[], Backend]] = {}
_DESCRIPTIONS: Dict[str, str] = {}
_HOW_TO_GET: Dict[str, str] = {}
# device type -> backend names in order of preference for "auto"
_AUTO_ORDER: Dict[str, List[str]] = {}

_loaded: Dict[str, Backend] = {}
_load_errors: Dict[str, str] = {}
_logged: set = set()


def register_backend(
    name: str,
    loader: Callable[[], Backend],
    description: str,
    how_to_get: str = "",
    auto_for: Optional[Dict[str, int]] = None,
) -> None:
    """Declare a backend. ``loader`` imports it lazily and raises ImportError (or RuntimeError) when
    it cannot run here, ``how_to_get`` tells users what to install or build, and ``auto_for`` maps
    a device type to the backend's place in ``auto``'s order of preference there."""
    _LOADERS[name] = loader
    _DESCRIPTIONS[name] = description
    _HOW_TO_GET[name] = how_to_get
    for device_type, priority in (auto_for or {}).items():
        order = _AUTO_ORDER.setdefault(device_type, [])
        order.insert(min(priority, len(order)), name)


def lazy_loader(module: str, attribute: str) -> Callable[[], Backend]:
    """A loader that imports ``module`` and returns its ``attribute``."""

    def load() -> Backend:
        return getattr(importlib.import_module(module), attribute)

    return load


def _load(name: str) -> Optional[Backend]:
    if name not in _loaded and name not in _load_errors:
        try:
            _loaded[name] = _LOADERS[name]()
        except (ImportError, OSError, RuntimeError) as err:
            how = _HOW_TO_GET[name]
            _load_errors[name] = f"{err}; {how}" if how else str(err)
    return _loaded.get(name)


@torch.compiler.assume_constant_result
def _load_all() -> tuple:
    """Import every backend now. torch.compile runs this for real while tracing (it imports modules,
    which it cannot trace), so the registry is complete before the traced code reads it."""
    return tuple(name for name in _LOADERS if _load(name) is not None)


def known_backends() -> List[str]:
    """Every backend name this version of metakan knows, usable here or not."""
    return list(_LOADERS)


def available_backends() -> List[str]:
    """The backends that can run in this installation, e.g. ``["reference", "triton", "cpu"]``."""
    return [name for name in _LOADERS if _load(name) is not None]


def _describe_known() -> str:
    lines = []
    for name in _LOADERS:
        status = "available" if _load(name) is not None else f"not available: {_load_errors[name]}"
        lines.append(f"  {name}: {_DESCRIPTIONS[name]} ({status})")
    return "\n".join(lines)


def get_backend(name: str) -> Backend:
    """The backend called ``name``, or an error that lists the known ones and how to get them."""
    if not isinstance(name, str) or name not in _LOADERS:
        raise ValueError(f"unknown backend {name!r}; the backends are 'auto' and:\n{_describe_known()}")
    backend = _load(name)
    if backend is None:
        raise BackendUnavailable(f"backend {name!r} is not available: {_load_errors[name]}")
    return backend


def select_backend(
    name: str,
    device: torch.device,
    dtype: torch.dtype,
    spec: SplineSpec,
    meta_activation: str,
    sizes: CallSizes,
) -> Backend:
    """Resolve ``name`` (or ``"auto"``) for one call; an explicit name must be able to run it."""
    if torch.compiler.is_compiling():
        _load_all()
    if name != "auto":
        backend = get_backend(name)
        reason = backend.unsupported(device, dtype, spec, meta_activation, sizes)
        if reason is not None:
            raise ValueError(f"backend {name!r} cannot run this call: {reason}")
        return backend
    skipped = []
    for candidate in _AUTO_ORDER.get(device.type, []) + ["reference"]:
        backend = _load(candidate)
        if backend is None:
            skipped.append(f"{candidate} ({_load_errors[candidate]})")
            continue
        reason = backend.unsupported(device, dtype, spec, meta_activation, sizes)
        if reason is None:
            _log_choice(device, backend.name, skipped)
            return backend
        skipped.append(f"{candidate} ({reason})")
    raise AssertionError("the reference backend runs everywhere")  # pragma: no cover


def _log_choice(device: torch.device, chosen: str, skipped: List[str]) -> None:
    if torch.compiler.is_compiling():  # logged by the eager calls; nothing to trace
        return
    key = (device.type, chosen, tuple(skipped))
    if key in _logged:
        return
    _logged.add(key)
    if skipped:
        logger.info("backend='auto' on %s uses %s; passed over: %s", device.type, chosen, "; ".join(skipped))
    else:
        logger.info("backend='auto' on %s uses %s", device.type, chosen)


def resolve_backend(
    name: str,
    device,
    dtype: torch.dtype = torch.float32,
    *,
    grid_size: int = 5,
    spline_order: int = 3,
    grid_range=(-1.0, 1.0),
    meta_activation: str = "relu",
    sizes: CallSizes = CallSizes(1024, 256, 256, 1, 32),
) -> str:
    """The name of the backend that ``name`` (e.g. ``"auto"``) picks for a call of these settings."""
    spec = make_spec(grid_size, spline_order, grid_range)
    return select_backend(name, torch.device(device), dtype, spec, meta_activation, sizes).name


register_backend("reference", ReferenceBackend, "pure PyTorch, materializing (the oracle)")
register_backend(
    "triton", lazy_loader("metakan_kernels.triton", "BACKEND"),
    "fused Triton kernels (CUDA tensors; CPU tensors under TRITON_INTERPRET=1)",
    "install Triton (pip install triton) and run on a CUDA GPU, or set TRITON_INTERPRET=1 before "
    "importing metakan_kernels to run it on CPU tensors (slowly)",
    auto_for={"cuda": 0},
)
register_backend(
    "cpu", lazy_loader("metakan_kernels.native", "CPU_BACKEND"), "fused C++/OpenMP kernels (compiled extension)",
    "build the compiled extension: pip install -e . --no-build-isolation (needs a C++ compiler)",
    auto_for={"cpu": 0},
)
register_backend(
    "cuda", lazy_loader("metakan_kernels.native", "CUDA_BACKEND"), "fused CUDA C++ kernels (compiled extension)",
    "build the compiled extension with CUDA: install a CUDA build of torch and nvcc, then "
    "pip install -e . --no-build-isolation (METAKAN_FORCE_CUDA_BUILD=1 builds it without a GPU present)",
    auto_for={"cuda": 1},
)
