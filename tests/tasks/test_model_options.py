"""Model options of every training task (--init, --meta-activation) and models saved before ModelSpec had init."""

import pytest
import torch

from metakan.cli import main
from metakan.tasks.checkpoint import load_model

TASKS = {
    "symbolic": ["symbolic", "--hidden", "2", "--n-train", "16", "--n-test", "16"],
    "pde": ["pde", "--dim", "2", "--hidden", "2", "--collocation", "8", "--n-test", "8"],
    "image": ["image", "--hidden", "2", "--batch-size", "512"],
}


def train_and_load(tmp_path, options):
    path = tmp_path / "model.pt"
    assert main(["train", *options, "--epochs", "1", "--no-progress", "--output", str(tmp_path / "r.json"),
                 "--save-model", str(path)]) == 0
    return path, load_model(path)


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("init, activation", [("paper", "tanh"), ("default", "identity")])
def test_every_task_builds_metakan_with_the_chosen_init_and_meta_activation(tmp_path, task, init, activation):
    _, (model, spec, _) = train_and_load(tmp_path, TASKS[task] + ["--init", init, "--meta-activation", activation])
    assert (spec.init, spec.meta_activation) == (init, activation)
    layers = [m for m in model.modules() if hasattr(m, "meta_learner")]
    assert layers and all(layer.init == init and layer.meta_learner.activation == activation for layer in layers)


def test_conv4_layers_take_the_init_too(tmp_path):
    _, (model, spec, _) = train_and_load(tmp_path, ["image", "--arch", "conv4", "--channels", "2,2,2,2",
                                                    "--batch-size", "512", "--init", "paper"])
    layers = [m for m in model.modules() if hasattr(m, "meta_learner")]
    assert len(layers) == 5 and {layer.init for layer in layers} == {"paper"}
    assert {m.init for m in model.modules() if type(m).__name__ == "MetaLearner"} == {"paper"}


def test_a_model_saved_without_init_loads_with_the_papers_init(tmp_path):
    path, (model, _, _) = train_and_load(tmp_path, TASKS["symbolic"] + ["--init", "paper"])
    old = torch.load(path, weights_only=True)
    del old["spec"]["init"]  # as written before the field existed
    torch.save(old, path)
    loaded, spec, task = load_model(path)
    assert spec.init == "paper" and task == "symbolic"
    assert all(layer.init == "paper" for layer in loaded.layers)
    x = torch.rand(5, 1) * 2 - 1
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
