"""peft without bitsandbytes where nothing is quantized.

peft imports bitsandbytes eagerly (its helpers module) and again whenever it wraps a model (its
LoRA dispatch asks for bitsandbytes' layers when the package is installed): a second and a half of
imports, and on a CPU the kernel lookup's "Failed to load CPU gemm_4bit_forward" line. A model whose
weights are 4-bit was loaded by transformers' bitsandbytes loader, which imported bitsandbytes
first; so while bitsandbytes is not imported, no layer can be a bitsandbytes one, and peft is let
believe it is not installed: at its import, whoever imports it first (transformers' trainer_utils
does, for set_seed and the Trainer), once `install` has run, and while it wraps a model. Its
availability checks (cached by peft and transformers) are cleared on the way out, so a 4-bit load
later in the same process finds bitsandbytes as before.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
from typing import Any

BNB = "bitsandbytes"


def install() -> None:
    """From now on in this process, peft's import (by anyone) leaves bitsandbytes unimported."""
    if "peft" not in sys.modules and not any(isinstance(f, _PeftFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PeftFinder())


@contextmanager
def peft_without_bitsandbytes() -> Iterator[None]:
    """peft imported; inside, bitsandbytes hidden from it unless already imported (a 4-bit model)."""
    install()
    with _hidden():
        import peft  # noqa: F401
        yield


class _PeftFinder(MetaPathFinder):
    """Finds peft as Python does, and runs its module with bitsandbytes hidden."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname != "peft":
            return None
        spec = PathFinder.find_spec(fullname, path)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: Any) -> None:
            with _hidden():
                run(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]  # this spec's own loader
        return spec


@contextmanager
def _hidden() -> Iterator[None]:
    """bitsandbytes unimportable inside, unless imported already."""
    import transformers.utils.import_utils  # noqa: F401 - its availability flags read unhidden, at its own import

    if BNB in sys.modules:
        yield
        return
    sys.modules[BNB] = None  # type: ignore[assignment]  # Python's mark for "import bitsandbytes" failing
    try:
        _forget()
        yield
    finally:
        if BNB in sys.modules and sys.modules[BNB] is None:
            del sys.modules[BNB]
        _forget()


def _forget() -> None:
    """Clear the cached answers to "is bitsandbytes installed" (peft's, transformers'). A version of
    either library that renames or stops caching one of them leaves it be: at worst bitsandbytes is
    imported as before, never a crash."""
    from transformers.utils import import_utils as hf

    checks = [getattr(hf, "is_bitsandbytes_available", None)]
    peft_utils = sys.modules.get("peft.import_utils")
    if peft_utils is not None:
        checks += [getattr(peft_utils, "is_bnb_available", None), getattr(peft_utils, "is_bnb_4bit_available", None)]
    for check in checks:
        clear = getattr(check, "cache_clear", None)
        if clear is not None:
            clear()
