"""Backend table: which implementations exist, which are usable here, and what ``auto`` picks.

Every backend is imported here, once, with a plain import: a backend that cannot run here raises
ImportError (or OSError/RuntimeError) while it loads, and its reason is kept for error messages.
"""

from __future__ import annotations

import logging
from typing import Dict, List, NamedTuple, Optional

import torch

from .calls import REFERENCE, Backend, CallSizes, knots_or_uniform  # noqa: F401  (CallSizes, knots_or_uniform: re-exported)
from .spec import SplineSpec, make_spec

logger = logging.getLogger("metakan_kernels")


class BackendUnavailable(RuntimeError):
    """A backend was asked for by name but cannot run here; the message says how to get it."""


class Known(NamedTuple):
    """A backend this version knows: what it is and what to do to get it where it is missing."""

    description: str
    how_to_get: str = ""


KNOWN: Dict[str, Known] = {
    "reference": Known("pure PyTorch, materializing (the oracle)"),
    "triton": Known(
        "fused Triton kernels (CUDA tensors; CPU tensors under TRITON_INTERPRET=1)",
        "install Triton (pip install triton) and run on a CUDA GPU, or set TRITON_INTERPRET=1 before "
        "importing metakan_kernels to run it on CPU tensors (slowly)",
    ),
    "cpu": Known(
        "fused C++/OpenMP kernels (compiled extension)",
        "build the compiled extension: pip install -e . --no-build-isolation (needs a C++ compiler)",
    ),
    "cuda": Known(
        "fused CUDA C++ kernels (compiled extension)",
        "build the compiled extension with CUDA: install a CUDA build of torch and nvcc, then "
        "pip install -e . --no-build-isolation (METAKAN_FORCE_CUDA_BUILD=1 builds it without a GPU present)",
    ),
}
# device type -> backend names in order of preference for "auto" (the reference closes every list)
AUTO_ORDER: Dict[str, List[str]] = {"cuda": ["triton", "cuda"], "cpu": ["cpu"]}

_usable: Dict[str, Backend] = {"reference": REFERENCE}
_missing: Dict[str, str] = {}


def _unavailable(name: str, err: object) -> None:
    how = KNOWN[name].how_to_get
    _missing[name] = f"{err}; {how}" if how else str(err)


try:
    from .triton.backend import BACKEND as TRITON_BACKEND
except (ImportError, OSError, RuntimeError) as err:
    _unavailable("triton", err)
else:
    _usable["triton"] = TRITON_BACKEND

try:
    from .native import CPU_BACKEND, CUDA_BACKEND, cuda_unavailable
except (ImportError, OSError, RuntimeError) as err:
    _unavailable("cpu", err)
    _unavailable("cuda", err)
else:
    _usable["cpu"] = CPU_BACKEND
    if cuda_unavailable() is None:
        _usable["cuda"] = CUDA_BACKEND
    else:
        _unavailable("cuda", cuda_unavailable())

_logged: set = set()


def known_backends() -> List[str]:
    """Every backend name this version of metakan knows, usable here or not."""
    return list(KNOWN)


def available_backends() -> List[str]:
    """The backends that can run in this installation, e.g. ``["reference", "triton", "cpu"]``."""
    return [name for name in KNOWN if name in _usable]


def _describe_known() -> str:
    lines = []
    for name, known in KNOWN.items():
        status = "available" if name in _usable else f"not available: {_missing[name]}"
        lines.append(f"  {name}: {known.description} ({status})")
    return "\n".join(lines)


def get_backend(name: str) -> Backend:
    """The backend called ``name``, or an error that lists the known ones and how to get them."""
    if not isinstance(name, str) or name not in KNOWN:
        raise ValueError(f"unknown backend {name!r}; the backends are 'auto' and:\n{_describe_known()}")
    if name not in _usable:
        raise BackendUnavailable(f"backend {name!r} is not available: {_missing[name]}")
    return _usable[name]


def select_backend(name: str, device: torch.device, dtype: torch.dtype, spec: SplineSpec, sizes: CallSizes) -> Backend:
    """Resolve ``name`` (or ``"auto"``) for one call; an explicit name must be able to run it."""
    if name != "auto":
        backend = get_backend(name)
        reason = backend.unsupported(device, dtype, spec, sizes)
        if reason is not None:
            raise ValueError(f"backend {name!r} cannot run this call: {reason}")
        return backend
    skipped = []
    for candidate in AUTO_ORDER.get(device.type, []) + ["reference"]:
        backend = _usable.get(candidate)
        if backend is None:
            skipped.append(f"{candidate} ({_missing[candidate]})")
            continue
        reason = backend.unsupported(device, dtype, spec, sizes)
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


def call_dtype(device_type: str, dtype: torch.dtype) -> torch.dtype:
    """The dtype the kernels see for inputs of ``dtype``: the autocast dtype where autocast is on."""
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return dtype


def resolve_backend(
    name: str,
    device,
    dtype: torch.dtype = torch.float32,
    *,
    grid_size: int = 5,
    spline_order: int = 3,
    grid_range=(-1.0, 1.0),
    sizes: CallSizes = CallSizes(1024, 256, 256, 1, 32),
) -> str:
    """The name of the backend that ``name`` (e.g. ``"auto"``) picks for a call of these settings.

    ``sizes`` are the call's (batch, in_features, out_features[, embedding_dim, hidden_dim]), batch
    counting every leading dimension of x; under ``torch.autocast`` the autocast dtype replaces ``dtype``,
    as in the ops. Layers report the result as ``last_backend``.
    """
    device = torch.device(device)
    spec = make_spec(grid_size, spline_order, grid_range)
    return select_backend(name, device, call_dtype(device.type, dtype), spec, sizes).name
