"""What the generative tasks share (chat classification, NER): supervised fine-tuning of a
causal LM on prompt → answer pairs with the loss on the answer only, and batched greedy
generation with left padding for evaluation.

`GenerativeTask` implements the Task protocol (workbench/tasks/base.py) for both; a subclass
supplies (its abstract methods) how records become prompts and answers (`pairs`), the texts a tiny
model's tokenizer is trained on, how generated answers are scored (`score`), how its files are
read, and the export's pieces that make a prompt and parse an answer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from workbench import rundir
from workbench.data.profile import ProfileRows
from workbench.data.splits import Splits, read_splits
from workbench.models.load import LoadedModel
from workbench.models.tiny import DECODERS
from workbench.recipe.sections import RecipeView, view_of
from workbench.tasks.base import Fail, ModelHead, Scored, TrainingData, write_rows
from workbench.tasks.exported import CardText, InferenceCode, Serving

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

IGNORE = -100  # label id the loss skips (prompt and padding tokens)
# data.* keys of tables and templates: classification reads most of them; a generative task names those it reads
TABULAR_KEYS = ("dataset", "format", "text_template", "label_column", "label_separator", "label_values", "label_map",
                "prompt_template", "instruction_template")


def check_generative(recipe: RecipeView, fail: Fail, *, accepted: tuple[str, ...] = (), hint: str = "") -> None:
    """The recipe checks every generative task shares; `accepted`: the tabular data.* keys this task
    reads (the others are refused, with `hint` saying how the task reads tables, if it does)."""
    task = recipe.task
    if recipe.train.best_metric != "loss":
        raise fail(f"train.best_metric = {recipe.train.best_metric!r}: task {task} picks its checkpoint by "
                   "validation loss (it is scored by generation after training); use \"loss\"", "train", "best_metric")
    for key in TABULAR_KEYS:
        if key not in accepted and getattr(recipe.data, key) not in ("", {}):
            raise fail(f"data.{key} is not read by task {task}" + (f"; {hint}" if hint else
                                                                    "; it reads its own files in data.train_file"),
                       "data", key)
    source = recipe.model.source
    if source.tiny_arch is not None and source.tiny_arch not in DECODERS:
        raise fail(f"model.source {source.spec.strip()!r}: task {task} generates text and needs a decoder "
                   f"({' or '.join('tiny:' + a for a in DECODERS)}, or a causal LM)", "model", "source")


# gpt-oss's chat format (harmony) opens the assistant's turn with `<|start|>assistant` and lets the
# model pick a channel: `analysis` (its reasoning) or `final` (the answer). Training answers and
# generation start in the final channel, as gpt-oss's template renders a finished answer
# (`<|start|>assistant<|channel|>final<|message|>ANSWER<|return|>`): the model answers at once, and
# base and tuned models are asked the same way.
HARMONY_TURN = "<|start|>assistant"
HARMONY_FINAL = "<|channel|>final<|message|>"


def answer_prompt(prompt: str) -> str:
    """A chat template's generation prompt, made to start the answer itself (harmony: the final channel)."""
    return prompt + HARMONY_FINAL if prompt.endswith(HARMONY_TURN) else prompt


class GenerativeTask(ABC):
    kind: ClassVar[str]
    peft_task_type: ClassVar[str] = "CAUSAL_LM"
    label_word: ClassVar[str]   # what a label is called in messages: class, entity type
    template_knobs: ClassVar[tuple[str, ...]]
    template_values: ClassVar[dict[str, Any]]
    tokenizer_note: ClassVar[str] = ""  # the export's comment on the line that loads the tokenizer
    result_tables: ClassVar[bool] = False

    def __init__(self, values: dict[str, Any]):
        self.values = values
        self.recipe = view_of(values)  # the same values, typed (workbench/recipe/sections.py)

    @staticmethod
    def default_tune_space(method: str) -> dict[str, BaseDistribution]:
        """`workbench tune`'s space when the recipe gives none (tasks/tune_space.py): the shared ranges over
        fewer epochs (each is a large model's pass, scored by generation)."""
        from workbench.tasks.tune_space import GENERATIVE_EPOCHS, shared_space

        return dict(shared_space(method, epochs=GENERATIVE_EPOCHS))

    # --- what a subclass supplies ----------------------------------------------------------------
    @abstractmethod
    def pairs(self, records: Sequence[Any], tokenizer) -> list[tuple[str, str]]:
        """records -> (prompt, answer) pairs; the prompt is what generation starts from."""
        ...

    @abstractmethod
    def tokenizer_texts(self, train: Sequence[Any]) -> list[str]:
        ...

    @abstractmethod
    def score(self, records: Sequence[Any], answers: list[str], label_names: list[str]) -> Scored:
        ...

    @abstractmethod
    def reader(self, *, unlabelled: bool = False) -> Callable[[str], Any]:
        ...

    @abstractmethod
    def label_names(self, train: Sequence[Any], validation: Sequence[Any]) -> list[str]:
        ...

    @abstractmethod
    def profile_rows(self, records: Sequence[Any], tokenizer: Any = None) -> ProfileRows:
        ...

    @abstractmethod
    def export_labels(self, meta: dict[str, Any]) -> dict[str, Any]:
        """An export's labels.json beyond the names: how an answer becomes a prediction."""
        ...

    @abstractmethod
    def code_constants(self, labels: dict[str, Any]) -> list[str]:
        """The export's constants the parsing functions read (the shared ones follow)."""
        ...

    @abstractmethod
    def code_functions(self) -> str:
        """The export's functions that make a prompt and parse an answer (beside `generate`)."""
        ...

    @abstractmethod
    def code_example(self) -> list[str]:
        """The snippet's last lines: one example answered and parsed."""
        ...

    @abstractmethod
    def serving(self) -> Serving:
        """SageMaker's contract: what one input is and what one answer holds."""
        ...

    def card_notes(self) -> list[str]:
        """The model card's notes on how the run built its prompts."""
        return []

    def sequences(self, records: Sequence[Any], tokenizer) -> list[str]:
        """The training sequences as one text each: prompt + answer + the eos token (SftDataset
        tokenizes prompt and answer apart; the length differs by a merge at the seam at most)."""
        eos = tokenizer.eos_token or ""
        return [p + a + eos for p, a in self.pairs(records, tokenizer)]

    # --- the Task protocol -------------------------------------------------------------------------
    @staticmethod
    def check_recipe(recipe: RecipeView, fail: Fail) -> None:
        check_generative(recipe, fail)

    @staticmethod
    def model_head(recipe: RecipeView) -> ModelHead:
        return ModelHead(causal=True, num_labels=0)

    def load_splits(self) -> Splits:
        read = self.reader()
        train, validation, test, _ = read_splits(self.recipe.data, lambda source, _train: read(source))
        return Splits(train, validation, test, self.label_names(train, validation), label_word=self.label_word)

    def load_model(self, path: str, label_names: list[str]) -> LoadedModel:
        import transformers

        from workbench.models.load import load_causal_lm

        transformers.set_seed(self.recipe.train.seed)
        return load_causal_lm(path, self.recipe)

    def eval_records(self, records: Sequence[Any]) -> list[Any]:
        """The first eval.max_examples records (0: all): the same ones for base and tuned."""
        cap = self.recipe.eval.max_examples
        return list(records[:cap] if cap else records)

    def training_data(self, tokenizer, splits: Splits) -> TrainingData:
        import torch

        max_len = self.recipe.model.max_length
        collator = (packed_collator() if self.recipe.train.packing
                    else sft_collator(tokenizer.pad_token_id, 8 if torch.cuda.is_available() else None))
        return TrainingData(
            train_dataset=SftDataset(tokenizer, self.pairs(splits.train, tokenizer), max_len),
            eval_dataset=SftDataset(tokenizer, self.pairs(splits.validation, tokenizer), max_len),
            data_collator=collator)

    def evaluate(self, model, tokenizer, records: Sequence[Any], label_names: list[str], *, phase: str,
                 split: str) -> Scored:
        return self.score(records, self._answers(model, tokenizer, records), label_names)

    def evaluate_prior(self, train: Sequence[Any], records: Sequence[Any], label_names: list[str], *,
                       split: str) -> Scored | None:
        """None: a constant answer is worth storing only where an answer is a class (chat classification)."""
        return None

    def labels_record(self, label_names: list[str]) -> dict[str, Any]:
        return {"labels": label_names}

    def load_finished(self, run_dir: Path, *, quantize: bool = True, to_gpu: bool = True) -> tuple[Any, Any]:
        """Its base (4-bit again when trained so, unless `quantize` is off) with the saved adapter,
        or the saved full model."""
        from workbench.models.load import load_causal_lm, place_for_inference

        if self.recipe.model.method == "full":
            loaded = load_causal_lm(str(run_dir / "model"), self.recipe, tokenizer_path=str(run_dir / "model"), quantize=False)
            model = loaded.model
        else:
            from workbench.models.peft_import import peft_without_bitsandbytes
            from workbench.models.source import base_path

            base = base_path(run_dir, self.recipe, lambda: self.tokenizer_texts(self.load_splits().train))
            loaded = load_causal_lm(base, self.recipe, tokenizer_path=str(run_dir / "adapter"), quantize=quantize)
            with peft_without_bitsandbytes():  # unless the base loaded in 4 bits
                from peft import PeftModel

                model = PeftModel.from_pretrained(loaded.model, str(run_dir / "adapter"))
        if to_gpu:
            model = place_for_inference(model, quantized=quantize and self.recipe.quant.use_4bit)
        return model, loaded.tokenizer

    def predict_file(self, run_dir: Path, input_path: Path, output: Path, batch_size: int | None = None) -> dict[str, Any]:
        return self.predict_loaded(lambda: self.load_for_predict(run_dir), run_dir, input_path, output, batch_size)

    def load_for_predict(self, run_dir: Path, *, base: bool = False) -> tuple[Any, Any]:
        """(model, tokenizer) for `predict_loaded`: the run's tuned model, or (`base`) the model it was
        trained from, loaded as the run's base evaluation loaded it."""
        if not base:
            return self.load_finished(run_dir)
        from workbench.models.load import place_for_inference
        from workbench.models.source import base_path

        names = rundir.read_labels(run_dir)["labels"]
        loaded = self.load_model(base_path(run_dir, self.recipe, lambda: self.tokenizer_texts(self.load_splits().train)),
                                 names)
        return place_for_inference(loaded.model, quantized=self.recipe.quant.use_4bit), loaded.tokenizer

    def predict_loaded(self, load: Callable[[], tuple[Any, Any]], run_dir: Path, input_path: Path, output: Path,
                       batch_size: int | None = None) -> dict[str, Any]:
        """predict_file with the model `load()` gives (called once the input has been read: bad input stops
        before any model loads); a caller that keeps a loaded model hands it back through `load`."""
        records = self.reader(unlabelled=True)(str(input_path))  # bad input stops here, before the model loads
        model, tok = load()
        names = rundir.read_labels(run_dir)["labels"]
        scored = self.score(records, self._answers(model, tok, records, batch_size), names)
        write_rows(output, scored.rows)
        out: dict[str, Any] = {"rows": len(records), "output": str(output)}
        if scored.extra.get("scored", True):  # the input had answers / tags: metrics as for a split
            out.update(labels=scored.labels, aggregates=scored.aggregates)
        else:
            out["counts"] = scored.aggregates
        return out

    # --- a finished run exported (workbench export; workbench/tasks/exported.py) ------------------
    def card_text(self, labels: dict[str, Any]) -> CardText:
        return CardText(label_word=self.label_word, labels_file="`labels.json`: label names in output order",
                        data=[], with_adapter=[], knobs=("eval.max_new_tokens",),
                        labels_section=["## Labels", "", f"Labels ({', '.join(labels['labels'])}): {labels['decision']}.",
                                        ""],
                        notes=self.card_notes())

    def inference_code(self, labels: dict[str, Any], folder: str) -> InferenceCode:
        keep = max(1, self.recipe.model.max_length - self.recipe.eval.max_new_tokens)
        constants = [*self.code_constants(labels), f"MAX_NEW_TOKENS = {self.recipe.eval.max_new_tokens}",
                     f"KEEP = {keep}  # prompt tokens kept (model.max_length - MAX_NEW_TOKENS): longer prompts lose "
                     "their start",
                     f"BATCH_SIZE = {self.recipe.eval.batch_size}  # prompts answered together (eval.batch_size), as "
                     "the run did"]
        return InferenceCode(
            model_class="AutoModelForCausalLM", stdlib=("re",), constants=constants, tokenizer_note=self.tokenizer_note,
            load_adapter=["model = AutoModelForCausalLM.from_pretrained(BASE)",
                          f"model = PeftModel.from_pretrained(model, {folder})"],
            verb="generate", functions=GENERATE.strip("\n") + "\n\n\n" + self.code_functions().strip("\n"),
            example=self.code_example(), serving=self.serving())

    def _answers(self, model, tokenizer, records: Sequence[Any], batch_size: int | None = None) -> list[str]:
        prompts = [p for p, _ in self.pairs(records, tokenizer)]
        return generate(model, tokenizer, prompts, batch_size=batch_size or self.recipe.eval.batch_size,
                        max_new_tokens=self.recipe.eval.max_new_tokens, max_length=self.recipe.model.max_length)


# --- tokenisation ------------------------------------------------------------------------------

def _prompt_ids(tokenizer, prompt: str) -> list[int]:
    # Chat templates of real models start with the bos token themselves: adding it again would
    # give the model a prompt it never saw in its own training.
    special = not (tokenizer.bos_token and prompt.startswith(tokenizer.bos_token))
    return tokenizer(prompt, add_special_tokens=special)["input_ids"]


class SftDataset:
    """prompt + answer + eos, tokenised once; labels are IGNORE over the prompt, so the loss is
    on the answer only. Longer examples lose the start of their prompt, never the answer.
    A map-style dataset (DataLoader needs only __len__ and __getitem__)."""

    def __init__(self, tokenizer, pairs: list[tuple[str, str]], max_length: int):
        self.items: list[dict[str, list[int]]] = []
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        for prompt, answer in pairs:
            p = _prompt_ids(tokenizer, prompt)
            a = tokenizer(answer, add_special_tokens=False)["input_ids"] + eos
            a = a[:max_length]
            p = p[max(0, len(p) - (max_length - len(a))):] if max_length > len(a) else []
            ids = p + a
            self.items.append({"input_ids": ids, "attention_mask": [1] * len(ids),
                               "labels": [IGNORE] * len(p) + a})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


def sft_collator(pad_id: int, multiple: int | None = None):
    """Right-pads a batch to its own longest example (labels padded with IGNORE)."""

    import torch

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        n = max(len(b["input_ids"]) for b in batch)
        if multiple:
            n = -(-n // multiple) * multiple
        out: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
        for b in batch:
            pad = n - len(b["input_ids"])
            out["input_ids"].append(b["input_ids"] + [pad_id] * pad)
            out["attention_mask"].append(b["attention_mask"] + [0] * pad)
            out["labels"].append(b["labels"] + [IGNORE] * pad)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}

    return collate


def packed_collator():
    """One row per batch: its examples end to end, position ids restarting at 0 for each, no
    attention mask and no padding (train.packing). transformers reads the example boundaries from
    the position ids: flash_attention_2 as variable-length sequences, sdpa and eager as a
    block-diagonal causal mask. The first label of each example becomes IGNORE, so the last token of
    one example is never trained to predict the first of the next; that token is a prompt token,
    already IGNORE, unless truncation left an answer alone."""
    from transformers import DataCollatorWithFlattening

    # Labels are given (IGNORE over the prompt); attention_mask is left out of the row on purpose:
    # with a mask present transformers would not look for packed sequences in the position ids.
    flatten = DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE)

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        row = flatten([{"input_ids": b["input_ids"], "labels": b["labels"]} for b in batch])
        # No key/value cache in this forward: transformers looks for packed sequences only when there
        # is none, and a model whose config says use_cache (most do) would make one, letting every
        # example attend to the ones before it in the row.
        row["use_cache"] = False
        return row

    return collate


# --- generation --------------------------------------------------------------------------------

def generate(model, tokenizer, prompts: list[str], *, batch_size: int, max_new_tokens: int, max_length: int) -> list[str]:
    """Greedy answers, in input order. Prompts are batched by length (least padding) and padded
    on the left, so every row's answer starts right after its own prompt."""
    import torch

    encoded = [_prompt_ids(tokenizer, p) for p in prompts]
    keep = max(1, max_length - max_new_tokens)
    encoded = [ids[-keep:] for ids in encoded]   # over-long prompts lose their start
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), i))
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device
    answers = [""] * len(prompts)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            n = max(len(encoded[i]) for i in idx)
            ids = torch.tensor([[pad] * (n - len(encoded[i])) + encoded[i] for i in idx], device=device)
            mask = torch.tensor([[0] * (n - len(encoded[i])) + [1] * len(encoded[i]) for i in idx], device=device)
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=pad, eos_token_id=tokenizer.eos_token_id)
            # .cpu() is a GPU->CPU sync point, once per batch
            for row, i in zip(out[:, n:].cpu().tolist(), idx):
                answers[i] = tokenizer.decode(row, skip_special_tokens=True).strip()
    model.train(was_training)
    return answers


def answer_logprobs(model, tokenizer, pairs: list[tuple[str, str]], *, batch_size: int, max_length: int):
    """Each (prompt, answer) pair's log-likelihood under the model, teacher-forced: the sum over the
    answer's tokens and the eos of log p(token | all before it), the sequence built as training builds
    it (SftDataset: a long prompt loses its start). Batched by length and padded on the left with
    position ids from the mask (as generation pads), so every answer ends the row and the model
    computes logits for the last answer-length positions only (logits_to_keep), not a batch x length
    x vocabulary tensor. A numpy array in input order."""
    import numpy as np
    import torch

    ds = SftDataset(tokenizer, pairs, max_length)
    order = sorted(range(len(ds)), key=lambda i: (len(ds.items[i]["input_ids"]), i))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    out = np.zeros(len(ds), dtype=np.float64)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            items = [ds.items[i] for i in idx]
            n = max(len(it["input_ids"]) for it in items)
            ids = torch.tensor([[pad] * (n - len(it["input_ids"])) + it["input_ids"] for it in items], device=device)
            mask = torch.tensor([[0] * (n - len(it["input_ids"])) + [1] * len(it["input_ids"]) for it in items],
                                device=device)
            labels = torch.tensor([[IGNORE] * (n - len(it["labels"])) + it["labels"] for it in items], device=device)
            # the longest answer (with its eos) and the position before it: the logits that predict it
            keep = min(n, max(sum(v != IGNORE for v in it["labels"]) for it in items) + 1)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
            target = labels[:, n - keep + 1:]
            picked = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(
                -1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            # .cpu() is a GPU->CPU sync point, once per batch
            out[idx] = (picked * (target != IGNORE)).sum(dim=1).double().cpu().numpy()
    model.train(was_training)
    return out


# SageMaker's inference.py (Serving.settings of the generative tasks): the environment's MAX_LENGTH
# over the run's model.max_length, prompt and answer together, as KEEP is derived from it
SERVING_SETTINGS = '''
def apply_settings(environ):
    """MAX_LENGTH (prompt and answer together) from the environment; MULTILABEL_THRESHOLD refused."""
    global KEEP
    unused(environ, "MULTILABEL_THRESHOLD", "this model generates answers (it has no thresholds)")
    max_length = setting(environ, "MAX_LENGTH", int, f"a whole number of tokens above MAX_NEW_TOKENS "
                         f"({MAX_NEW_TOKENS}): prompt and answer together", lambda v: v > MAX_NEW_TOKENS)
    if max_length is not None:
        KEEP = max_length - MAX_NEW_TOKENS
'''
SERVING_ENVIRONMENT = ("MAX_LENGTH (prompt and answer together, in tokens; the run's model.max_length: a prompt keeps its "
               "last MAX_LENGTH - MAX_NEW_TOKENS tokens)")


# The export's copy of `generate` (workbench/tasks/exported.py): the same batches (prompts sorted by
# length, padded on the left) give the same greedy answers; one prompt at a time could differ in the
# last float bit.
GENERATE = '''
def generate(model, tokenizer, prompts, batch_size=BATCH_SIZE):
    """Greedy answers to prompts, in their order, as the run evaluated: batched by length, padded on the left."""
    encoded = []
    for prompt in prompts:
        # chat templates start with the bos token themselves: adding another would change the prompt
        special = not (tokenizer.bos_token and prompt.startswith(tokenizer.bos_token))
        encoded.append(tokenizer(prompt, add_special_tokens=special)["input_ids"][-KEEP:])
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), i))
    pad = tokenizer.pad_token_id
    answers = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        n = max(len(encoded[i]) for i in idx)
        ids = torch.tensor([[pad] * (n - len(encoded[i])) + encoded[i] for i in idx], device=model.device)
        mask = torch.tensor([[0] * (n - len(encoded[i])) + [1] * len(encoded[i]) for i in idx], device=model.device)
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                 pad_token_id=pad, eos_token_id=tokenizer.eos_token_id)
        for row, i in zip(out[:, n:].tolist(), idx):
            answers[i] = tokenizer.decode(row, skip_special_tokens=True).strip()
    return answers
'''
