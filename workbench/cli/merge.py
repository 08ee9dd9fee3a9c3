"""`workbench merge`: a LoRA adapter merged into its base (workbench.actions.merge)."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli.parsing import RUN_HELP, Subparsers, command, store_of


def register(sub: Subparsers) -> None:
    sp = command(sub, "merge", "Merge a LoRA run's adapter into its base model: a folder plain transformers loads "
                 "without peft.", _merge)
    sp.add_argument("run", help=RUN_HELP)
    sp.add_argument("--output", required=True, help="folder to write (must not exist, or be empty)")
    sp.add_argument("--dtype", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                    help="weights' dtype (auto: the base model's own, fp32 for tiny models)")


def _merge(args: argparse.Namespace) -> int:
    from workbench.actions.merge import merge
    from workbench.console import console

    done = merge(store_of(args), args.run, Path(args.output), dtype=args.dtype)
    if done.merged:
        console.print(f"merged the adapter of {done.run_id} into its base: {done.output} "
                      f"({(done.bytes or 0) / 2**20:,.1f} MiB); load it with transformers' from_pretrained, no peft needed")
    else:
        console.print(f"{done.run_id} is a full fine-tune: copied its model to {done.output}")
    return 0
