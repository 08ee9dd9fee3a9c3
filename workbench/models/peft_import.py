"""peft without bitsandbytes where nothing is quantized.

peft imports bitsandbytes eagerly (its helpers module) and again whenever it wraps a model (its
LoRA dispatch asks for bitsandbytes' layers when the package is installed): a second and a half of
imports, and on a CPU the kernel lookup's "Failed to load CPU gemm_4bit_forward" line. A model whose
weights are 4-bit was loaded by transformers' bitsandbytes loader, which imported bitsandbytes
first; so while bitsandbytes is not imported, no layer can be a bitsandbytes one, and peft is let
believe it is not installed. Its availability checks (cached by peft and transformers) are cleared
on the way out, so a 4-bit load later in the same process finds bitsandbytes as before.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

BNB = "bitsandbytes"


@contextmanager
def peft_without_bitsandbytes() -> Iterator[None]:
    """peft imported; inside, bitsandbytes hidden from it unless already imported (a 4-bit model)."""
    import transformers.utils.import_utils  # noqa: F401 - its availability flags read unhidden, at its own import

    if BNB in sys.modules:
        import peft  # noqa: F401
        yield
        return
    sys.modules[BNB] = None  # type: ignore[assignment]  # Python's mark for "import bitsandbytes" failing
    try:
        _forget()
        import peft  # noqa: F401
        yield
    finally:
        if BNB in sys.modules and sys.modules[BNB] is None:
            del sys.modules[BNB]
        _forget()


def _forget() -> None:
    """Clear the cached answers to "is bitsandbytes installed" (peft's, transformers')."""
    from transformers.utils import import_utils as hf

    hf.is_bitsandbytes_available.cache_clear()
    if "peft" in sys.modules:
        from peft import import_utils

        import_utils.is_bnb_available.cache_clear()
        import_utils.is_bnb_4bit_available.cache_clear()
