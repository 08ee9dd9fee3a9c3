"""Guardrails: a run that completed but learned nothing must say so.

Checked once, after the tuned evaluation, on what every task already produces: the tuned model's
validation prediction rows, the base, label-prior and tuned validation aggregates, and the training
losses the Trainer logged. Each warning is one line naming what was seen and what to try. Pure functions on
plain data (no torch), so they are tested on numbers and reused by `workbench eval`.

Seen in the field: the encoder recipe as shipped, on 2,886 real reviews with a real pretrained
encoder, "completed" with tuned F1 micro 0.000: it predicted no label for any review and its
scores hardly moved between inputs. And the encoder demo with train.max_steps = 40 and tuned
thresholds: validation BCE 0.464 against 0.451 for predicting each label's training frequency, every
label "predicted" at thresholds of 0.05 to 0.15; "no better than base" passed it (the base's head is
random), so the tuned model is also held to the label prior (phase `prior`).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workbench.wording import plural

# The largest per-label standard deviation of the scores across validation inputs below which a
# model "predicts about the same for every text" (a trained classifier's are 0.1 to 0.4).
FLAT_SCORES_STD = 0.02
# The share the training loss must fall by, first quarter of the logged steps to the last.
LOSS_FALL = 0.02
LOWER_IS_BETTER = ("loss", "hamming_loss")
# Better than the label prior means a validation loss at least this share lower than the prior's...
PRIOR_LOSS_MARGIN = 0.02
# ...or train.best_metric at least this much better (higher; lower for a loss-like metric).
PRIOR_METRIC_MARGIN = 0.02
# Peak learning rates from which scores that collapsed (flat_scores: one answer for every input) are put
# down to a rate too high, per model.method. Published settings sit below them: LoRA 1e-4 to 5e-4 (the LoRA
# paper's encoders, QLoRA's 2e-4), full fine-tunes of pretrained encoders 1e-5 to 5e-5 (BERT's). Seen in the
# field: the encoder recipe (LoRA, MiniLM) at 1e-3 scored every input alike, F1 0.000, and the advice then
# was a higher rate. Below them, a collapse with a training loss that rose is put down to the rate too.
HIGH_RATES = {"lora": 1e-3, "full": 1e-4}
METHOD_WORDS = {"lora": "a LoRA run", "full": "a full fine-tune"}


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the event and column say "warning"; nothing here uses the builtin
    code: str      # never_predicted | flat_scores | no_better_than_base | no_better_than_prior | loss_not_falling
    #                | loss_not_finite
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def check(*, rows: Sequence[dict[str, Any]], label_names: Sequence[str], label_word: str = "label",
          support: dict[str, float] | None = None, base: dict[str, float] | None = None,
          tuned: dict[str, float] | None = None, metric: str = "loss", losses: Sequence[float] = (),
          learning_rate: float | None = None, who: str = "the tuned model",
          prior: dict[str, float] | None = None, tuned_at: dict[str, float] | None = None,
          rare_label_knobs: Sequence[str] = (), trained: bool = True, method: str | None = None) -> list[Warning]:
    """Every guardrail that fires, in a fixed order.

    rows: the tuned model's validation predictions (each with "predicted": a name, a list of names
    or anything else, and for classifiers "scores": {name: probability});
    support: gold examples per label on those rows; base / prior / tuned: validation aggregates (prior:
    the label-prior baseline's, None where the task has none; prior and tuned_at, the tuned model's
    aggregates where tuned thresholds judge it, at those thresholds, each model at its own);
    metric: train.best_metric; losses: the training losses in logged order; who: the model, in messages;
    rare_label_knobs: the settings that help with labels never predicted that the task accepts for this data
    (Splits.rare_label_knobs); trained: False for a model this run did not train (`workbench eval` of a
    model source), whose advice is to fine-tune it rather than to change how it was trained; method:
    model.method, which sets how high a learning rate is (HIGH_RATES).

    Scores that collapsed at a high rate, or with a rising loss, make every warning advise a lower rate
    (`too_fast`): never a higher one."""
    out: list[Warning] = []
    fast = too_fast(losses, learning_rate, method) if trained else None
    flat = flat_scores(rows, who, trained, fast, learning_rate)
    collapsed = flat is not None and fast is not None
    slower = lower_rate(learning_rate, ": the scores collapsed") if collapsed else None
    out += never_predicted(rows, label_names, label_word, support or {}, who, rare_label_knobs, trained, slower)
    if flat is not None:
        out.append(flat)
    worse = no_better_than_base(base, tuned, metric)
    if worse is not None:
        out.append(worse)
    no_gain = no_better_than_prior(prior, tuned_at or tuned, metric, who, trained)
    if no_gain is not None:
        out.append(no_gain)
    stalled = loss_not_falling(losses, learning_rate, collapsed)
    if stalled is not None:
        out.append(stalled)
    return out


# The advice for a model this run did not train (trained=False): the knobs of a training run do not apply.
FINE_TUNE = "if it was not fine-tuned on this data, fine-tune it (`workbench run RECIPE`)"


def too_fast(losses: Sequence[float], learning_rate: float | None, method: str | None) -> str | None:
    """Why scores that collapsed are put down to a rate too high, or None: the rate is HIGH_RATES' for the
    method or above (LoRA's where the method is not known), or the training loss rose or became NaN."""
    high = HIGH_RATES.get(method or "lora", HIGH_RATES["lora"])
    if learning_rate is not None and learning_rate >= high:
        return (f"train.learning_rate {learning_rate:g} is high for {METHOD_WORDS.get(method or 'lora', 'a run')} "
                f"({high:g} or more)")
    vals = [float(x) for x in losses if x is not None]
    if any(not math.isfinite(x) for x in vals):
        return "the training loss became NaN or infinite"
    ends = loss_ends(vals)
    if ends is None:
        return None
    _k, first, last = ends
    if last > first * (1 + LOSS_FALL):
        return f"the training loss rose ({first:.4f} → {last:.4f})"
    return None


def loss_ends(vals: Sequence[float]) -> tuple[int, float, float] | None:
    """(k, the mean of the first k losses, the mean of the last k), k a quarter of them: how the training
    loss moved (too_fast, loss_not_falling); None for fewer than 2."""
    if len(vals) < 2:
        return None
    k = max(1, len(vals) // 4)
    return k, statistics.fmean(vals[:k]), statistics.fmean(vals[-k:])


def lower_rate(learning_rate: float | None, why: str = "") -> str:
    """The advice after a collapse: a tenth of the rate, or a study (`workbench tune`)."""
    e_g = f" (e.g. {learning_rate / 10:g}{why})" if learning_rate else ""
    return f"lower train.learning_rate{e_g} or let `workbench tune RECIPE` search it"


def never_predicted(rows: Sequence[dict[str, Any]], label_names: Sequence[str], label_word: str,
                    support: dict[str, float], who: str = "the tuned model", rare_label_knobs: Sequence[str] = (),
                    trained: bool = True, slower: str | None = None) -> list[Warning]:
    """Labels (classes) with gold rows on validation that the model never predicted. `slower`: the advice
    to lower the rate, given where the scores collapsed (check), instead of a higher rate."""
    counts: Counter[str] = Counter()
    for row in rows:
        p = row.get("predicted")
        if isinstance(p, str):
            counts[p] += 1
        elif isinstance(p, list) and all(isinstance(x, str) for x in p):
            counts.update(p)
        elif p is not None:
            return []  # predictions of another shape (NER's entities): nothing to count here
    missing = [n for n in label_names if counts[n] == 0 and (support.get(n) or 0) > 0]
    if not missing:
        return []
    if len(missing) == len(label_names):
        what = f"{who} predicted no {label_word} for any of the {len(rows)} validation rows"
    else:
        shown = ", ".join(f"{n} ({int(support[n])} gold)" for n in missing[:4]) + (" …" if len(missing) > 4 else "")
        what = (f"{who} never predicted {len(missing)} of {len(label_names)} {plural(label_word)} on "
                f"validation: {shown}")
    tips = ([FINE_TUNE] if not trained else [slower, *rare_label_knobs] if slower
            else ["try a higher train.learning_rate or more train.epochs", *rare_label_knobs])
    return [Warning("never_predicted", f"{what}; {', '.join(tips)}, and check that the data holds the "
                    f"{plural(label_word)} you think (`workbench data`)")]


def flat_scores(rows: Sequence[dict[str, Any]], who: str = "the tuned model", trained: bool = True,
                fast: str | None = None, learning_rate: float | None = None) -> Warning | None:
    """Scores (classifier probabilities) that barely vary across inputs. `fast`: why the rate was too high
    (too_fast), where it was: the scores collapsed, and the advice is a lower rate."""
    scored = [r["scores"] for r in rows if isinstance(r.get("scores"), dict)]
    if len(scored) < 3:
        return None
    # Rows past eval.scores_all_up_to labels keep their top scores only: a label kept by some rows
    # and not others changed rank, so its scores varied. The rest is measured.
    common = set(scored[0]).intersection(*scored[1:])
    if not common:
        return None
    spread = max(statistics.pstdev(float(s[name]) for s in scored) for name in common)
    if spread >= FLAT_SCORES_STD:
        return None
    seen = (f"{who}'s scores barely vary across the {len(scored)} validation inputs (largest per-label std "
            f"{spread:.4f}): ")
    if fast is not None:
        return Warning("flat_scores", seen + f"it collapsed to about the same answer for every text, and {fast}; "
                       + lower_rate(learning_rate))
    return Warning("flat_scores", seen + "it answers about the same for every text; "
                   + ("try a higher train.learning_rate or more steps" if trained else FINE_TUNE)
                   + ", and check that data.text_column holds the text")


def no_better_than_base(base: dict[str, float] | None, tuned: dict[str, float] | None,
                        metric: str) -> Warning | None:
    """The tuned model no better than the base on best_metric (or, where the task does not score
    that on the validation rows, on its first headline metric both have)."""
    if not base or not tuned:
        return None
    m = _headline(base, tuned, metric)
    if m is None:
        return None
    b, t = base[m], tuned[m]
    better = t < b if m in LOWER_IS_BETTER else t > b
    if better:
        return None
    return Warning("no_better_than_base", f"the tuned model is no better than the base on validation {m} "
                   f"({b:.4f} → {t:.4f}): try another train.learning_rate, more train.epochs, or look at the "
                   "labels (`workbench data`)")


def _headline(a: dict[str, float], b: dict[str, float], metric: str) -> str | None:
    """train.best_metric, or where the task does not score it on the validation rows (generated
    answers have no loss) the first headline metric both have, as finite numbers."""
    for m in (metric, "f1_micro", "accuracy", "f1_macro"):
        if _finite(a.get(m)) and _finite(b.get(m)):
            return m
    return None


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def no_better_than_prior(prior: dict[str, float] | None, tuned: dict[str, float] | None, metric: str,
                         who: str = "the tuned model", trained: bool = True) -> Warning | None:
    """The tuned model not clearly better than the label prior (a constant prediction from the
    training labels' frequencies): it passes with a validation loss PRIOR_LOSS_MARGIN lower than the
    prior's, or train.best_metric (or the headline metric standing for it) PRIOR_METRIC_MARGIN better."""
    if not prior or not tuned:
        return None
    figures = []
    m = _headline(prior, tuned, metric)
    if _finite(prior.get("loss")) and _finite(tuned.get("loss")):
        p, t = prior["loss"], tuned["loss"]
        # best_metric loss: both margins are on the loss, the easier one holds
        bar = max(p * (1 - PRIOR_LOSS_MARGIN), p - PRIOR_METRIC_MARGIN) if m == "loss" else p * (1 - PRIOR_LOSS_MARGIN)
        if t <= bar:
            return None
        either = f" or {PRIOR_METRIC_MARGIN:g} lower" if m == "loss" else ""
        figures.append(f"loss {t:.4f} against the prior's {p:.4f} (needs {PRIOR_LOSS_MARGIN * 100:g} % lower{either}: "
                       f"at most {bar:.4f})")
    if m is not None and m != "loss":
        p, t = prior[m], tuned[m]
        lower = m in LOWER_IS_BETTER
        if (t <= p - PRIOR_METRIC_MARGIN) if lower else (t >= p + PRIOR_METRIC_MARGIN):
            return None
        figures.append(f"{m} {t:.4f} against the prior's {p:.4f} (needs {PRIOR_METRIC_MARGIN:g} "
                       f"{'lower' if lower else 'higher'})")
    if not figures:
        return None
    return Warning("no_better_than_prior", f"{who} is no better than the label prior (a constant prediction of "
                   f"the training labels' frequencies) on validation: {'; '.join(figures)}; "
                   + ("train longer (train.epochs, train.max_steps) or at another train.learning_rate"
                      if trained else FINE_TUNE)
                   + ", and compare `workbench diff RUN` (column prior)")


def loss_not_falling(losses: Sequence[float], learning_rate: float | None = None,
                     collapsed: bool = False) -> Warning | None:
    """A training loss that did not fall (or became NaN). `collapsed`: the scores collapsed at a rate too
    high (check), so the advice is a lower rate, not a higher one."""
    vals = [float(x) for x in losses if x is not None]
    if any(not math.isfinite(x) for x in vals):
        return Warning("loss_not_finite", "the training loss became NaN or infinite: lower train.learning_rate, "
                       "keep train.max_grad_norm on, or use model.precision = \"bf16\" / \"fp32\" instead of fp16")
    ends = loss_ends(vals)
    if ends is None:
        return None
    k, first, last = ends
    if last < first * (1 - LOSS_FALL):
        return None
    rate = f" (now {learning_rate:g})" if learning_rate is not None else ""
    advice = (f"the scores collapsed: {lower_rate(learning_rate)}" if collapsed
              else f"raise train.learning_rate{rate} or train more steps")
    return Warning("loss_not_falling", f"the training loss did not fall: {first:.4f} over the first {k} logged "
                   f"{plural('step', k)}, {last:.4f} over the last {k}; {advice}")
