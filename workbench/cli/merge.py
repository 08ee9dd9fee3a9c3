"""`workbench merge`: a LoRA adapter merged into its base."""

from __future__ import annotations

import argparse

from workbench.cli.parsing import Subparsers, command


def register(sub: Subparsers) -> None:
    sp = command(sub, "merge", "Merge a LoRA run's adapter into its base model: a folder plain transformers loads "
                 "without peft.", _merge)
    sp.add_argument("run", help="run id, unique prefix, or 'last'")
    sp.add_argument("--output", required=True, help="folder to write (must not exist, or be empty)")
    sp.add_argument("--dtype", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                    help="weights' dtype (auto: the base model's own, fp32 for tiny models)")


def _merge(args: argparse.Namespace) -> int:
    from workbench.commands.merge import main

    return int(main(args) or 0)
