"""The static performance model: SASS classes, loops, bounds and traffic on small known inputs; a quick compile for sm_90."""

import csv
import os
import subprocess
import sys
import textwrap
from collections import Counter

import pytest
import torch

from metakan.bench.static import bounds, loops, machines, model, sass, traffic
from metakan.bench.static.layer import Layer
from metakan.bench.static.triton_kernels import structure
from metakan_kernels.triton import aot

SNIPPET = """
code for sm_90a
        Function : tiny_kernel
        /*0000*/                   LDC R1, c[0x0][0x28] ;                                 /* 0x00000a00ff017b82 */
                                                                                          /* 0x000e220000000800 */
        /*0010*/                   S2R R0, SR_TID.X ;                                     /* 0x0000000000007919 */
        /*0020*/                   LDG.E.128 R4, desc[UR4][R2.64] ;                       /* 0x0000000402047981 */
        /*0030*/                   FFMA R5, R4, R4, R5 ;                                  /* 0x0000000404057223 */
        /*0040*/                   HMMA.16816.F32.BF16 R8, R12, R14, R8 ;                 /* 0x0000000e0c08723c */
        /*0050*/                   LDS.U16 R6, [R0] ;                                     /* 0x0000000000067984 */
        /*0060*/                   IADD3 R3, R3, 0x1, RZ ;                                /* 0x0000000103037810 */
        /*0070*/              @!P0 BRA 0x50 ;                                             /* 0xfffffffc00e08947 */
        /*0080*/                   MUFU.EX2 R7, R7 ;                                      /* 0x0000000700077308 */
        /*0090*/                   HGMMA.64x64x16.F32.BF16 R24, gdesc[UR4], R24 ;         /* 0x0000000000187ab9 */
        /*00a0*/                   BAR.SYNC.DEFER_BLOCKING 0x0 ;                          /* 0x0000000000007b1d */
        /*00b0*/                   F2FP.BF16.F32.PACK_AB R9, R8, R8 ;                     /* 0x000000080809723e */
        /*00c0*/                   UIADD3 UR4, UR4, 0x1, URZ ;                            /* 0x0000000104047890 */
        /*00d0*/               @P1 BRA 0x20 ;                                             /* 0xffffff4000001947 */
        /*00e0*/                   STG.E desc[UR4][R2.64], R9 ;                           /* 0x0000000902007986 */
        /*00f0*/                   EXIT ;                                                 /* 0x000000000000794d */
        /*0100*/                   BRA 0x100;                                             /* 0xfffffffc00fc7947 */
        /*0110*/                   NOP;                                                   /* 0x0000000000007918 */
"""


def _tiny():
    return sass.parse(SNIPPET)["tiny_kernel"]


def test_sass_is_parsed_and_classified():
    ins = _tiny()
    assert len(ins) == 18 and ins[7].predicate == "@!P0" and ins[7].branch_target() == 0x50
    body = sass.body(ins)
    assert body[-1].opcode == "EXIT"  # the end marker and the padding after it are not code
    assert [i.cls for i in body] == ["other", "other", "global", "fp", "mma", "shared", "integer", "other", "mufu",
                                     "mma", "barrier", "convert", "integer", "other", "global", "other"]
    assert ins[4].mma_flops() == 2 * 16 * 8 * 16 and ins[4].mma_dtype() == "bf16"
    assert ins[9].mma_flops() == 2 * 64 * 64 * 16 / 4  # a warpgroup's product, issued by each of its 4 warps
    assert ins[2].memory_bytes() == 32 * 16 and ins[14].memory_bytes() == 32 * 4 and ins[5].memory_bytes() == 0
    assert sass.classify("LDL") == "local" and sass.classify("UIMAD") == "integer" and sass.classify("XYZ") == "other"


def test_loops_nest_and_are_counted_apart():
    body = sass.body(_tiny())
    top = sass.loops(body)
    assert [(l.start, l.end) for l in top] == [(0x20, 0xd0)]
    assert [(l.start, l.end) for l in top[0].children] == [(0x50, 0x70)]
    inner = sass.count(sass.own(body, top[0].children[0], []))
    outer = sass.count(sass.own(body, top[0], top[0].children))
    straight = sass.count(sass.own(body, None, top))
    assert inner.classes == Counter(shared=1, integer=1, other=1)
    assert outer.total == 9 and outer.mma_flops["bf16"] == 4096 + 2 * 64 * 64 * 16 / 4
    assert straight.total == 4 and straight.global_bytes == 32 * 4
    assert (inner.scaled(3) + inner).total == 12


def test_overlapping_loops_are_refused():
    text = SNIPPET.replace("@!P0 BRA 0x50", "@!P0 BRA 0x10").replace("@P1 BRA 0x20", "@P1 BRA 0x30")
    body = sass.body(sass.parse(text)["tiny_kernel"])
    with pytest.raises(sass.LoopStructureError):
        sass.loops(body)


def test_source_loops_match_sass_loops_with_unrolled_constant_ones():
    body = sass.body(_tiny())
    found = sass.loops(body)
    inner = loops.SourceLoop("inner", 5)
    # one constant loop of trip 1 around everything vanished; the rest pairs up by nesting
    sources = (loops.SourceLoop("chunks", 1, True, (loops.SourceLoop("outer", 10, False, (inner,)),)),)
    matched = loops.flatten(loops.match(sources, found))
    assert [(m.source.name, m.runs) for m in matched] == [("outer", 10), ("inner", 50)]
    # a constant inner loop may be unrolled into its parent: here it is not missing, so it matches
    with pytest.raises(loops.LoopMismatch, match="SASS has loops"):
        loops.match((loops.SourceLoop("only", 3),), found)
    unrolled = (loops.SourceLoop("outer", 10, False, (inner, loops.SourceLoop("gone", 2, True))),)
    assert [m.source.name for m in loops.flatten(loops.match(unrolled, found))] == ["outer", "inner"]


def test_occupancy_and_bounds():
    h = machines.machine(90)
    # 170 registers: 5632 per warp, 11 warps of registers, one block of 8 warps
    assert bounds.occupancy(h, 170, 17408, 8) == bounds.Occupancy(1, 8, "registers")
    assert bounds.occupancy(h, 64, 100 * 1024, 4) == bounds.Occupancy(2, 8, "shared")
    assert bounds.occupancy(h, 32, 0, 1) == bounds.Occupancy(32, 32, "blocks")
    b = bounds.bounds(h, h.issue_rate * 2.0, {"bf16": h.tensor_peak("bf16") * 0.5}, h.hbm_bytes_per_s * 0.25)
    assert (b.issue_s, b.tensor_s, b.memory_s) == pytest.approx((2.0, 0.5, 0.25))
    assert b.estimate == pytest.approx(2.0) and b.bound == "issue"
    assert h.tensor_peak("bf16") == pytest.approx(989.4e12, rel=1e-3)
    assert machines.machine(80).tensor_peak("bf16") == pytest.approx(312e12, rel=1e-2)
    r = bounds.roofline(h, 1e12, "fp32", 1e9)
    assert r.tensor_s == pytest.approx(1e12 / h.fp32_peak) and r.bound == "tensor"
    with pytest.raises(ValueError, match="no tensor-core peak"):
        bounds.bounds(machines.machine(80), 0, {"fp8": 1.0}, 0)
    with pytest.raises(ValueError, match="no machine table"):
        machines.machine(70)


def test_traffic_counts_operators_not_views():
    def run():
        a = torch.empty(1000, device="meta")
        b = torch.empty(1000, device="meta")
        c = (a + b).view(10, 100).t()  # the view and the transpose move nothing
        torch.mm(c, torch.empty(10, 7, device="meta"))

    t = traffic.count(run)
    assert t.by_op["add"] == 3 * 4000
    assert t.by_op["mm"] == 4000 + 280 + 100 * 7 * 4
    assert t.matmul_flops == 2 * 100 * 10 * 7 and t.bytes == t.read + t.written


def test_program_counts_agree_with_the_launchers():
    layer = Layer(4096, 96, 80, 5, 3, 1, 32)
    for name, rec in aot.setting_launches(layer.aot_setting(), "bf16", (4096, 96, 80)).items():
        for config in rec.kernel.configs:
            meta = {**rec.args, **config.kwargs}
            grid = rec.grid(meta) if callable(rec.grid) else rec.grid
            programs, sources = structure(name, meta, layer)
            assert programs == grid[0], name
            assert sources


def test_join_puts_measured_beside_the_model():
    layer = Layer.of()
    rows = model.pass_rows([model.PassEstimate("metakan-triton", "metakan", "bf16", 90, "fwd", 0.02, "issue", "")],
                           layer)
    measured = [dict(provider="metakan-triton", dtype="bfloat16", batch="65536", widths="1024-1024", grid_size="5",
                     spline_order="3", embedding_dim="1", hidden_dim="32", fwd_ms="30.0", fwdbwd_ms="")]
    joined = model.join(rows, measured, "sm_90")
    assert len(joined) == 1 and joined[0]["measured_ms"] == 30.0 and joined[0]["measured_over_model"] == 1.5
    assert model.join(rows, measured, "sm_80") == []


def test_a_gpu_run_writes_its_times_beside_the_model(tmp_path):
    from metakan.bench.static import report
    from metakan.bench.static.run import beside_measured

    rows = [dict(row_kind="pass", **r) for r in model.pass_rows(
        [model.PassEstimate("kan-triton", "kan", "bf16", 90, "fwdbwd", 0.1, "issue+issue+issue", "")], Layer.of())]
    report.write_csv(rows, tmp_path / "static-sm90.csv")
    measured = [dict(provider="kan-triton", dtype="bfloat16", batch=65536, widths="1024-1024", grid_size=5,
                     spline_order=3, embedding_dim=1, hidden_dim=32, fwd_ms=None, fwdbwd_ms=250.0)]
    path = beside_measured(measured, str(tmp_path), 90, "cuda-gpu-check")
    assert path == tmp_path / "cuda-gpu-check-vs-model.md"
    line = path.read_text().splitlines()[-1]
    assert [cell.strip() for cell in line.strip("|").split("|")] == ["kan-triton", "bfloat16", "fwdbwd", "100.0",
                                                                      "250.0", "2.5", "issue+issue+issue"]


QUICK = textwrap.dedent("""
    import sys
    from metakan.bench.static.layer import Layer
    from metakan.bench.static.run import model_arch, write
    result = model_arch(90, Layer.of(), kernels=["metakan_fwd", "kan_bwd_dx"], dtypes=("bf16",), cuda=False,
                        max_configs=1)
    print(*write(result, sys.argv[1]))
""")


@pytest.mark.timeout(600)
def test_quick_static_model_for_sm90(tmp_path):
    # Compiles for real (not under the interpreter the other tests use): one bf16 configuration of two kernels.
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path / "cache")
    done = subprocess.run([sys.executable, "-c", QUICK, str(tmp_path)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    md = (tmp_path / "static-sm90.md").read_text()
    for heading in ("## Machines", "## Passes", "## Triton kernels", "## Loops of the chosen configurations"):
        assert heading in md
    with (tmp_path / "static-sm90.csv").open() as f:
        rows = list(csv.DictReader(f))
    kernels = [r for r in rows if r["row_kind"] == "kernel"]
    assert {r["kernel"] for r in kernels} == {"metakan_fwd", "kan_bwd_dx"} and len(kernels) == 2
    for r in kernels:
        assert r["spill_bytes"] == "0", r
        assert float(r["main_step_sass"]) > 0 and float(r["step_mma"]) > 0 and float(r["mma_flops"]) > 0
        assert float(r["model_ms"]) == max(float(r[k]) for k in ("issue_ms", "tensor_ms", "memory_ms"))
    assert sum(r["chosen"] == "True" for r in kernels) == 2
    passes = {(r["provider"], r["pass_name"]) for r in rows if r["row_kind"] == "pass"}
    assert {("metakan-triton", "fwd"), ("metakan-ref", "fwdbwd"), ("linear", "fwd")} <= passes


@pytest.mark.timeout(300)
def test_cuda_kernels_compile_without_torch_and_are_read():
    from metakan.bench.static import cuda_kernels
    from metakan.bench.static.cuda_model import inventory

    if cuda_kernels.nvcc() is None:
        pytest.skip("nvcc not found")
    assert "csrc/cuda/forward.cu" in cuda_kernels.sources()
    found = cuda_kernels.compile_source("csrc/cuda/forward.cu", 90)
    assert {(k.kernel, k.dtype) for k in found} == {("forward_kernel", d) for d in ("fp32", "bf16", "fp16")}
    for k in found:
        inv = inventory(k, machines.machine(90))
        assert k.spill_bytes == 0 and inv.loops > 0 and inv.occupancy.warps >= 8
        assert (inv.classes["mma"] > 0) == (k.dtype != "fp32")  # WMMA for 16-bit types, FFMA for float32
