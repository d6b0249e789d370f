"""Checkpoints of `metakan train`: a stopped or killed run resumed gives the uninterrupted run's losses and
metrics bit for bit (every task, LBFGS, DDP, a SIGKILL); checkpoints are never partial; wrong or damaged
files are refused."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from metakan.cli import main
from metakan.tasks import resume

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "symbolic-lbfgs": ["symbolic", "--hidden", "3", "--n-train", "64", "--n-test", "64", "--epochs", "4"],
    "symbolic-adam": ["symbolic", "--hidden", "3", "--n-train", "64", "--n-test", "64", "--epochs", "4",
                      "--optimizer", "adam", "--lr", "0.01", "--batch-size", "16", "--schedule", "cosine"],
    "pde": ["pde", "--dim", "3", "--hidden", "3", "--collocation", "16", "--n-test", "32", "--epochs", "6",
            "--laplacian-dims", "2"],
    "image": ["image", "--hidden", "4", "--batch-size", "256", "--epochs", "3"],
    "image-paper": ["image", "--recipe", "paper", "--hidden", "4", "--batch-size", "256", "--epochs", "3"],
}


class Stop(Exception):
    """Raised by the test hook to end a run right after a checkpoint, as a kill would."""


def train(tmp_path, name, options, *extra, code=0):
    """``metakan train`` on CPU (bit-identical resumes are promised there); the JSON record, or None."""
    out = tmp_path / f"{name}.json"
    assert main(["train", *options, "--device", "cpu", "--no-progress", "--output", str(out), *extra]) == code
    return json.loads(out.read_text()) if code == 0 else None


def same_run(resumed, full):
    assert resumed["train_loss"] == full["train_loss"]
    assert resumed["metrics"] == full["metrics"]
    assert resumed["params"] == full["params"]


def stop_after(monkeypatch, stop_epoch):
    original = resume.Checkpoints.after_epoch

    def after_epoch(self, epoch, *rest):
        original(self, epoch, *rest)
        if epoch == stop_epoch:
            raise Stop

    monkeypatch.setattr(resume.Checkpoints, "after_epoch", after_epoch)


@pytest.mark.parametrize("name", sorted(TINY))
def test_a_stopped_run_resumes_to_the_same_losses_and_metrics(tmp_path, monkeypatch, name):
    options = TINY[name]
    full = train(tmp_path, "full", options)
    checkpoint = tmp_path / "run.ckpt"
    with monkeypatch.context() as patch:
        stop_after(patch, 2)
        with pytest.raises(Stop):
            train(tmp_path, "stopped", options, "--checkpoint-every", "1", "--checkpoint", str(checkpoint))
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["epoch"] == 2 and len(saved["log"]["losses"]) == 2
    assert saved["log"]["losses"] == full["train_loss"][:2]
    resumed = train(tmp_path, "resumed", options, "--resume", str(checkpoint))
    same_run(resumed, full)


# Runs `metakan train` but sleeps right after its first checkpoint, so that the kill lands mid-run.
PAUSE_AFTER_CHECKPOINT = """
import sys, time
from metakan.tasks import resume
from metakan.cli import main
original = resume.Checkpoints.after_epoch
def after_epoch(self, epoch, *rest):
    original(self, epoch, *rest)
    if self.path.exists():
        time.sleep(600)
resume.Checkpoints.after_epoch = after_epoch
sys.exit(main(sys.argv[1:]))
"""


def start(command, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "python")]), OMP_NUM_THREADS="1")
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def kill_when_written(process, checkpoint, timeout=120.0):
    """SIGKILL the process group as soon as ``checkpoint`` exists."""
    deadline = time.monotonic() + timeout
    while not checkpoint.exists():
        if process.poll() is not None:
            pytest.fail(f"the run ended (status {process.returncode}) before a checkpoint: {process.stderr.read()}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("no checkpoint appeared")
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


def test_a_killed_process_resumes_to_the_same_losses_and_metrics(tmp_path):
    options = ["symbolic", "--hidden", "3", "--n-train", "64", "--n-test", "64", "--epochs", "5", "--optimizer",
               "adam", "--lr", "0.01", "--batch-size", "16"]
    checkpoint = tmp_path / "killed.ckpt"
    process = start([sys.executable, "-c", PAUSE_AFTER_CHECKPOINT, "train", *options, "--device", "cpu",
                     "--no-progress", "--output", str(tmp_path / "killed.json"), "--checkpoint-every", "2"], tmp_path)
    kill_when_written(process, checkpoint)
    assert not (tmp_path / "killed.json").exists()
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 2
    full = train(tmp_path, "full", options)
    resumed = train(tmp_path, "resumed", options, "--resume", str(checkpoint), "--checkpoint-every", "2",
                    "--checkpoint", str(checkpoint))
    same_run(resumed, full)
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 4  # the resumed run checkpoints on


def test_a_ddp_run_resumes_from_a_mid_run_checkpoint_to_the_same_losses_and_metrics(tmp_path):
    epochs = 40
    options = ["symbolic", "--hidden", "2", "--n-train", "32", "--n-test", "32", "--epochs", str(epochs),
               "--optimizer", "adam", "--lr", "0.01", "--batch-size", "16", "--ddp", "2", "--device", "cpu"]
    checkpoint, snapshot = tmp_path / "ddp.ckpt", tmp_path / "snapshot.ckpt"
    # the whole run checkpoints every epoch; the first checkpoint copied while it runs is what a kill
    # at that moment would leave (each write replaces the file atomically)
    full = threading.Thread(target=train, args=(tmp_path, "full", options, "--checkpoint-every", "1", "--checkpoint",
                                                str(checkpoint)))
    full.start()
    while not checkpoint.exists() and full.is_alive():
        time.sleep(0.002)
    snapshot.write_bytes(checkpoint.read_bytes())
    full.join()
    done = torch.load(snapshot, weights_only=True)["epoch"]
    assert 1 <= done < epochs, "the copy came after the run's end"
    resumed = train(tmp_path, "resumed", options, "--resume", str(snapshot))
    same_run(resumed, json.loads((tmp_path / "full.json").read_text()))


def test_a_failed_write_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    options = TINY["symbolic-adam"]
    checkpoint = tmp_path / "run.ckpt"
    real_save, calls = torch.save, []

    def save_then_fail(value, handle, *rest, **kwargs):
        calls.append(1)
        if len(calls) < 2:
            return real_save(value, handle, *rest, **kwargs)
        handle.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", save_then_fail)
        with pytest.raises(OSError, match="No space left"):
            train(tmp_path, "failed", options, "--checkpoint-every", "1", "--checkpoint", str(checkpoint))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]  # no temporary file left behind
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1
    resumed = train(tmp_path, "resumed", options, "--resume", str(checkpoint))
    same_run(resumed, train(tmp_path, "full", options))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("written")
    options = ["symbolic", "--hidden", "3", "--n-train", "32", "--n-test", "32", "--epochs", "2"]
    assert main(["train", *options, "--device", "cpu", "--no-progress", "--output", str(folder / "run.json"),
                 "--checkpoint-every", "1", "--save-model", str(folder / "model.pt")]) == 0
    return folder, options


@pytest.mark.parametrize("change, message", [
    (["--lr", "0.5"], "--lr 1.0 there, 0.5 here"),
    (["--hidden", "4"], "--hidden [3] there, [4] here"),
    (["--seed", "3"], "--seed 0 there, 3 here"),
    (["--model", "kan"], "--model metakan there, kan here"),
    (["--epochs", "3"], "--epochs 2 there, 3 here"),
])
def test_a_resume_with_other_options_is_refused(written, tmp_path, capsys, change, message):
    folder, options = written
    train(tmp_path, "other", options + change, "--resume", str(folder / "run.ckpt"), code=2)
    err = capsys.readouterr().err
    assert message in err and "other options" in err and "Traceback" not in err


def test_placement_options_may_change_on_resume(written, tmp_path):
    folder, options = written
    result = train(tmp_path, "moved", options, "--resume", str(folder / "run.ckpt"), "--device", "cpu",
                   "--backend", "reference")
    assert result["train_loss"] == json.loads((folder / "run.json").read_text())["train_loss"]


def test_a_checkpoint_of_another_task_is_refused(written, tmp_path, capsys):
    folder, _ = written
    train(tmp_path, "pde", ["pde", "--epochs", "2"], "--resume", str(folder / "run.ckpt"), code=2)
    assert "the checkpoint is of 'metakan train symbolic', not pde" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["truncated", "garbage", "model file", "empty", "missing", "incomplete"])
def test_a_corrupt_or_foreign_file_is_a_one_line_error(written, tmp_path, capsys, damage):
    folder, options = written
    path = tmp_path / "bad.ckpt"
    whole = (folder / "run.ckpt").read_bytes()
    contents = {"truncated": whole[: len(whole) // 2], "garbage": os.urandom(300),
                "model file": (folder / "model.pt").read_bytes(), "empty": b""}
    if damage in contents:
        path.write_bytes(contents[damage])
    elif damage == "incomplete":
        saved = torch.load(folder / "run.ckpt", weights_only=True)
        del saved["optimizer"]
        torch.save(saved, path)
    train(tmp_path, "bad", options, "--resume", str(path), code=2)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("metakan train symbolic: error: --resume ")
    assert ("no such file" if damage == "missing" else "checkpoint") in err


def test_checkpoint_path_defaults_next_to_the_output_and_needs_an_interval(tmp_path, capsys):
    options = ["symbolic", "--hidden", "2", "--n-train", "16", "--n-test", "16", "--epochs", "2"]
    train(tmp_path, "run", options, "--checkpoint-every", "2")
    assert torch.load(tmp_path / "run.ckpt", weights_only=True)["epoch"] == 2
    train(tmp_path, "bare", options, "--checkpoint", str(tmp_path / "x.ckpt"), code=2)
    assert "--checkpoint PATH needs --checkpoint-every N" in capsys.readouterr().err
