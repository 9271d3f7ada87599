"""One worker of a test cluster: ``python multiworker_worker.py TASK PRESET
WORLD OUT WEIGHTS_NPZ EPOCHS [--resume] [KEY=VALUE ...]`` with ``TF_CONFIG``
set (``KEY=VALUE``: config overrides).

Trains ``TASK`` with ``strategy="multiworker"`` and writes this worker's final
weights (at the end of training, before any reload) to ``WEIGHTS_NPZ``.
"""

import sys

import keras
import numpy as np

from mmvision import configs
from mmvision.training import fit_task


class DumpWeights(keras.callbacks.Callback):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_train_end(self, logs=None):
        ws = [np.asarray(w) for w in self.model.get_weights()]
        np.savez(self.path, *ws)


def main(argv):
    task, preset, world, out, weights, epochs = argv[:6]
    resume = "--resume" in argv
    sets = [a for a in argv[6:] if "=" in a]
    cfg = configs.apply_overrides(
        configs.get_preset(task, preset),
        [f"train.epochs={epochs}", "train.verbose=0", *sets],
    )
    fit_task(task, cfg, None if resume else world, out, resume=resume,
             strategy="multiworker", callbacks=[DumpWeights(weights)])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
