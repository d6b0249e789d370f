"""``metakan plot``: the edge functions of a small trained model, as values and as a PNG."""

import pytest
import torch

from metakan import KANLinear, MetaKANLinear
from metakan.cli import main
from metakan.plotting import edge_functions

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("layer", [KANLinear(3, 2, grid_size=4), MetaKANLinear(3, 2, grid_size=4, hidden_dim=8)])
def test_edge_functions_sum_to_the_layer_output(layer):
    x, phi = edge_functions(layer, points=9)
    assert x.shape == (3, 9) and phi.shape == (2, 3, 9)
    assert x[:, 0].tolist() == [-1.0] * 3 and x[:, -1].tolist() == [1.0] * 3
    with torch.no_grad():
        y = layer(x.T)  # point p feeds every input its p-th value
    torch.testing.assert_close(y.T, phi.sum(1), atol=1e-5, rtol=1e-5)


def test_plot_writes_a_png_of_a_trained_model(tmp_path, capsys):
    model, image = tmp_path / "model.pt", tmp_path / "edges.png"
    assert main(["train", "symbolic", "--model", "metakan", "--equation", "I.12.5", "--hidden", "2", "--epochs", "2",
                 "--n-train", "64", "--n-test", "16", "--no-progress", "--save-model", str(model), "--output",
                 str(tmp_path / "r.json")]) == 0
    assert main(["plot", str(model), "--output", str(image)]) == 0
    assert "edge functions written to" in capsys.readouterr().out
    data = image.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 2000
    import matplotlib.image

    pixels = matplotlib.image.imread(str(image))
    assert pixels.shape[0] > 100 and (pixels[..., :3] < 0.5).any()  # something was drawn


def test_plot_rejects_other_files(tmp_path, capsys):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    assert main(["plot", str(other)]) == 2
    assert "is not a model saved by" in capsys.readouterr().err
    mlp = tmp_path / "mlp.pt"
    assert main(["train", "symbolic", "--model", "mlp", "--epochs", "1", "--n-train", "16", "--n-test", "4",
                 "--no-progress", "--save-model", str(mlp), "--output", str(tmp_path / "r.json")]) == 0
    assert main(["plot", str(mlp), "--output", str(tmp_path / "x.png")]) == 2
    assert "no KAN or MetaKAN layers" in capsys.readouterr().err


def test_plot_gives_one_line_errors_for_unreadable_files(tmp_path, capsys):
    model = tmp_path / "model.pt"
    assert main(["train", "symbolic", "--model", "kan", "--equation", "I.12.5", "--hidden", "2", "--epochs", "1",
                 "--n-train", "16", "--n-test", "4", "--no-progress", "--save-model", str(model), "--output",
                 str(tmp_path / "r.json")]) == 0
    capsys.readouterr()
    saved = torch.load(model, weights_only=True)
    truncated, garbage, text = tmp_path / "truncated.pt", tmp_path / "garbage.pt", tmp_path / "text.pt"
    truncated.write_bytes(model.read_bytes()[:300])
    garbage.write_bytes(bytes(range(256)) * 4)
    text.write_text("not a model\n")
    tensor, wrong_spec, wrong_state = tmp_path / "tensor.pt", tmp_path / "spec.pt", tmp_path / "state.pt"
    torch.save(torch.zeros(3), tensor)
    torch.save({**saved, "spec": {**saved["spec"], "colour": "red"}}, wrong_spec)
    torch.save({**saved, "state_dict": {}}, wrong_state)
    cases = [
        (tmp_path / "missing.pt", "missing.pt: no such file"),
        (tmp_path, f"{tmp_path}: is a directory"),
        (truncated, "is not a model saved by 'metakan train --save-model' (metakan-model-1): it does not load ("),
        (garbage, "it does not load (UnpicklingError: Weights only load failed)"),
        (text, "(metakan-model-1): it does not load ("),
        (tensor, "is not a model saved by 'metakan train --save-model' (metakan-model-1)"),
        (wrong_spec, "the saved model does not rebuild (TypeError: ModelSpec.__init__() got an unexpected keyword"),
        (wrong_state, "does not rebuild (RuntimeError: Error(s) in loading state_dict for KAN: Missing"),
    ]
    for path, message in cases:
        assert main(["plot", str(path), "--output", str(tmp_path / "x.png")]) == 2, path
        err = capsys.readouterr().err
        assert err.startswith("metakan plot: error: ") and message in err, err
        assert err.count("\n") == 1 and "weights_only" not in err, err
    assert not (tmp_path / "x.png").exists()
    assert main(["plot", str(model), "--output", str(tmp_path)]) == 2  # the PNG path is a directory
    assert "metakan plot: error: " in capsys.readouterr().err


def test_plot_marks_pruned_edges_and_symbolic_fits(tmp_path, capsys):
    """With --interpretation: the pruned network's edges map back to the saved network's (kept nodes),
    pruned ones are titled so, fitted ones carry their function; bad interpretation files fail clearly."""
    import json

    from metakan.plotting import EdgeMarks

    model, run, image = tmp_path / "model.pt", tmp_path / "run.json", tmp_path / "edges.png"
    assert main(["train", "symbolic", "--equation", "sin(2*x)+y**2", "--variables", "x,y", "--ranges=-1:1",
                 "--hidden", "3", "--reg", "1e-3", "--model", "kan", "--prune", "--symbolic", "--epochs", "20",
                 "--no-progress", "--output", str(run), "--save-model", str(model)]) == 0
    interpretation = json.loads(run.read_text())["interpretation"]
    marks = EdgeMarks(interpretation, [2, 3, 1])
    (hidden,) = interpretation["kept_nodes"][1]
    assert interpretation["pruned_widths"] == [2, 1, 1]
    assert [marks.pruned(0, o, 0) for o in range(3)] == [o != hidden for o in range(3)]
    assert marks.symbolic(0, hidden, 0)["function"] == interpretation["edges"][0]["function"]
    assert marks.symbolic(1, 0, hidden)["output"] == 0 and marks.symbolic(1, 0, (hidden + 1) % 3) is None
    capsys.readouterr()
    assert main(["plot", str(model), "--interpretation", str(run), "--output", str(image)]) == 0
    assert image.read_bytes().startswith(PNG_SIGNATURE)
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"metrics": {}}))
    for bad, message in ((model, "is not a results JSON"), (plain, "has no interpretation section")):
        assert main(["plot", str(model), "--interpretation", str(bad), "--output", str(image)]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(ValueError, match="do not fit a network of widths"):
        EdgeMarks({"kept_nodes": [[0, 1], [5], [0]]}, [2, 3, 1])
