"""Save a trained task model with what rebuilds it, and load it back (``metakan plot`` reads these)."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple, Union

import torch

from .models import ModelSpec
from .resume import atomic_save, load_format

FORMAT = "metakan-model-1"
# Files written before ModelSpec had ``init`` hold MetaKANs built with the paper code's initialisation,
# the only one there was; "paper" also keeps their stored parameters' meaning (no per-layer factors).
INIT_BEFORE_FIELD = "paper"


def save_model(path: Union[str, Path], task: str, spec: ModelSpec, model: torch.nn.Module) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_save({"format": FORMAT, "task": task, "spec": spec.to_dict(), "state_dict": state}, path)


def load_model(path: Union[str, Path]) -> Tuple[torch.nn.Module, ModelSpec, str]:
    """(model on CPU, its spec, its task) from a file written by :func:`save_model`.

    Raises ValueError with a one-line message for a missing, unreadable or foreign file.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory")
    saved = load_format(path, FORMAT, "a model saved by 'metakan train --save-model'")
    try:
        spec = ModelSpec(**{"init": INIT_BEFORE_FIELD, **saved["spec"]})
        model = spec.build()
        model.load_state_dict(saved["state_dict"])
        task = str(saved["task"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path}: the saved model does not rebuild ({_one_line(err)})") from None
    return model, spec, task


def _one_line(err: Exception, limit: int = 200) -> str:
    text = f"{type(err).__name__}: {' '.join(str(err).split())}"
    return text if len(text) <= limit else text[: limit - 3] + "..."
