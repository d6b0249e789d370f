"""The paper's task families as training runs: symbolic regression, PDE solving, image classification."""

from . import image, pde, symbolic

# task name -> module with HELP, TABLE_METRICS, add_arguments(parser) and run(args, rank, world)
TASKS = {"symbolic": symbolic, "pde": pde, "image": image}
