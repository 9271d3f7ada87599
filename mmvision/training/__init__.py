"""Training for every task: the run directory, callbacks, strategies and the
one loop (``fit_task``)."""

from mmvision.training.loop import evaluate_run, fit_task
from mmvision.training.run_dir import RunError

__all__ = ["RunError", "evaluate_run", "fit_task"]
