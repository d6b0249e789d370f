"""Save a trained task model with what rebuilds it, and load it back (``metakan plot`` reads these)."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple, Union

import torch

from .models import ModelSpec

FORMAT = "metakan-model-1"


def save_model(path: Union[str, Path], task: str, spec: ModelSpec, model: torch.nn.Module) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"format": FORMAT, "task": task, "spec": spec.to_dict(), "state_dict": state}, path)


def load_model(path: Union[str, Path]) -> Tuple[torch.nn.Module, ModelSpec, str]:
    """(model on CPU, its spec, its task) from a file written by :func:`save_model`.

    Raises ValueError with a one-line message for a missing, unreadable or foreign file.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: {'is a directory' if path.is_dir() else 'no such file'}")
    not_ours = f"{path} is not a model saved by 'metakan train --save-model' ({FORMAT})"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as err:
        raise ValueError(f"{path}: cannot read it ({err.strerror or err})") from None
    except Exception as err:  # noqa: BLE001 - a damaged file fails in the unpickler or zip reader, any type
        # torch's own message would suggest weights_only=False, which a foreign file must never get
        raise ValueError(f"{not_ours}: it is damaged or not a torch save ({type(err).__name__})") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(not_ours)
    try:
        spec = ModelSpec(**saved["spec"])
        model = spec.build()
        model.load_state_dict(saved["state_dict"])
        task = str(saved["task"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path}: the saved model does not rebuild ({_one_line(err)})") from None
    return model, spec, task


def _one_line(err: Exception, limit: int = 200) -> str:
    text = f"{type(err).__name__}: {' '.join(str(err).split())}"
    return text if len(text) <= limit else text[: limit - 3] + "..."
