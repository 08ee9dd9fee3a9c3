"""A model built from its config on the meta device (accelerate's `init_empty_weights`: no weights
read or allocated): what the memory estimate counts, and what a recipe's LoRA modules are resolved
against before launch.

`lora_module_problem` matches lora.target_modules and lora.modules_to_save by peft's own rules
(its `check_target_module_exists` for targets, the suffix match of its `_set_trainable` for modules
to save), then wraps the meta model with the LoraConfig training uses: a name the model does not
have is one line listing the layers it has, not peft's error in a run that was called valid.
"""

from __future__ import annotations

import warnings

from workbench.recipe.sections import RecipeView


def meta_model(config, *, causal: bool, num_labels: int = 2):
    """The model of `config` as training builds it (a causal LM, or a sequence classifier with a
    head of `num_labels`), on the meta device."""
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    with init_empty_weights():
        if causal:
            return AutoModelForCausalLM.from_config(config)
        config.num_labels = num_labels
        return AutoModelForSequenceClassification.from_config(config)


def wrap_lora(model, recipe: RecipeView, *, causal: bool):
    """The meta model wrapped by peft with the recipe's LoraConfig (the one training uses); the
    classifier heads it has train and are saved, as training's new heads are."""
    from accelerate import init_empty_weights

    from workbench.models.load import HEAD_MODULES, lora_config, quiet_transformers
    from workbench.models.peft_import import peft_without_bitsandbytes

    quiet_transformers()
    heads = [] if causal else [n for n in HEAD_MODULES if getattr(model, n, None) is not None]
    with peft_without_bitsandbytes(), init_empty_weights(), warnings.catch_warnings():
        from peft import get_peft_model

        warnings.simplefilter("ignore", FutureWarning)  # peft reads a deprecated transformers property
        return get_peft_model(model, lora_config(recipe, heads, "CAUSAL_LM" if causal else "SEQ_CLS"))


def layer_names(model) -> list[str]:
    """The distinct last names of the layers LoRA can adapt, in the model's order (q_lin, k_lin, ...)."""
    return list(dict.fromkeys(name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                              if name and _adaptable(module)))


def _adaptable(module) -> bool:
    """What peft's LoRA can adapt (peft/tuners/lora/layer.py: dispatch_default), unquantized as on the meta device."""
    import torch
    from transformers.pytorch_utils import Conv1D

    return isinstance(module, (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d,
                               torch.nn.MultiheadAttention, Conv1D))


def lora_module_problem(recipe: RecipeView, config, *, causal: bool) -> tuple[str, str] | None:
    """(knob, message) when the recipe's LoRA modules cannot work on the model of `config`; None when
    they can (or the method is not LoRA)."""
    import copy

    from workbench.models.load import ALL_LINEAR, lora_config, quiet_transformers
    from workbench.models.peft_import import peft_without_bitsandbytes

    if recipe.model.method != "lora":
        return None
    quiet_transformers()
    with peft_without_bitsandbytes():
        from peft.tuners.tuners_utils import check_target_module_exists

    try:
        model = meta_model(config, causal=causal)
    except (ValueError, KeyError, ImportError):
        return None  # an architecture transformers cannot build here (a newer one): the dry run's memory note says so
    what = f"{recipe.model.source.spec} ({type(model).__name__})"
    layers = f"its layers: {', '.join(layer_names(model))}"
    modules = dict(model.named_modules(remove_duplicate=False))
    targets = list(recipe.lora.target_modules)
    if len(targets) > 1 and any(t.lower() == ALL_LINEAR for t in targets):
        return "lora.target_modules", f"lora.target_modules: {ALL_LINEAR!r} (every linear layer) stands alone, not beside names"
    if targets and targets[0].lower() != ALL_LINEAR:
        config_of = lora_config(recipe, [], "CAUSAL_LM" if causal else "SEQ_CLS")
        for target in targets:
            one = copy.copy(config_of)
            one.target_modules = {target}
            matched = [key for key in modules if check_target_module_exists(one, key)]
            if not matched:
                return "lora.target_modules", f"lora.target_modules: {target!r} is no layer of {what}; {layers}"
            odd = next((key for key in matched if not _adaptable(modules[key])), None)
            if odd is not None:
                return "lora.target_modules", (f"lora.target_modules: {target!r} names {odd}, a "
                                               f"{type(modules[odd]).__name__}, which LoRA cannot adapt (it adapts "
                                               f"Linear, Conv1D, Conv and Embedding layers); {layers}")
    for name in recipe.lora.modules_to_save:
        if not any(key.endswith(name) for key in modules):  # peft's match for modules to save: a suffix
            return "lora.modules_to_save", f"lora.modules_to_save: {name!r} is no module of {what}; {layers}"
    try:
        wrap_lora(model, recipe, causal=causal)
    except (ValueError, TypeError) as e:  # peft's refusal of this combination
        if not targets:
            return "lora.target_modules", (f"lora.target_modules is empty and peft has no default for {what}: name "
                                           f"the layers to adapt; {layers}")
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return "lora.target_modules", f"lora.target_modules: peft cannot adapt {what} so ({first}); {layers}"
    return None


# What decides whether a run's LoRA modules fit its model, beside the model's config.
LORA_MODULE_KNOBS = ("model.method", "lora.target_modules", "lora.modules_to_save")


def check_lora_modules(recipe: RecipeView, *, causal: bool) -> tuple[str, str] | None:
    """lora_module_problem for the model `recipe` names, when its config is here (a tiny model, a
    local folder, a hub model's config in this machine's cache; otherwise None: not checked here).

    Building the meta model takes torch, transformers and peft (seconds of imports): a pass is
    remembered in the cache, keyed by the config's bytes (a tiny model's settings), the task's kind
    of model, the LoRA knobs and the versions of workbench, transformers and peft, so validating or
    launching an unchanged recipe again costs none of it."""
    import hashlib
    import json
    from importlib.metadata import version

    from workbench.cache import cache_dir
    from workbench.models.source import config_file, source_config

    if recipe.model.method != "lora":
        return None
    path = config_file(recipe)
    if path is None and not recipe.model.source.spec.startswith("tiny:"):
        return None  # a hub model not in this cache: not checked here
    model = recipe.model
    identity = hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else [
        model.source.spec, model.tiny_hidden_size, model.tiny_layers, model.tiny_vocab_size]
    # the values of LORA_MODULE_KNOBS, in its order
    key = json.dumps([identity, causal, [model.method, recipe.lora.target_modules, recipe.lora.modules_to_save],
                      [version(p) for p in ("workbench", "transformers", "peft")]])
    passed = cache_dir("checks") / f"lora-{hashlib.sha256(key.encode()).hexdigest()[:32]}"
    if passed.exists():
        return None
    try:
        config = source_config(recipe)
    except (ValueError, KeyError, OSError):
        return None  # a config.json transformers cannot read here: the dry run's memory note says why
    problem = lora_module_problem(recipe, config, causal=causal)
    if problem is None:
        try:
            passed.parent.mkdir(parents=True, exist_ok=True)
            passed.touch()
        except OSError:
            pass  # a cache that cannot be written only costs the check again next time
    return problem
