"""Where a training process puts its model: the decision, apart from torch, so every combination is
testable on any machine.

One process per GPU is the rule (accelerate / torchrun start them and set LOCAL_RANK): process k
loads its model straight onto cuda:k. Loading every rank onto GPU 0 (what `device_map={"": 0}`
does) crowds all the ranks' models onto one card, and DDP then refuses a module that is not on its
own rank's device. `model.device_map = "auto"` is the other layout: a single process whose model
is sharded over all visible GPUs (accelerate's big-model inference map), for a model that does not
fit one GPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from workbench.errors import UserError
from workbench.recipe.sections import RecipeView


@dataclass(frozen=True)
class Placement:
    device_map: Any  # what from_pretrained gets as device_map (None: leave it to the Trainer)
    device: str  # where the inputs go: "cpu", "cuda:1", or "auto" (sharded: accelerate's hooks move them)
    note: str  # one line for the run log

    @property
    def sharded(self) -> bool:
        return self.device_map == "auto"


def decide(*, mode: str, world_size: int, local_rank: int, cuda_devices: int, quantized: bool) -> Placement:
    """The placement of one training process.

    mode: model.device_map ("rank" | "auto"); world_size / local_rank: the launcher's (1 / 0 for a
    lone process); cuda_devices: the GPUs this process sees (0: CPU); quantized: 4-bit bitsandbytes,
    whose weights are placed at load and can never be moved afterwards with `.to`.
    """
    if mode not in ("rank", "auto"):
        raise ValueError(f"unknown device_map mode {mode!r}")
    if mode == "auto" and world_size > 1:
        raise UserError(f"model.device_map = \"auto\" shards one process's model over all its GPUs, but "
                        f"{world_size} training processes were started: use model.device_map = \"rank\"")
    if cuda_devices == 0:
        if quantized:
            # bitsandbytes >= 0.45 runs 4-bit weights on the CPU; they must be put there at load.
            return Placement({"": "cpu"}, "cpu", f"rank {local_rank} of {world_size}: 4-bit weights on the CPU")
        return Placement(None, "cpu", f"rank {local_rank} of {world_size}: on the CPU")
    if mode == "auto":
        return Placement("auto", "auto", f"one process, the model sharded over {cuda_devices} GPU(s)")
    if local_rank >= cuda_devices:
        raise UserError(f"training process {local_rank} of {world_size} has no GPU of its own: this node shows "
                        f"{cuda_devices} GPU(s) (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); "
                        "ask for at most that many with --gpus")
    # Loaded straight onto its own card, quantized or not: no full copy in host memory first, and
    # 4-bit weights are where DDP expects them (they cannot be moved after loading).
    return Placement({"": local_rank}, f"cuda:{local_rank}",
                     f"rank {local_rank} of {world_size}: the model on cuda:{local_rank}")


def this_process(recipe: RecipeView, *, quantized: bool) -> Placement:
    """The decision for the running process, from the launcher's environment and torch."""
    import torch

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return decide(mode=recipe.model.device_map, world_size=world_size, local_rank=local_rank,
                  cuda_devices=cuda, quantized=quantized)
