"""Where each training process puts its model (workbench/models/placement.py), for every
combination of world size, local rank, GPUs seen, 4-bit or not, and model.device_map."""

from __future__ import annotations

import itertools

import pytest

from workbench.errors import UserError
from workbench.models.placement import decide

WORLDS = [(1, 0), (2, 0), (2, 1), (4, 3)]  # (world size, local rank)
GPUS = [0, 1, 4]
CASES = list(itertools.product(WORLDS, GPUS, [False, True], ["rank", "auto"]))


def expected(world: int, rank: int, gpus: int, quantized: bool, mode: str):
    """The rule, written out: an error line's key words, or (device_map, device)."""
    if mode == "auto" and world > 1:
        return "error", "training processes were started"
    if gpus == 0:
        return ({"": "cpu"}, "cpu") if quantized else (None, "cpu")
    if mode == "auto":
        return "auto", "auto"
    if rank >= gpus:
        return "error", "no GPU of its own"
    return {"": rank}, f"cuda:{rank}"


@pytest.mark.parametrize(("world_rank", "gpus", "quantized", "mode"), CASES,
                         ids=[f"world{w}-rank{r}-gpus{g}-{'4bit' if q else 'bf16'}-{m}" for (w, r), g, q, m in CASES])
def test_placement(world_rank, gpus, quantized, mode):
    world, rank = world_rank
    want = expected(world, rank, gpus, quantized, mode)
    if want[0] == "error":
        with pytest.raises(UserError) as e:
            decide(mode=mode, world_size=world, local_rank=rank, cuda_devices=gpus, quantized=quantized)
        assert want[1] in str(e.value) and "\n" not in str(e.value)
        return
    got = decide(mode=mode, world_size=world, local_rank=rank, cuda_devices=gpus, quantized=quantized)
    assert (got.device_map, got.device) == want
    assert got.sharded == (want[0] == "auto")


def test_no_two_ranks_of_a_node_share_a_gpu():
    """The bug this module fixes: every rank's 4-bit model went to GPU 0."""
    devices = [decide(mode="rank", world_size=4, local_rank=r, cuda_devices=4, quantized=True).device_map[""]
               for r in range(4)]
    assert devices == [0, 1, 2, 3]
