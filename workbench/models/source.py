"""Model sources: a hub id, a local Hugging Face directory, or tiny:<arch>.

`check_source` runs in the CLI before launch (cheap, no torch); `resolve_source` runs in the
training process and returns what `from_pretrained` should be given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import UserError
from workbench.models.tiny import ARCHS


@dataclass(frozen=True)
class Source:
    kind: str  # "tiny" | "local" | "hub"
    spec: str  # as written in the recipe
    arch: str = ""  # tiny only
    path: str = ""  # local only (absolute)


def parse_source(spec: str, base_dir: Path | None = None) -> Source:
    spec = spec.strip()
    if spec.startswith("tiny:"):
        arch = spec[5:]
        if arch not in ARCHS:
            raise UserError(f"model.source {spec!r}: unknown tiny architecture (expected tiny:{' | tiny:'.join(ARCHS)})")
        return Source("tiny", spec, arch=arch)
    # "org/name" is a hub id unless such a folder exists; "./x", "/x", "~/x", "a/b/c" are folders.
    looks_local = spec.startswith(("/", "./", "../", "~")) or spec.count("/") >= 2
    p = Path(spec).expanduser()
    if not p.is_absolute() and base_dir is not None and (base_dir / p).exists():
        p = base_dir / p
    if p.exists() or looks_local:
        if not (p / "config.json").is_file():
            raise UserError(f"model.source {spec!r}: not a Hugging Face model directory (no config.json in {p})")
        return Source("local", spec, path=str(p.resolve()))
    return Source("hub", spec)


def check_source(spec: str) -> Source:
    """Fail early, with one line, on a source that cannot load here."""
    src = parse_source(spec)
    if src.kind == "hub" and os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(src.spec, "config.json")
        if not isinstance(hit, str):
            raise UserError(f"model.source {spec!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set "
                            "(download it first, or use a local directory or tiny:<arch>)")
    return src


def resolve_source(values: dict, train_texts: list[str] | None) -> str:
    """What to pass to from_pretrained: a directory or a hub id. Builds tiny models on demand."""
    src = parse_source(values["model.source"])
    if src.kind == "local":
        return src.path
    if src.kind == "hub":
        return src.spec
    from workbench.models.tiny import build_tiny

    if train_texts is None:
        raise UserError(f"model.source {src.spec!r}: the tiny model's tokenizer is trained on the training texts, "
                        "which are not available")
    return str(build_tiny(src.arch, train_texts, hidden=values["model.tiny_hidden_size"],
                          layers=values["model.tiny_layers"], vocab=values["model.tiny_vocab_size"]))


MODEL_FILE = "model.json"  # in a run folder: the source and what from_pretrained was given


def record_base(run_dir: Path, values: dict, path: str) -> None:
    import json

    (run_dir / MODEL_FILE).write_text(json.dumps({"source": values["model.source"], "path": path}), "utf-8")


def base_path(run_dir: Path, values: dict, texts) -> str:
    """The base model a finished run was trained from; a cleared tiny-model cache is rebuilt
    (deterministically) from `texts()`, the training texts."""
    import json

    base = json.loads((run_dir / MODEL_FILE).read_text("utf-8"))["path"]
    if not Path(base).exists() and values["model.source"].startswith("tiny:"):
        base = resolve_source(values, texts())
    return base
