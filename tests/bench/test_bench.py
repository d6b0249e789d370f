"""The benchmark harness: every provider is measured or skipped with its reason; CSV, markdown and plots."""

import csv
import dataclasses

import pytest
import torch

from metakan.bench import (
    Runner, Sweep, Workload, all_providers, default_pairs, get_preset, get_provider, markdown, ratios, run_preset,
    run_sweeps, write_outputs,
)
from metakan.bench.case import build_case
from metakan.bench.peak import CpuMemoryProbe
from metakan.bench.report import COLUMNS, append_csv, read_csv
from metakan.bench.timing import summarize, time_cpu
from metakan.bench.presets import TimerSettings
from metakan.cli import main

SMOKE = get_preset("smoke", "cpu")
SWEEPS = ("batch", "hidden", "fc", "conv")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def smoke_rows():
    return run_preset(SMOKE, "cpu", sweeps=list(SWEEPS), progress=False)


def _rows_of(rows, provider, sweep):
    return [r for r in rows if r["provider"] == provider and r["sweep"] == sweep]


def test_every_provider_is_measured_or_skipped_with_its_reason(smoke_rows):
    for sweep in (s for s in SMOKE.sweeps if s.name in SWEEPS):
        for provider in all_providers():
            rows = _rows_of(smoke_rows, provider.name, sweep.name)
            if provider.family not in sweep.families:
                assert rows == [], f"{provider.name} has no place in the {sweep.name} sweep"
                continue
            assert [r["sweep_value"] for r in rows] == list(sweep.values), (provider.name, sweep.name)
            for row, workload in zip(rows, sweep.workloads()):
                expected = SMOKE.left_out.get(provider.name) or provider.unsupported(workload, CPU, torch.float32)
                if expected is None:
                    assert row["status"] == "ok", (provider.name, sweep.name, row["reason"])
                else:
                    assert (row["status"], row["reason"]) == ("skipped", expected)


def test_reference_providers_run_and_unusable_ones_say_why(smoke_rows):
    status = {(r["provider"], r["sweep"]): (r["status"], r["reason"]) for r in smoke_rows}
    for name in ("mlp", "kan-ref", "metakan-ref"):
        assert status[(name, "batch")] == ("ok", "")
    assert status[("metakan-triton", "batch")][0] == "skipped"
    assert "TRITON_INTERPRET" in status[("metakan-triton", "batch")][1]
    assert "left out of the smoke preset" in status[("kan-ref-compile", "fc")][1]
    for name in ("mlp", "kan-ref", "metakan-ref"):
        assert status[(name, "conv")] == ("ok", "")


def test_parameter_counts_are_the_papers(smoke_rows):
    params = {r["provider"]: r["params"] for r in smoke_rows if r["sweep"] == "fc" and r["status"] == "ok"}
    assert params["kan-ref"] == 254_080
    assert params["metakan-ref"] == 25_778
    assert params["mlp"] == 784 * 32 + 32 + 32 * 10 + 10


def test_measured_rows_are_consistent(smoke_rows):
    ok = [r for r in smoke_rows if r["status"] == "ok"]
    assert ok
    for row in ok:
        for phase in ("fwd", "bwd", "fwdbwd", "step"):
            assert 0 < row[f"{phase}_ms_p20"] <= row[f"{phase}_ms"] <= row[f"{phase}_ms_p80"], (row["provider"], phase)
        assert row["peak_mem_bytes"] >= row["resident_bytes"] > 0
        assert row["memory_method"] == CpuMemoryProbe.METHOD
        if row["family"] != "mlp":
            assert row["backend_ran"] == get_provider(row["provider"]).backend
            if row["backend_ran"] == "reference":  # materializing: it keeps bases and more for backward
                assert row["saved_bytes"] > 0


def test_a_failing_case_becomes_an_error_row(monkeypatch):
    runner = Runner("cpu", timer=SMOKE.timer, memory=False)

    def boom(provider, workload):
        raise RuntimeError("kernel exploded\nsecond line")

    monkeypatch.setattr(runner, "measure", boom)
    row = runner.measure_or_explain(get_provider("kan-ref"), Workload("layer", 2, (3, 3)))
    assert row == {"status": "error", "reason": "RuntimeError: kernel exploded"}


def test_compiled_reference_is_measured():
    with Runner("cpu", timer=SMOKE.timer, memory=False) as runner:
        row = runner.measure_or_explain(get_provider("metakan-ref-compile"), Workload("layer", 4, (3, 3)))
    assert row["status"] == "ok", row["reason"]
    assert row["bwd_ms"] > 0 and row["params"] == 3 * 3 + (16 + 16) + (9 * 16 + 9)  # z, fc1, fc2 (H=16, K+1=9)


def test_outputs_are_written_and_appended(smoke_rows, tmp_path):
    written = write_outputs(smoke_rows, tmp_path)
    (csv_path,) = written["csv"]
    assert csv_path == tmp_path / "cpu.csv"
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS
        back = list(reader)
    assert len(back) == len(smoke_rows)
    assert {r["provider"] for r in back} == {p.name for p in all_providers()}
    assert {r["status"] for r in back} >= {"ok", "skipped"}

    report = (tmp_path / "LATEST.md").read_text()
    assert report == (tmp_path / "cpu-smoke.md").read_text() == markdown(smoke_rows)
    assert "## batch: one layer, batch swept" in report
    assert "| metakan-ref" in report and "## Not measured" in report and "| kan-cpu" in report
    assert "metakan-ref / kan-ref" in report

    names = sorted(p.name for p in written["plots"])
    assert names == ["cpu-smoke-batch.png", "cpu-smoke-hidden.png"]  # fc and conv have one batch size each
    for path in written["plots"]:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    write_outputs(smoke_rows, tmp_path, plots=False)
    assert len(read_csv(csv_path)) == 2 * len(smoke_rows)
    assert csv_path.read_text().count("run_id,") == 1


def test_csv_written_with_other_columns_gets_their_union(tmp_path):
    path = tmp_path / "cpu.csv"
    path.write_text("run_id,old_column\nr0,kept\n")
    append_csv([{"run_id": "r1", "provider": "mlp"}], path)
    rows = read_csv(path)
    assert [r["run_id"] for r in rows] == ["r0", "r1"]
    assert rows[0]["old_column"] == "kept" and rows[1]["provider"] == "mlp" and rows[0]["provider"] == ""


def test_ratios_divide_rows_of_the_same_run_and_setting():
    def row(run, provider, value, fwdbwd, step, peak, saved):
        return {"run_id": run, "sweep": "batch", "sweep_value": value, "provider": provider, "status": "ok",
                "fwdbwd_ms": fwdbwd, "step_ms": step, "peak_mem_bytes": peak, "saved_bytes": saved}

    rows = [row("r1", "a", 8, 1.0, 2.0, 300, 40), row("r1", "b", 8, 5.0, 4.0, 100, 10),
            row("r1", "b", 16, 1.0, 1.0, 1, 1), row("r2", "a", 16, 9.0, 9.0, 9, 9)]
    assert ratios(rows, [("a", "b")]) == [
        {"run_id": "r1", "sweep": "batch", "sweep_value": 8, "pair": "a / b",
         "fwdbwd_ms": 0.2, "step_ms": 0.5, "peak_mem_bytes": 3.0, "saved_bytes": 4.0}
    ]


def test_default_ratios_compare_fused_backends_with_their_reference_and_each_other():
    measured = ("mlp", "kan-ref", "metakan-ref", "metakan-triton", "metakan-cuda", "kan-cuda")
    rows = [{"provider": name, "status": "ok"} for name in measured] + [{"provider": "kan-triton", "status": "skipped"}]
    pairs = default_pairs(rows)
    assert ("metakan-cuda", "metakan-triton") in pairs and ("metakan-triton", "metakan-ref") in pairs
    assert ("kan-cuda", "kan-ref") in pairs and ("metakan-ref", "kan-ref") in pairs
    assert all("kan-triton" not in pair for pair in pairs)


def test_single_configuration_presets_are_the_measured_layers():
    for device in ("cpu", "cuda"):
        step = get_preset("step", device)
        assert [s.workloads() for s in step.sweeps] == [(Workload("layer", 8192, (256, 256), 5, 3, 1, 32),)]
        assert set(step.left_out) == {"kan-ref-compile", "metakan-ref-compile"}
    (check,) = get_preset("gpu-check", "cuda").sweeps
    assert check.workloads() == (Workload("layer", 65536, (1024, 1024), 5, 3, 1, 32),)
    with pytest.raises(ValueError, match="preset 'gpu-check' .* runs on cuda only, not on cpu; on a CPU use --preset step"):
        get_preset("gpu-check", "cpu")


def test_a_single_configuration_is_reported_without_a_sweep_axis(tmp_path):
    one = Sweep("layer", Workload("layer", 16, (6, 6), grid_size=3, hidden_dim=4))
    with Runner("cpu", timer=SMOKE.timer, memory=False) as runner:
        rows = run_sweeps([one], runner, providers=["mlp", "metakan-ref", "metakan-cpu"], preset="one",
                          progress=False)
    assert [(r["provider"], r["status"], r["sweep_value"]) for r in rows] == [
        ("mlp", "ok", ""), ("metakan-ref", "ok", ""), ("metakan-cpu", "ok", "")]
    report = markdown(rows)
    assert "## layer: one layer (I=O=6, B=16, G=3, k=3, d=1, H=4)" in report
    ratio_rows = [line for line in report.splitlines() if line.startswith("| layer ")]
    assert len(ratio_rows) == 1 and "metakan-cpu / metakan-ref" in report
    assert write_outputs(rows, tmp_path)["plots"] == []


def test_timing_summary_is_median_and_quintiles():
    timing = summarize([0.005, 0.001, 0.004, 0.002, 0.003])
    assert (timing.median_ms, timing.p20_ms, timing.p80_ms, timing.repeats) == pytest.approx((3.0, 1.8, 4.2, 5))
    calls = []
    settings = TimerSettings(warmup=2, min_repeats=3, max_repeats=4, min_seconds=10.0)
    timing = time_cpu(lambda: calls.append(1), settings)
    assert len(calls) == 2 + 4 and timing.repeats == 4
    made = []
    timing = time_cpu(calls.append, settings, setup=lambda: made.append(len(made)) or len(made))
    assert made == list(range(6)) and calls[6:] == list(range(1, 7)) and timing.repeats == 4


def test_peak_rss_of_a_step_covers_what_backward_keeps():
    workload = Workload("layer", 2048, (64, 64))
    saved = build_case("kan-ref", workload, "cpu", "float32").saved_bytes()
    memory = CpuMemoryProbe().measure("kan-ref", workload, "float32", seed=0, threads=1)
    assert memory.note == ""
    assert saved >= 4 * 2**20  # the (B, I, G + k) bases alone
    assert memory.extra >= 0.8 * saved


def test_peak_rss_of_a_step_counts_the_gradients_it_makes_anew():
    """The last step's gradients are freed before the measured step starts, not counted against it:
    the MLP step's forward holds the linear output, the SiLU output and the loss's product at once."""
    workload = Workload("layer", 4096, (256, 256))
    memory = CpuMemoryProbe().measure("mlp", workload, "float32", seed=0, threads=1)
    assert memory.note == ""
    assert memory.extra >= 0.95 * 3 * 4096 * 256 * 4


def test_memory_probe_reports_failures_and_timeouts_and_recovers():
    probe = CpuMemoryProbe(timeout_s=0.001)
    tiny = Workload("layer", 2, (3, 3))
    try:
        late = probe.measure("mlp", tiny, "float32", seed=0, threads=1)
        assert late.extra is None and "ran past" in late.note
        probe.timeout_s = 300.0
        failed = probe.measure("nope", tiny, "float32", seed=0, threads=1)
        assert failed.extra is None and "the memory probe failed: ValueError: unknown provider 'nope'" in failed.note
        assert probe.measure("mlp", tiny, "float32", seed=0, threads=1).note == ""
    finally:
        probe.close()


def test_workloads_and_sweeps_reject_bad_settings():
    with pytest.raises(ValueError, match="batch must be an integer >= 1, got 0"):
        Workload("layer", 0, (3, 3))
    with pytest.raises(ValueError, match=r"widths \(in_features, out_features\)"):
        Workload("layer", 2, (3, 3, 3))
    with pytest.raises(ValueError, match="kind must be one of"):
        Workload("rnn", 2, (3, 3))
    with pytest.raises(ValueError, match="families must be among"):
        Sweep("s", Workload("layer", 2, (3, 3)), families=("cnn",))
    with pytest.raises(ValueError, match="unknown provider 'nope'; the providers are: mlp, kan-ref"):
        get_provider("nope")
    with pytest.raises(ValueError, match="unknown sweep"):
        run_preset(SMOKE, "cpu", sweeps=["depth"])


def test_cli_prints_the_table_and_writes_the_files(tmp_path, capsys):
    args = ["bench", "--preset", "smoke", "--sweeps", "batch", "--providers", "mlp,metakan-ref,metakan-cpu",
            "--out", str(tmp_path), "--no-memory", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "## batch: one layer, batch swept" in out and "| metakan-ref" in out
    assert "metakan-cpu" in out  # measured where it exists, otherwise listed as skipped
    assert (tmp_path / "cpu.csv").exists() and (tmp_path / "LATEST.md").exists()
    assert (tmp_path / "plots" / "cpu-smoke-batch.png").exists()


def test_cli_rejects_bad_arguments(capsys):
    assert main(["bench", "--providers", "nope"]) == 2
    assert "unknown provider 'nope'" in capsys.readouterr().err
    assert main(["bench", "--ratio", "mlp/nope", "--list"]) == 2
    assert "unknown provider 'nope'" in capsys.readouterr().err
    assert main(["bench", "--device", "tpu"]) == 2
    assert "--device must be cpu or cuda" in capsys.readouterr().err
    assert main(["bench", "--preset", "gpu-check", "--list"]) == 2
    assert "runs on cuda only" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["bench", "--device", "cuda"]) == 2
        assert "needs a CUDA GPU" in capsys.readouterr().err
    # the static model compiles the kernels: refused while they are interpreted (as in these tests)
    assert main(["bench", "--static", "--arch", "90"]) == 2
    assert "TRITON_INTERPRET=1 is set" in capsys.readouterr().err


def test_cli_lists_every_provider_with_its_state(capsys):
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    for provider in all_providers():
        assert provider.name in out
    assert "left out of the quick preset" in out


@pytest.mark.gpu
def test_cuda_smoke_run_measures_allocator_peaks():
    rows = run_preset(get_preset("smoke", "cuda"), "cuda", sweeps=["batch"], progress=False)
    ok = [r for r in rows if r["status"] == "ok"]
    assert {r["provider"] for r in ok} >= {"mlp", "kan-ref", "metakan-ref"}
    for row in ok:
        assert row["memory_method"] == "cuda max_memory_allocated"
        assert row["peak_mem_bytes"] >= row["resident_bytes"] > 0


# The trainability preset: does each model learn, over depth x width x optimizer.

from metakan.bench.trainability import COLUMNS as TRAIN_COLUMNS  # noqa: E402
from metakan.bench.trainability import QUICK, Selection, markdown as train_markdown, run_matrix  # noqa: E402
from metakan.bench.trainability.models import build_model, same_computation  # noqa: E402
from metakan.bench.trainability.matrix import Config, TASKS  # noqa: E402


@pytest.fixture(scope="module")
def quick_trainability(tmp_path_factory):
    out = tmp_path_factory.mktemp("trainability")
    assert main(["bench", "--preset", "trainability", "--quick", "--out", str(out), "--no-progress"]) == 0
    return out


def test_trainability_quick_writes_one_row_per_run(quick_trainability):
    with (quick_trainability / "trainability-quick.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == TRAIN_COLUMNS
        rows = list(reader)
    runs = {(r["model"], r["depth"], r["width"], r["optimizer"], r["seed"]) for r in rows}
    assert len(rows) == len(runs) == len(list(QUICK.configs())) == 16
    assert {r["status"] for r in rows} == {"ok"}
    assert {(r["task"], r["epochs"], r["metric_name"]) for r in rows} == {("digits", "10", "test_accuracy")}
    assert {r["git_commit"] for r in rows} == {rows[0]["git_commit"]} and rows[0]["git_commit"]
    by_run = {(r["model"], r["depth"], r["optimizer"]): r for r in rows}
    for (model, depth, optimizer), row in by_run.items():
        assert row["init"] == {"metakan-default": "default", "metakan-paper": "paper"}.get(model, "")
        assert row["widths"] == "-".join(["64"] + ["16"] * int(depth) + ["10"])
        assert 0.0 <= float(row["metric"]) <= 1.0 and float(row["final_train_loss"]) > 0
        assert row["at_chance"] == str(float(row["metric"]) <= 0.15)
        if optimizer == "param-groups":  # param_groups' defaults: one rate for every group, so one run
            adam = by_run[(model, depth, "adam")]
            assert row["same_computation_as"] == "adam"
            assert (row["metric"], row["seconds"]) == (adam["metric"], adam["seconds"])


def test_trainability_quick_numbers_are_sane(quick_trainability):
    rows = read_csv(quick_trainability / "trainability-quick.csv")
    accuracy = {(r["model"], int(r["depth"])): float(r["metric"]) for r in rows}
    for depth in (1, 3):  # ten classes: chance is 10%; these learn digits in 10 epochs
        assert accuracy[("mlp", depth)] > 0.8
        assert accuracy[("kan", depth)] > 0.8
    loss = {(r["model"], int(r["depth"])): float(r["final_train_loss"]) for r in rows}
    assert loss[("mlp", 1)] < 1.0  # cross-entropy at chance is ln 10 = 2.3


def test_trainability_report_and_heat_maps(quick_trainability, capsys):
    report = (quick_trainability / "trainability-quick.md").read_text()
    assert report.count("\n| 1 × 16 ") == report.count("\n| 3 × 16 ") == 2  # one table per optimizer
    assert "## digits, Adam(model.parameters(), lr=1e-3): test accuracy, %" in report
    assert "## digits, Adam(metakan.param_groups(model))" in report
    assert "| metakan-default vs kan" in report and "## Check" in report and "## Time" in report
    assert "`param-groups` is the same computation as `adam` for mlp, kan, metakan-default, metakan-paper" in report
    plots = sorted(p.name for p in (quick_trainability / "plots").iterdir())
    assert plots == ["trainability-quick-digits-adam.png", "trainability-quick-digits-param-groups.png"]
    assert (quick_trainability / "plots" / plots[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trainability_resumes_and_reruns_only_what_is_missing(tmp_path):
    small = Selection(tasks=("digits",), models=("mlp",), depths=(1,), widths=(16,), optimizers=("adam",),
                      seeds=(0,), epochs=1)
    path = tmp_path / "t.csv"
    first = run_matrix(small, path, progress=False)
    assert (len(first.rows), first.skipped) == (1, 0)
    again = run_matrix(small, path, progress=False)
    assert (len(again.rows), again.skipped) == (0, 1)
    wider = run_matrix(dataclasses.replace(small, depths=(1, 2)), path, progress=False)
    assert (len(wider.rows), wider.skipped) == (1, 1) and wider.rows[0]["depth"] == 2
    other_epochs = run_matrix(dataclasses.replace(small, epochs=2), path, progress=False)
    assert len(other_epochs.rows) == 1  # another configuration: trained
    rows = read_csv(path)
    rows[0]["git_commit"] = "0123456789ab"  # a row of another commit does not count
    path.unlink()
    append_csv(rows, path, TRAIN_COLUMNS)
    assert len(run_matrix(small, path, progress=False).rows) == 1


def test_optimizers_are_one_computation_only_when_every_parameter_has_the_same_settings(monkeypatch):
    import metakan

    digits = TASKS["digits"]
    for model in ("mlp", "kan", "metakan-default", "metakan-paper"):
        net = build_model(Config(digits, model, 2, 8, "adam", 0), 5, 3)
        assert same_computation(net, "adam", "param-groups"), model

    # and it is one computation: both train a MetaKAN to the same bits
    def trained(optimizer_name):
        torch.manual_seed(0)
        net = build_model(Config(digits, "metakan-default", 2, 8, optimizer_name, 0), 5, 3)
        from metakan.bench.trainability.models import build_optimizer

        optimizer = build_optimizer(optimizer_name, net)
        x, y = torch.rand(32, 5) * 2 - 1, torch.randint(0, 3, (32,))
        for _ in range(5):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            optimizer.step()
        return [p.detach() for p in net.parameters()]

    assert all(torch.equal(a, b) for a, b in zip(trained("adam"), trained("param-groups")))

    paper_rates = metakan.param_groups
    monkeypatch.setattr(metakan, "param_groups", lambda model: paper_rates(model, lr_meta=1e-2))
    net = build_model(Config(digits, "metakan-paper", 1, 8, "adam", 0), 5, 3)
    assert not same_computation(net, "adam", "param-groups")


def test_param_groups_with_other_rates_is_trained_on_its_own(tmp_path, monkeypatch):
    import metakan

    paper_rates = metakan.param_groups
    monkeypatch.setattr(metakan, "param_groups", lambda model: paper_rates(model, lr_meta=1e-2))
    small = Selection(tasks=("digits",), models=("mlp", "metakan-paper"), depths=(1,), widths=(8,), seeds=(0,),
                      epochs=1)
    rows = {(r["model"], r["optimizer"]): r for r in run_matrix(small, tmp_path / "t.csv", progress=False).rows}
    assert rows[("mlp", "param-groups")]["same_computation_as"] == "adam"  # one group, at the default rate
    assert rows[("metakan-paper", "param-groups")]["same_computation_as"] == ""
    assert rows[("metakan-paper", "param-groups")]["metric"] != rows[("metakan-paper", "adam")]["metric"]


def _cell_rows(task, model, metrics, depth=1, width=16):
    chance = 0.15 if task == "digits" else 0.9
    return [{"run_id": "r", "task": task, "model": model, "optimizer": "adam", "depth": depth, "width": width,
             "seed": seed, "status": "ok", "metric": metric, "at_chance": str(metric <= chance if task == "digits"
                                                                                   else metric >= chance),
             "same_computation_as": "", "seconds": 1.0, "epochs": 10, "batch_size": 64, "grid_size": 5,
             "spline_order": 3, "embedding_dim": "", "hidden_dim": "", "device": "cpu", "dtype": "float32",
             "git_commit": "c"}
            for seed, metric in enumerate(metrics)]


def test_trainability_check_lists_mismatches_and_chance():
    from metakan.bench.trainability.report import check_lines
    from metakan.bench.trainability.summary import cells

    rows = (_cell_rows("digits", "kan", [0.95, 0.97]) + _cell_rows("digits", "metakan-default", [0.94, 0.955])
            + _cell_rows("digits", "kan", [0.95], depth=3) + _cell_rows("digits", "metakan-default", [0.10], depth=3)
            + _cell_rows("feynman", "kan", [0.010, 0.012]) + _cell_rows("feynman", "metakan-default", [0.018, 0.020])
            + _cell_rows("feynman", "kan", [0.010], depth=2)
            + _cell_rows("feynman", "metakan-default", [0.012], depth=2)
            + _cell_rows("feynman", "kan", [0.010], depth=3)
            + _cell_rows("feynman", "metakan-default", [0.005], depth=3))
    assert check_lines(cells(rows)) == [
        "- digits, adam, depth 3 × width 16: metakan-default 10.0 ⚠ 1/1 at chance, kan 95.0 (-85.0 pts ✗ worse)",
        "- feynman, adam, depth 1 × width 16: metakan-default 1.90e-02 ± 1.41e-03, kan 1.10e-02 ± 1.41e-03 "
        "(1.73× KAN ✗ worse)",
        "- feynman, adam, depth 3 × width 16: metakan-default 5.00e-03, kan 1.00e-02 (0.50× KAN ✗ better)",
        "- at chance: digits, adam, depth 3 × width 16, metakan-default: 10.0 ⚠ 1/1 at chance",
    ]


def test_trainability_report_tables_have_mean_and_std():
    rows = _cell_rows("digits", "kan", [0.95, 0.97]) + _cell_rows("digits", "mlp", [0.90, 0.92])
    for row in rows:
        row.update(threads=1, load_avg="1.0", device_name="cpu", dtype="float32", torch_version="t",
                   triton_version="t", python_version="p", metakan_version="m", git_commit="c")
    report = train_markdown(rows)
    assert "| 91.0 ± 1.4 | 96.0 ± 1.4 |" in report
    assert "metakan-default vs kan" not in report  # nothing to check without a MetaKAN
    assert "## Check" in report and "- none" in report


def test_trainability_cli_rejects_options_of_other_presets(capsys):
    assert main(["bench", "--preset", "trainability", "--providers", "mlp", "--list"]) == 2
    assert "--providers: not options of --preset trainability" in capsys.readouterr().err
    assert main(["bench", "--depths", "1", "--list"]) == 2
    assert "--depths: options of --preset trainability only" in capsys.readouterr().err
    assert main(["bench", "--full", "--quick", "--list"]) == 2
    assert "does not go with the full preset" in capsys.readouterr().err
    assert main(["bench", "--preset", "trainability", "--models", "kan,nope", "--list"]) == 2
    assert "unknown models ['nope']" in capsys.readouterr().err
    assert main(["bench", "--preset", "trainability", "--quick", "--list"]) == 0
    assert "16 runs" in capsys.readouterr().out
