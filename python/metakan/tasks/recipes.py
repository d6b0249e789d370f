"""Named recipes: sets of option values that reproduce a published setting, each overridable on the command line."""

from __future__ import annotations

import argparse
from typing import Any, Dict


class RecipeDefault:
    """An option's own default, kept apart from a value given on the command line so that a recipe
    replaces only the defaults. Prints as the value (``%(default)s`` in help texts)."""

    def __init__(self, value: Any):
        self.value = value

    def __str__(self) -> str:
        return str(self.value)

    __repr__ = __str__


def add_recipe_option(parser: argparse.ArgumentParser, recipes: Dict[str, Dict[str, Any]], help: str) -> None:
    """``--recipe NAME``; the defaults of every option a recipe sets are wrapped for :func:`apply_recipe`."""
    parser.add_argument("--recipe", choices=sorted(recipes), default=None, help=help)
    names = {name for values in recipes.values() for name in values}
    parser.set_defaults(**{name: RecipeDefault(parser.get_default(name)) for name in names})


def apply_recipe(args: argparse.Namespace, recipes: Dict[str, Dict[str, Any]]) -> None:
    """Resolve ``args`` in place: an option left at its default takes the chosen recipe's value if the
    recipe sets it, else its default; options given on the command line stay as given."""
    chosen = recipes[args.recipe] if args.recipe else {}
    for name, value in list(vars(args).items()):
        if isinstance(value, RecipeDefault):
            setattr(args, name, chosen.get(name, value.value))
