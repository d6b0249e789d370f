"""The static model's numbers: per kernel configuration, per pass, for the reference and nn.Linear; measured rows beside them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence

from . import sass
from .bounds import Bounds, Occupancy, bounds, occupancy, roofline
from .layer import Layer
from .loops import Matched, flatten, match
from .machines import Machine
from .triton_kernels import CompiledKernel, structure

PASSES = {"fwd": ("fwd",), "fwdbwd": ("fwd", "bwd_dx", "bwd_params")}
TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


@dataclass
class KernelEstimate:
    """The model of one kernel configuration at the layer shape on one machine."""

    impl: str
    kernel: str
    config: str
    dtype: str
    arch: int
    registers: int
    spill_bytes: int
    shared_bytes: int
    warps_per_block: int
    occupancy: Occupancy
    programs: int
    main_loop: str
    main_trips: float  # runs of the main loop's body per program
    main_step: Counter  # warp-instructions by class in one step of the main loop (one warp)
    loops: List[Dict[str, object]]  # every SASS loop: source name, body size, runs per program
    warp_instructions: float
    mma_flops: Dict[str, float]
    requested_bytes: float  # global loads and stores as issued (before any cache)
    compulsory_bytes: float
    bounds: Bounds


def estimate_triton(ck: CompiledKernel, layer: Layer, m: Machine) -> KernelEstimate:
    """Count one compiled configuration's SASS over the grid at the layer shape and bound its time."""
    instructions = sass.body(next(iter(sass.parse(ck.sass).values())))
    programs, sources = structure(ck.kernel, ck.constexprs, layer)
    found = sass.loops(instructions)
    matched = flatten(match(sources, found))
    per_warp = sass.count(sass.own(instructions, None, found))
    loops, hottest = [], None
    for lm in matched:
        body = sass.count(sass.own(instructions, lm.loop, lm.loop.children))
        per_warp = per_warp + body.scaled(lm.runs)
        loops.append(dict(name=lm.source.name, body=int(body.total), runs=lm.runs, classes=body.classes))
        if hottest is None or body.total * lm.runs > hottest[1].total * hottest[0].runs:
            hottest = (lm, body)
    total = per_warp.scaled(programs * ck.warps)
    partial_rows = programs if ck.kernel == "metakan_bwd_params" else 0
    compulsory = layer.compulsory_bytes(ck.kernel, ck.dtype, partial_rows)
    main: Optional[Matched] = hottest[0] if hottest else None
    return KernelEstimate(
        "triton", ck.kernel, ck.config, ck.dtype, ck.arch, ck.registers, ck.spill_bytes, ck.shared_bytes, ck.warps,
        occupancy(m, ck.registers, ck.shared_bytes, ck.warps), programs,
        main.source.name if main else "", main.runs if main else 0.0,
        Counter(hottest[1].classes) if hottest else Counter(), loops, total.total, dict(total.mma_flops),
        total.global_bytes, compulsory, bounds(m, total.total, total.mma_flops, compulsory))


def best_configs(estimates: Iterable[KernelEstimate]) -> Dict[tuple, KernelEstimate]:
    """The configuration of each (impl, kernel, dtype, arch) with the lowest estimate: the autotuner's
    choice if the model ranks them as the GPU does."""
    best: Dict[tuple, KernelEstimate] = {}
    for e in estimates:
        key = (e.impl, e.kernel, e.dtype, e.arch)
        if key not in best or e.bounds.estimate < best[key].bounds.estimate:
            best[key] = e
    return best


@dataclass(frozen=True)
class PassEstimate:
    """A pass of a layer (forward, or forward + backward) on one path: the sum of its launches' estimates."""

    provider: str  # the bench provider it models, e.g. metakan-triton, kan-ref, mlp
    op: str
    dtype: str
    arch: int
    pass_name: str
    estimate_s: float
    bound: str  # what bounds it: the launches' bounds, e.g. issue+issue+issue
    detail: str


def triton_passes(best: Dict[tuple, KernelEstimate]) -> List[PassEstimate]:
    out = []
    for (impl, _, dtype, arch) in sorted({(k[0], None, k[2], k[3]) for k in best}):
        for op in ("kan", "metakan"):
            for pass_name, kernels in PASSES.items():
                parts = [best.get((impl, f"{op}_{k}", dtype, arch)) for k in kernels]
                if any(p is None for p in parts):
                    continue
                out.append(PassEstimate(
                    f"{op}-{impl}", op, dtype, arch, pass_name, sum(p.bounds.estimate for p in parts),
                    "+".join(p.bounds.bound for p in parts),
                    " + ".join(f"{p.kernel.split('_', 1)[1]} {p.bounds.estimate * 1e3:.2f}" for p in parts)))
    return out


def _meta(*shape, dtype, grad=True):
    import torch

    return torch.empty(*shape, device="meta", dtype=dtype).requires_grad_(grad)


def reference_traffic(layer: Layer, op: str, dtype: str, backward: bool):
    """Bytes and matmul FLOPs of the materializing reference (``metakan_kernels.reference``), op by op."""
    import torch

    from metakan_kernels import reference

    from . import traffic

    dt = getattr(torch, TORCH_DTYPES[dtype])
    b, i, o, g, k = layer.batch, layer.in_features, layer.out_features, layer.grid_size, layer.spline_order

    def run():
        x = _meta(b, i, dtype=dt)
        knots = reference.uniform_knots(i, g, k, dtype=dt, device="meta")
        if op == "kan":
            y = reference.kan_linear_ref(x, _meta(o, i, layer.num_bases, dtype=dt), _meta(o, i, dtype=dt), knots, k)
        else:
            d, h, kk = layer.embedding_dim, layer.hidden_dim, layer.num_bases + 1
            y = reference.metakan_linear_ref(x, _meta(o, i, d, dtype=dt), _meta(h, d, dtype=dt), _meta(h, dtype=dt),
                                             _meta(kk, h, dtype=dt), _meta(kk, dtype=dt), knots, k, "relu")
        if backward:
            y.backward(torch.empty_like(y))

    return traffic.count(run)


def linear_traffic(layer: Layer, dtype: str, backward: bool):
    """The same for ``nn.Linear(I, O)`` (the matrix product a KAN layer replaces)."""
    import torch
    import torch.nn.functional as F

    from . import traffic

    dt = getattr(torch, TORCH_DTYPES[dtype])

    def run():
        y = F.linear(_meta(layer.batch, layer.in_features, dtype=dt),
                     _meta(layer.out_features, layer.in_features, dtype=dt), _meta(layer.out_features, dtype=dt))
        if backward:
            y.backward(torch.empty_like(y))

    return traffic.count(run)


def _matmul_kind(dtype: str) -> str:
    # torch's default float32 matmul precision ("highest") runs float32 products on CUDA cores
    return "fp32" if dtype == "fp32" else dtype


def roofline_passes(layer: Layer, m: Machine, dtypes: Sequence[str]) -> List[PassEstimate]:
    """The reference's and nn.Linear's passes: every operator's bytes / bandwidth against its matmul FLOPs / peak."""
    out = []
    for dtype in dtypes:
        for pass_name, backward in (("fwd", False), ("fwdbwd", True)):
            for op in ("kan", "metakan"):
                t = reference_traffic(layer, op, dtype, backward)
                b = roofline(m, t.matmul_flops, _matmul_kind(dtype), t.bytes)
                out.append(PassEstimate(f"{op}-ref", op, dtype, m.arch, pass_name, b.estimate, b.bound,
                                        f"{t.bytes / 1e9:.1f} GB, {t.matmul_flops / 1e12:.2f} TFLOP matmul"))
            t = linear_traffic(layer, dtype, backward)
            b = roofline(m, t.matmul_flops, _matmul_kind(dtype), t.bytes)
            out.append(PassEstimate("linear", "linear", dtype, m.arch, pass_name, b.estimate, b.bound,
                                    f"{t.bytes / 1e9:.2f} GB, {t.matmul_flops / 1e12:.3f} TFLOP"))
    return out


def pass_rows(passes: Iterable[PassEstimate], layer: Layer) -> List[Dict[str, object]]:
    """Pass estimates as rows keyed like the bench's CSV rows (provider, dtype, layer settings)."""
    rows = []
    for p in passes:
        rows.append(dict(provider=p.provider, dtype=TORCH_DTYPES[p.dtype], arch=f"sm_{p.arch}", pass_name=p.pass_name,
                         batch=layer.batch, widths=f"{layer.in_features}-{layer.out_features}",
                         grid_size=layer.grid_size, spline_order=layer.spline_order,
                         embedding_dim=layer.embedding_dim, hidden_dim=layer.hidden_dim,
                         model_ms=round(p.estimate_s * 1e3, 4), bound=p.bound, detail=p.detail))
    return rows


_KEY = ("provider", "dtype", "batch", "widths", "grid_size", "spline_order", "embedding_dim", "hidden_dim")
_MEASURED = {"fwd": "fwd_ms", "fwdbwd": "fwdbwd_ms"}
# The bench's mlp provider is nn.Linear + SiLU: the model's linear row stands beside it.
_PROVIDER_OF_MEASURED = {"mlp": "linear"}


def join(model_rows: Sequence[Dict[str, object]], measured_rows: Sequence[Dict[str, object]],
         arch: str = "sm_90") -> List[Dict[str, object]]:
    """Measured bench rows (``metakan bench --device cuda`` CSV rows) beside the model's rows of the
    same provider, dtype and layer settings on ``arch``: model_ms, measured_ms and measured/model."""

    def key(row, provider):
        return (provider,) + tuple(str(row.get(k, "")) for k in _KEY[1:])

    model = {(key(r, r["provider"]), r["pass_name"]): r for r in model_rows if r.get("arch") == arch}
    joined = []
    for row in measured_rows:
        provider = _PROVIDER_OF_MEASURED.get(str(row.get("provider")), str(row.get("provider")))
        for pass_name, column in _MEASURED.items():
            found = model.get((key(row, provider), pass_name))
            value = row.get(column)
            if found is None or value in (None, ""):
                continue
            measured = float(value)
            joined.append(dict(found, measured_ms=measured, device_name=row.get("device_name", ""),
                               measured_over_model=round(measured / float(found["model_ms"]), 3)))
    return joined
