"""Named-entity recognition as instruction SFT of a decoder (the QLoRA NER recipe).

Sentences come from CoNLL files or a ready instruction JSON; each becomes
`### Instruction: Extract named entities from the sentence: '...' ### Response: TYPE: a, b; ...`.
Evaluation generates the response (batched, left padding), parses it back to entities, tags
the sentence's tokens in BIO and scores them with seqeval per entity type; answers that do
not parse are counted as malformed (what parsed of them still counts), never fatal. An entity
the answer names that tags no token (not in the sentence) is invented: a false positive of its
type. One named under a type the run does not know has no type to count against: it is counted
in `invented_unknown_type` (and makes its answer malformed), in no precision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from workbench import rundir
from workbench.data.ner import (
    END_MARKERS,
    PROMPT,
    NerSentence,
    check_instruction,
    entity_mentions,
    entity_types,
    parse_response,
    place_entities,
    prompt_for,
    read_ner_file,
    response_for,
)
from workbench.data.profile import ProfileRows
from workbench.metrics.entities import entity_report
from workbench.recipe import metric_names
from workbench.recipe.sections import RecipeView
from workbench.tasks.base import Fail, Scored, Task, refuse_base_system_prompt
from workbench.tasks.exported import Serving, as_python
from workbench.tasks.generative import SERVING_ENVIRONMENT, SERVING_SETTINGS, GenerativeTask, check_generative
from workbench.tasks.mistakes import Judged, Mistake, line_of


def pairs(records: Sequence[NerSentence], instruction: str = "", types: Sequence[str] = ()) -> list[tuple[str, str]]:
    return [(prompt_for(s.tokens, instruction, types), response_for(s.tokens, s.tags) if s.tags is not None else "")
            for s in records]


def score(records: Sequence[NerSentence], answers: list[str], types: list[str]) -> Scored:
    gold, pred, invented, rows = [], [], [], []
    malformed = unknown_type = 0
    labelled = all(s.tags is not None for s in records)
    for s, answer in zip(records, answers):
        parsed = parse_response(answer, types)
        malformed += parsed.malformed
        unknown_type += parsed.unknown_type
        tags, unplaced = place_entities(s.tokens, parsed.entities)
        pred.append(tags)
        invented.append([typ for typ, names in unplaced.items() for _ in names])
        row = {"line": s.line, "sentence": " ".join(s.tokens), "answer": answer, "malformed": parsed.malformed,
               "predicted": parsed.entities, "invented": unplaced, "tags": tags}
        if labelled and s.tags is not None:
            gold.append(list(s.tags))
            row["gold"] = response_for(s.tokens, s.tags)
        rows.append(row)
    if not labelled:  # tokens-only predict input: entities found, nothing to score
        return Scored({}, {"examples": float(len(records)), "malformed": float(malformed),
                           "invented": float(sum(map(len, invented)))}, rows, extra={"scored": False})
    per_type, agg, report = entity_report(gold, pred, invented)
    agg["invented_unknown_type"] = float(unknown_type)
    agg["malformed"] = float(malformed)
    agg["malformed_rate"] = malformed / max(1, len(records))
    return Scored(per_type, agg, rows, report=report)


class NerTask(GenerativeTask):
    kind: ClassVar[str] = "ner"
    label_word: ClassVar[str] = "entity type"
    metrics: ClassVar[tuple[str, ...]] = metric_names.ENTITIES
    template_knobs: ClassVar[tuple[str, ...]] = ("quant.use_4bit", "eval.batch_size", "eval.max_new_tokens")
    template_values: ClassVar[dict[str, Any]] = {
        "model.source": "tiny:llama", "data.train_file": "data/train.txt", "lora.target_modules": ["q_proj", "v_proj"]}

    def reader(self, *, unlabelled: bool = False) -> Callable[[str], list[NerSentence]]:
        max_rows = 0 if unlabelled else self.recipe.data.max_rows
        return lambda p: read_ner_file(p, max_rows=max_rows, tags_optional=unlabelled)

    def plain_texts_input(self, texts: Sequence[str], folder: Path) -> tuple[Path, dict[str, Any]]:
        """CoNLL of tokens only: each text a sentence, its tokens split at white space."""
        path = folder / "texts.txt"
        path.write_text("\n".join("\n".join(t.split()) + "\n" for t in texts), encoding="utf-8")
        return path, {}

    def plain_result(self, row: dict[str, Any]) -> list[str]:
        """The entities found, a line per type (TYPE: name, name), then the answer generated."""
        found = row.get("predicted") or {}
        lines = [f"{kind}: {', '.join(map(str, names))}" for kind, names in found.items() if names]
        return [*(lines or ["no entities"]), f"answer: {row.get('answer', '')}"]

    types: list[str] = []  # the entity types of the training data (or of the finished run), for the instruction

    @staticmethod
    def check_recipe(recipe: RecipeView, fail: Fail) -> None:
        refuse_base_system_prompt(recipe, fail)
        template = recipe.data.instruction_template
        if template:
            try:
                check_instruction(template)
            except ValueError as e:
                raise fail(f"data.instruction_template: {e}", "data", "instruction_template") from None
        check_generative(recipe, fail, accepted=("instruction_template",))

    def label_names(self, train, validation) -> list[str]:
        self.types = entity_types(list(train) + list(validation))
        return self.types

    def load_finished(self, run_dir: Path, *, quantize: bool = True, to_gpu: bool = True) -> tuple[Any, Any]:
        self.types = rundir.read_labels(run_dir)["labels"]
        return super().load_finished(run_dir, quantize=quantize, to_gpu=to_gpu)

    def pairs(self, records: Sequence[NerSentence], tokenizer) -> list[tuple[str, str]]:
        return pairs(records, self.recipe.data.instruction_template, self.types)

    def profile_rows(self, records: Sequence[NerSentence], tokenizer: Any = None) -> ProfileRows:
        """Instruction prompt + response (+ eos with a tokenizer), as training feeds them; labels:
        the entity type of each entity mention in the gold tags; examples show the sentence."""
        texts = self.sequences(records, tokenizer) if tokenizer is not None else [p + a for p, a in self.pairs(records, None)]
        return ProfileRows(texts, [entity_mentions(s.tags or []) for s in records], label_unit="mentions",
                           shown=[" ".join(s.tokens) for s in records])

    def tokenizer_texts(self, train: Sequence[NerSentence]) -> list[str]:
        return [p + a for p, a in self.pairs(train, None)]

    def score(self, records: Sequence[NerSentence], answers: list[str], label_names: list[str]) -> Scored:
        return score(records, answers, label_names)

    # --- a finished run exported (workbench export; workbench/tasks/exported.py) ------------------
    def export_labels(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {"decision": "entities parsed from the generated answer (TYPE: name, name; TYPE: name)"}

    def code_constants(self, labels: dict[str, Any]) -> list[str]:
        return [f"TYPES = {as_python(labels['labels'])}",
                f"PROMPT = {as_python(self.recipe.data.instruction_template or PROMPT)}",
                "# an answer is cut at the first of these",
                f"END_MARKERS = {as_python(list(END_MARKERS))}"]

    def code_functions(self) -> str:
        return NER

    def code_example(self) -> list[str]:
        return [f"reply, = generate(model, tokenizer, [ner_prompt({as_python(EXAMPLE_SENTENCE)}.split())])",
                "print(repr(reply), entities(reply))"]

    def serving(self) -> Serving:
        return Serving(
            item="a sentence (its tokens separated by spaces) or a list of its tokens",
            # a list of strings is a batch of sentences; one sentence's tokens come as a list inside it
            one_item="isinstance(inputs, str)", check=CHECK_SENTENCE, predict=PREDICT_FN,
            settings=SERVING_SETTINGS, environment=SERVING_ENVIRONMENT,
            request='`{"inputs": "John Smith flew to Rome ."}` (tokens separated by spaces, as in the training data), '
                    'a list of sentences, or of token lists',
            answer='{"answer": "the generated text", "predicted": {"TYPE": ["name", ...]}, "malformed": false}',
            as_run="prompt, its eval.max_new_tokens, greedy")


# --- the export's stand-alone code (workbench/tasks/exported.py): the prompt as data/ner.py: prompt_for
# builds it and the entities as data/ner.py: parse_response reads them

EXAMPLE_SENTENCE = "John Smith flew from Paris to Rome ."

NER = '''
def ner_prompt(tokens):
    """The prompt of a sentence given as its tokens (the training data's tokens, joined by spaces)."""
    return PROMPT.format(sentence=" ".join(tokens), entity_types=", ".join(TYPES))


def entities(reply):
    """({entity type: [names]}, malformed) from an answer "TYPE: name, name; TYPE: name"; malformed: a part
    named no known type (the other parts still count)."""
    cut = min([reply.find(m) for m in END_MARKERS if m in reply] + [len(reply)])
    lines = []
    for line in reply[:cut].splitlines():
        if line.lstrip().startswith("### "):  # the model went on to a new section
            break
        lines.append(line)
    canonical = {t.lower(): t for t in reversed(TYPES)}  # types match case-insensitively; the first spelling wins
    found, malformed = {}, False
    for part in re.split(r"[;\\n]", "\\n".join(lines)):
        if not part.strip():
            continue
        kind, colon, names = part.strip().partition(":")
        kind = canonical.get(kind.strip().lower()) if colon and kind.strip() else None
        if kind is None:
            malformed = True
            continue
        got = found.setdefault(kind, [])
        got.extend(n for n in (" ".join(x.split()) for x in names.split(",")) if n and n not in got)
    return {k: v for k, v in found.items() if v}, malformed
'''

# SageMaker's inference.py: one input is a sentence, or its tokens
CHECK_SENTENCE = '''
def check_item(item, i, key="inputs"):
    """A sentence's tokens: a sentence split on whitespace, or the tokens as given."""
    if isinstance(item, str):
        return item.split()
    if not isinstance(item, list) or not all(isinstance(t, str) for t in item):
        raise ValueError(f"{key}[{i}]: expected a sentence or a list of its tokens")
    return list(item)
'''
PREDICT_FN = '''
def predict_fn(data, model):
    """Per sentence: {"answer": the generated text, "predicted": {entity type: [names]}, "malformed": bool}."""
    model, tokenizer = model
    replies = generate(model, tokenizer, [ner_prompt(tokens) for tokens in data])
    return [{"answer": reply, "predicted": found, "malformed": malformed}
            for reply, (found, malformed) in zip(replies, map(entities, replies))]
'''

TASK: type[Task] = NerTask


def judge_row(row: dict[str, Any]) -> Judged:
    """A prediction row of `score` judged (`workbench errors`, workbench/tasks/mistakes.py): wrong when the
    entities the answer names ("TYPE: name", each once) are not the gold ones. Missed: gold entities not
    named; added: named entities the gold lacks (an invented one, not in the sentence, among them). No
    scores: confidence none (the number missed and added orders them)."""
    gold_text = row.get("gold")
    named = {(str(t), str(n)) for t, names in (row.get("predicted") or {}).items() for n in names}
    gold: set[tuple[str, str]] = set()
    if isinstance(gold_text, str):
        types = [part.partition(":")[0].strip() for part in gold_text.split(";") if ":" in part]
        gold = {(t, n) for t, names in parse_response(gold_text, types).entities.items() for n in names}
    labels = frozenset(t for t, _ in gold | named)
    if gold_text is None or gold == named:
        return Judged(None, labels)
    missed, added = sorted(gold - named), sorted(named - gold)
    return Judged(Mistake(line_of(row), str(row.get("sentence", "")), str(gold_text), _entities(named), None,
                          missed=tuple(f"{t}: {n}" for t, n in missed), added=tuple(f"{t}: {n}" for t, n in added),
                          answer=str(row.get("answer", "")), about=tuple(sorted({t for t, _ in missed + added}))),
                  labels)


def _entities(pairs: set[tuple[str, str]]) -> str:
    """(type, name) pairs as a response writes them: "LOC: Paris, Rome; PER: John" (types alphabetical)."""
    by_type: dict[str, list[str]] = {}
    for typ, name in sorted(pairs):
        by_type.setdefault(typ, []).append(name)
    return "; ".join(f"{typ}: {', '.join(names)}" for typ, names in by_type.items())
