"""The search space `workbench tune` draws from when the recipe gives none ([tune.space], --space): it
belongs to the task (what it trains, which knobs it reads), so each task says it (`TunesDefault`), built
from the shared ranges below. Kept beside the Task protocol, not in it: a task without it is tuned on a
space the user gives, and refused in one line without one. Importing this module imports optuna:
tasks import it inside `default_tune_space` alone, so the registry and `validate` stay cheap."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution

Space = dict[str, BaseDistribution]

# Peak learning rates worth trying. LoRA trains a few new weights from zero and takes rates an order of
# magnitude above a full fine-tune's, whose every pretrained weight a high rate wrecks (the issue's
# collapse: MiniLM fully tuned at 1e-3 scored every input alike). Log scale: a rate's effect is by ratio.
LORA_RATES = FloatDistribution(1e-5, 5e-3, log=True)
FULL_RATES = FloatDistribution(5e-6, 1e-4, log=True)
# Whole epochs (train.epochs is a float knob; a step of 1 keeps the trials' epochs whole). Searched only
# with tune.pruner = "none": epochs are a pruner's clock, and trials of other lengths do not compare at an
# epoch (tune/space.py leaves them out under a pruner). A range widens to the recipe's own epochs.
CLASSIFIER_EPOCHS = FloatDistribution(1.0, 5.0, step=1.0)
# A generative model's epoch is a pass of generation-scored answers over a large model: fewer.
GENERATIVE_EPOCHS = FloatDistribution(1.0, 3.0, step=1.0)
# train.warmup_steps below 1 is a share of all steps: up to a fifth of training warms up. A recipe that
# warms up in steps (1 and above) keeps its own: a share range cannot hold it (tune/space.py).
WARMUP = FloatDistribution(0.0, 0.2)
# The adapter's rank and alpha as people set them (powers of two; scale = alpha / r from 1/4 to 16).
LORA_RANKS = CategoricalDistribution([4, 8, 16, 32])
LORA_ALPHAS = CategoricalDistribution([8.0, 16.0, 32.0, 64.0])
LORA_DROPOUT = FloatDistribution(0.0, 0.2)
# The two settings of train.class_weights that need no label names (a table names labels of one data set).
CLASS_WEIGHTS = CategoricalDistribution(["none", "balanced"])


@runtime_checkable
class TunesDefault(Protocol):
    """A task with a default search space (class-level: no recipe bound)."""

    @staticmethod
    def default_tune_space(method: str) -> Space:
        """{knob name: distribution} for runs of `method` (lora, full): only knobs such runs read."""
        ...


def shared_space(method: str, *, epochs: FloatDistribution = CLASSIFIER_EPOCHS, class_weights: bool = False) -> Space:
    """The ranges every task starts from: the learning rate that suits the method, epochs, warm-up, the
    adapter's rank, alpha and dropout for LoRA, and `class_weights` for a task whose loss reads them."""
    space: Space = {"train.learning_rate": LORA_RATES if method == "lora" else FULL_RATES,
                    "train.epochs": epochs, "train.warmup_steps": WARMUP}
    if method == "lora":
        space.update({"lora.r": LORA_RANKS, "lora.alpha": LORA_ALPHAS, "lora.dropout": LORA_DROPOUT})
    if class_weights:
        space["train.class_weights"] = CLASS_WEIGHTS
    return space
