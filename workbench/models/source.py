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
from workbench.recipe.sections import RecipeView


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
    """Fail early, with one line, on a source that cannot load here: a hub model that is not whole in
    this machine's Hugging Face cache while the hub is offline (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)
    or cannot be reached, or that the hub does not know. Runs where the model loads: this machine
    for local and scheduler targets (the jobs read the same cache), the remote host's agent for
    ssh:HOST and slurm:HOST / pbs:HOST (`workbench/launch/agent.py:probe`)."""
    src = parse_source(spec)
    if src.kind == "hub":
        _check_hub_model(src.spec)
    return src


# What from_pretrained reads of a hub model (transformers' file names): its config, a tokenizer
# vocabulary (one of these) and its weights (one file, or the shards an index lists).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.txt", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def cache_gaps(repo: str) -> list[str]:
    """What of hub model `repo` this machine's Hugging Face cache lacks (its main revision); empty:
    it loads offline. Only the cache is read."""
    import json

    from huggingface_hub import try_to_load_from_cache

    def cached(name: str) -> str | None:
        hit = try_to_load_from_cache(repo, name)
        return hit if isinstance(hit, str) else None

    gaps = []
    if cached("config.json") is None:
        gaps.append("config.json")
    if not any(cached(name) for name in TOKENIZER_FILES):
        gaps.append(f"a tokenizer ({' / '.join(TOKENIZER_FILES[:3])})")
    weights = next((hit for name in WEIGHT_FILES if (hit := cached(name))), None)
    if weights is None:
        gaps.append("the weights (model.safetensors / pytorch_model.bin)")
    elif weights.endswith(".index.json"):
        try:
            shards = sorted(set(json.loads(Path(weights).read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError):
            return [*gaps, f"a readable weights index ({Path(weights).name})"]
        absent = [name for name in shards if cached(name) is None]
        if absent:
            gaps.append(f"{len(absent)} of its {len(shards)} weight files ({absent[0]}, ...)")
    return gaps


def _check_hub_model(repo: str) -> None:
    from huggingface_hub import constants, is_offline_mode
    from huggingface_hub.errors import HFValidationError

    try:
        gaps = cache_gaps(repo)
    except HFValidationError as e:
        raise UserError(f"model.source {repo!r}: no folder here, nor a hub id ({str(e).splitlines()[0]})") from None
    if not gaps:
        return
    whole = len(gaps) == 3 and gaps[0] == "config.json"
    where = (f"is not in this machine's Hugging Face cache ({constants.HF_HUB_CACHE})" if whole else
             f"is only partly in this machine's Hugging Face cache ({constants.HF_HUB_CACHE}; it lacks {', '.join(gaps)})")
    get = (f"download it where there is network with `hf download {repo}` (into this cache: the same HF_HOME), "
           "set HF_HOME to a cache that holds it, or give a local folder")
    if is_offline_mode():
        variable = "HF_HUB_OFFLINE" if os.environ.get("HF_HUB_OFFLINE") else "TRANSFORMERS_OFFLINE"
        raise UserError(f"model.source {repo!r} {where} and the hub is offline ({variable}): {get}")
    unreachable = _hub_unreachable(repo)
    if unreachable:
        raise UserError(f"model.source {repo!r} {where} and the hub ({constants.ENDPOINT}) cannot be reached from "
                        f"here ({unreachable}): {get}")


def _hub_unreachable(repo: str) -> str | None:
    """Why the hub cannot give `repo` from here, in a few words; None when it can (or answered
    otherwise: the run's download gets its own chance). One request, no retries, with the
    patience of the download's first request (HF_HUB_ETAG_TIMEOUT)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
    from huggingface_hub.utils import httpx  # the HTTP client huggingface_hub uses (httpx, or httpx2)

    try:
        HfApi().model_info(repo, timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except RepositoryNotFoundError:
        raise UserError(f"model.source {repo!r}: no folder here, and no model of that id on the hub ({constants.ENDPOINT}) "
                        "(a private or gated one needs `hf auth login`)") from None
    except httpx.TransportError as e:  # no route, no name resolution, refused, timed out, a proxy's refusal
        return str(e).splitlines()[0] if str(e).strip() else type(e).__name__
    except HfHubHTTPError:
        return None
    return None


def resolve_source(recipe: RecipeView, train_texts: list[str] | None) -> str:
    """What to pass to from_pretrained: a directory or a hub id. Builds tiny models on demand."""
    src = parse_source(recipe.model.source.spec)
    if src.kind == "local":
        return src.path
    if src.kind == "hub":
        return src.spec
    from workbench.models.tiny import build_tiny

    if train_texts is None:
        raise UserError(f"model.source {src.spec!r}: the tiny model's tokenizer is trained on the training texts, "
                        "which are not available")
    return str(build_tiny(src.arch, train_texts, hidden=recipe.model.tiny_hidden_size,
                          layers=recipe.model.tiny_layers, vocab=recipe.model.tiny_vocab_size))


MODEL_FILE = "model.json"  # in a run folder: the source and what from_pretrained was given


def record_base(run_dir: Path, recipe: RecipeView, path: str) -> None:
    import json

    (run_dir / MODEL_FILE).write_text(json.dumps({"source": recipe.model.source.spec, "path": path}), "utf-8")


def base_path(run_dir: Path, recipe: RecipeView, texts) -> str:
    """The base model a finished run was trained from; a cleared tiny-model cache is rebuilt
    (deterministically) from `texts()`, the training texts."""
    import json

    base = json.loads((run_dir / MODEL_FILE).read_text("utf-8"))["path"]
    if not Path(base).exists() and recipe.model.source.spec.startswith("tiny:"):
        base = resolve_source(recipe, texts())
    return base


def source_config(recipe: RecipeView):
    """The model's config without its weights: a tiny model's as it would be built, a local
    folder's config.json, a hub model's from the local cache. None: not here to read (a hub model
    not downloaded yet, a path on a remote host)."""
    src = parse_source(recipe.model.source.spec)
    if src.kind == "tiny":
        from workbench.models.tiny import tiny_config

        return tiny_config(src.arch, hidden=recipe.model.tiny_hidden_size, layers=recipe.model.tiny_layers,
                           vocab=recipe.model.tiny_vocab_size)
    path = config_file(recipe)
    if path is None:
        return None
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(path.parent))


def config_file(recipe: RecipeView) -> Path | None:
    """The config.json of a local folder or of a hub model in this machine's cache; None for a tiny
    model, or a hub model whose config is not cached."""
    src = parse_source(recipe.model.source.spec)
    if src.kind == "local":
        return Path(src.path) / "config.json"
    if src.kind == "tiny":
        return None
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(src.spec, "config.json")
    return Path(hit) if isinstance(hit, str) else None
