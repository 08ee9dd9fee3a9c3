"""What a run's model got wrong on a split, for `workbench errors RUN` and the app's Errors tab: read from
the run folder's prediction files (predictions_tuned_<split>.jsonl; predictions_base_<split>.jsonl for
what tuning fixed or broke), each row judged by its task (workbench/tasks/mistakes.py)."""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import rundir
from workbench.actions.refs import resolve_run, run_dir_of
from workbench.errors import UserError
from workbench.store.db import connect
from workbench.tasks.mistakes import Mistake, judge_of
from workbench.textfile import read_text_file

# which mistakes: the tuned model's; the base model's that tuning fixed (tuned right); the tuned model's
# where the base model was right (tuning broke them)
WHICH = ("wrong", "fixed", "broken")


@dataclass(frozen=True)
class Errors:
    """A run's mistakes on a split, most confident first (Mistake.confidence; then the most labels or
    entities missed and added; then file order). `rows` holds at most `limit`; `matched` counts all
    that passed the filters. `phase`: whose predictions the rows show (base for `fixed`, else tuned).
    `cells`: (gold, predicted, count) of the matched single-label mistakes, most first."""

    run_id: str
    split: str
    which: str
    phase: str
    file: str
    examples: int
    matched: int
    rows: tuple[Mistake, ...]
    cells: tuple[tuple[str, str, int], ...]


def list_errors(store: Path, ref: str, *, split: str = "validation", which: str = "wrong", label: str | None = None,
                cell: tuple[str, str] | None = None, limit: int | None = None, read_only: bool = True) -> Errors:
    """The mistakes of run `ref` on `split` (`which`: WHICH), those involving `label` or in confusion cell
    `cell` (gold, predicted) only; `read_only` as in refs.find_run_dir (False inside the app)."""
    if which not in WHICH:
        raise UserError(f"which mistakes: {which!r} (expected one of {', '.join(WHICH)})")
    if limit is not None and limit < 0:
        raise UserError(f"--limit {limit}: expected 0 (all) or a positive number")
    with connect(store, read_only=read_only) as con:
        run_id = resolve_run(con, ref)
    run_dir = run_dir_of(store, run_id, read_only=read_only)
    judge = judge_of(_task_of(run_dir))
    tuned_path = _predictions(run_dir, run_id, "tuned", split)
    tuned = [judge(row) for row in _rows(tuned_path)]
    file = tuned_path
    if which == "wrong":
        judged = tuned
    else:
        base_path = _predictions(run_dir, run_id, "base", split)
        base = [judge(row) for row in _rows(base_path)]
        if len(base) != len(tuned):
            raise UserError(f"{base_path.name} holds {len(base)} rows and {tuned_path.name} {len(tuned)}: "
                            "expected the same rows scored twice")
        if which == "fixed":  # the base model's mistakes the tuned model got right
            judged = [b for b, t in zip(base, tuned) if b.mistake and not t.mistake]
            file = base_path
        else:  # the tuned model's mistakes on rows the base model got right
            judged = [t for b, t in zip(base, tuned) if t.mistake and not b.mistake]
    if label is not None:
        known = frozenset().union(*(j.labels for j in tuned))
        if label not in known:
            raise UserError(f"--label {label}: no row of {tuned_path.name} names it (labels: "
                            f"{', '.join(sorted(known)[:20]) or 'none'})")
    mistakes = [j.mistake for j in judged if j.mistake is not None and (label is None or label in j.mistake.about)]
    cells = Counter(m.cell for m in mistakes if m.cell)
    if cell is not None:
        mistakes = [m for m in mistakes if m.cell == tuple(cell)]
    ordered = sorted(enumerate(mistakes), key=lambda im: _rank(*im))
    shown = [m for _, m in ordered][:limit or None]
    return Errors(run_id, split, which, "base" if which == "fixed" else "tuned", str(file), len(tuned), len(mistakes),
                  tuple(shown), tuple((g, p, n) for (g, p), n in cells.most_common()))


def _rank(index: int, m: Mistake) -> tuple[float, int, int]:
    """Most confident first, a mistake without scores after every scored one; then the most labels /
    entities missed and added; then file order."""
    return (-(m.confidence if m.confidence is not None else -1.0), -(len(m.missed) + len(m.added)), index)


def _task_of(run_dir: Path) -> str:
    """The run's task kind, from its frozen recipe."""
    path = run_dir / rundir.RECIPE
    try:
        task = tomllib.loads(read_text_file(path, "frozen recipe")).get("task")
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"not a TOML file ({e})", path=path) from None
    if not isinstance(task, str):
        raise UserError("no `task` in the frozen recipe", path=path)
    return task


def _predictions(run_dir: Path, run_id: str, phase: str, split: str) -> Path:
    path = run_dir / f"predictions_{phase}_{split}.jsonl"
    if path.is_file():
        return path
    held = sorted(p.name.removeprefix(f"predictions_{phase}_").removesuffix(".jsonl")
                  for p in run_dir.glob(f"predictions_{phase}_*.jsonl"))
    if held:
        raise UserError(f"run {run_id} has no {phase} predictions on split {split!r} (it has: {', '.join(held)})")
    raise UserError(f"run {run_id} has no {phase} prediction files ({run_dir}/predictions_{phase}_<split>.jsonl): "
                    "a run writes them when it evaluates its model")


def _rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, text in enumerate(read_text_file(path, "prediction file").splitlines(), 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"not a JSON line ({e.msg})", path=path, line=n) from None
        if not isinstance(row, dict):
            raise UserError("expected a JSON object per line", path=path, line=n)
        rows.append(row)
    return rows

