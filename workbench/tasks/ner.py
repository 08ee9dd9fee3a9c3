"""Named-entity recognition as instruction SFT of a decoder (the QLoRA NER recipe).

Sentences come from CoNLL files or a ready instruction JSON; each becomes
`### Instruction: Extract named entities from the sentence: '...' ### Response: TYPE: a, b; ...`.
Evaluation generates the response (batched, left padding), parses it back to entities, tags
the sentence's tokens in BIO and scores them with seqeval per entity type; answers that do
not parse are counted as malformed (what parsed of them still counts), never fatal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workbench import rundir
from workbench.data.ner import (
    NerSentence,
    check_instruction,
    entities_to_bio,
    entity_mentions,
    entity_types,
    parse_response,
    prompt_for,
    read_ner_file,
    response_for,
)
from workbench.data.profile import ProfileRows
from workbench.metrics.entities import entity_report
from workbench.tasks.base import Fail, Scored
from workbench.tasks.generative import GenerativeTask, check_generative


def pairs(records: Sequence[NerSentence], instruction: str = "", types: Sequence[str] = ()) -> list[tuple[str, str]]:
    return [(prompt_for(s.tokens, instruction, types), response_for(s.tokens, s.tags) if s.tags is not None else "")
            for s in records]


def score(records: Sequence[NerSentence], answers: list[str], types: list[str]) -> Scored:
    gold, pred, rows = [], [], []
    malformed = 0
    labelled = all(s.tags is not None for s in records)
    for s, answer in zip(records, answers):
        parsed = parse_response(answer, types)
        malformed += parsed.malformed
        tags = entities_to_bio(s.tokens, parsed.entities)
        pred.append(tags)
        row = {"line": s.line, "sentence": " ".join(s.tokens), "answer": answer, "malformed": parsed.malformed,
               "predicted": parsed.entities, "tags": tags}
        if labelled and s.tags is not None:
            gold.append(list(s.tags))
            row["gold"] = response_for(s.tokens, s.tags)
        rows.append(row)
    if not labelled:  # tokens-only predict input: entities found, nothing to score
        return Scored({}, {"examples": float(len(records)), "malformed": float(malformed)}, rows,
                      extra={"scored": False})
    per_type, agg, report = entity_report(gold, pred)
    agg["malformed"] = float(malformed)
    agg["malformed_rate"] = malformed / max(1, len(records))
    return Scored(per_type, agg, rows, report=report)


class NerTask(GenerativeTask):
    kind = "ner"
    label_word = "entity type"

    def reader(self, *, unlabelled: bool = False) -> Callable[[str], list[NerSentence]]:
        max_rows = 0 if unlabelled else self.values["data.max_rows"]
        return lambda p: read_ner_file(p, max_rows=max_rows, tags_optional=unlabelled)

    types: list[str] = []  # the entity types of the training data (or of the finished run), for the instruction

    @staticmethod
    def check_recipe(values: dict[str, Any], fail: Fail) -> None:
        if values["data.instruction_template"]:
            try:
                check_instruction(values["data.instruction_template"])
            except ValueError as e:
                raise fail(f"data.instruction_template: {e}", "data", "instruction_template") from None
        check_generative(values, fail, accepted=("instruction_template",))

    def label_names(self, train, validation) -> list[str]:
        self.types = entity_types(list(train) + list(validation))
        return self.types

    def load_finished(self, run_dir: Path, *, quantize: bool = True, to_gpu: bool = True) -> tuple[Any, Any]:
        self.types = rundir.read_labels(run_dir)["labels"]
        return super().load_finished(run_dir, quantize=quantize, to_gpu=to_gpu)

    def pairs(self, records: Sequence[NerSentence], tokenizer) -> list[tuple[str, str]]:
        return pairs(records, self.values["data.instruction_template"], self.types)

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
