"""Guardrails on numbers: each fires on the failure it names, and stays silent on a run that learned."""

from workbench.metrics import guardrails as g

NAMES = ["ad", "rant", "toxic"]


def rows(predicted, scores=None):
    return [{"predicted": p, **({"scores": s} if scores else {})} for p, s in zip(predicted, scores or [None] * len(predicted))]


def test_a_model_that_predicts_nothing_is_reported_with_what_to_try():
    found = g.check(rows=rows([[]] * 10), label_names=NAMES, support={"ad": 3, "rant": 2, "toxic": 4})
    (w,) = [x for x in found if x.code == "never_predicted"]
    assert "predicted no label for any of the 10 validation rows" in w.message
    assert "train.learning_rate" in w.message and "\n" not in w.message


def test_one_label_never_predicted_is_named_with_its_gold_count():
    (w,) = g.never_predicted(rows([["ad"], ["rant"], []]), NAMES, "label", {"ad": 1, "rant": 1, "toxic": 5})
    assert "never predicted 1 of 3 labels" in w.message and "toxic (5 gold)" in w.message


def test_a_label_absent_from_validation_is_not_blamed():
    assert not g.never_predicted(rows([["ad"], ["rant"]]), NAMES, "label", {"ad": 1, "rant": 1, "toxic": 0})


def test_single_label_classes_and_unparseable_answers_count():
    assert [w.code for w in g.never_predicted(rows(["ad", None, "ad"]), ["ad", "rant"], "class",
                                               {"ad": 2, "rant": 1})] == ["never_predicted"]
    assert not g.never_predicted(rows(["ad", "rant"]), ["ad", "rant"], "class", {"ad": 1, "rant": 1})


def test_entities_are_not_counted_as_labels():
    assert not g.never_predicted(rows([[{"type": "PER", "text": "Ann"}]]), ["PER", "LOC"], "type", {"LOC": 3})


def test_flat_scores_fire_below_the_spread_and_not_above():
    flat = [{"ad": 0.31 + 0.001 * i, "rant": 0.2} for i in range(20)]
    w = g.flat_scores(rows([[]] * 20, flat))
    assert w is not None and w.code == "flat_scores" and "largest per-label std 0.0058" in w.message
    lively = [{"ad": 0.1 if i % 2 else 0.9, "rant": 0.2} for i in range(20)]
    assert g.flat_scores(rows([[]] * 20, lively)) is None


def test_no_better_than_base_reads_the_direction_of_the_metric():
    assert g.no_better_than_base({"loss": 0.5}, {"loss": 0.4}, "loss") is None
    w = g.no_better_than_base({"loss": 0.5}, {"loss": 0.5}, "loss")
    assert w is not None and "validation loss (0.5000 → 0.5000)" in w.message
    assert g.no_better_than_base({"f1_micro": 0.2}, {"f1_micro": 0.6}, "f1_micro") is None
    assert g.no_better_than_base({"f1_micro": 0.6}, {"f1_micro": 0.2}, "f1_micro") is not None
    # generative tasks: best_metric loss is not scored by generation; their headline metric is
    assert g.no_better_than_base({"accuracy": 0.6}, {"accuracy": 0.2}, "loss") is not None
    assert g.no_better_than_base(None, {"loss": 0.2}, "loss") is None


def test_a_loss_that_did_not_fall_or_went_nan():
    w = g.loss_not_falling([0.69, 0.70, 0.69, 0.69, 0.70, 0.69, 0.69, 0.69], learning_rate=0.0)
    assert w is not None and "raise train.learning_rate (now 0)" in w.message
    assert g.loss_not_falling([0.69, 0.6, 0.5, 0.3, 0.2, 0.1, 0.1, 0.05]) is None
    assert g.loss_not_falling([0.69]) is None
    assert g.loss_not_falling([0.69, float("nan")]).code == "loss_not_finite"


def test_a_run_that_learned_raises_nothing():
    scores = [{"ad": 0.9 if i % 3 == 0 else 0.1, "rant": 0.8 if i % 3 == 1 else 0.2, "toxic": 0.7 if i % 3 == 2 else 0.1}
              for i in range(12)]
    predicted = [[NAMES[i % 3]] for i in range(12)]
    assert g.check(rows=rows(predicted, scores), label_names=NAMES, support={n: 4 for n in NAMES},
                   base={"loss": 0.7}, tuned={"loss": 0.3}, losses=[0.7, 0.6, 0.4, 0.3]) == []


def test_not_better_than_the_prior_fires_inside_both_margins_and_names_both_figures():
    # the case: validation BCE 0.464 against the label-frequency predictor's 0.451
    w = g.no_better_than_prior({"loss": 0.451}, {"loss": 0.464}, "loss")
    assert w is not None and w.code == "no_better_than_prior" and "\n" not in w.message
    assert "0.4640" in w.message and "0.4510" in w.message and "2 %" in w.message
    # 2 % lower passes; 1 % lower is inside the margin
    assert g.no_better_than_prior({"loss": 0.5}, {"loss": 0.49}, "loss") is None
    assert g.no_better_than_prior({"loss": 0.5}, {"loss": 0.495}, "loss") is not None
    # or the best metric 0.02 higher, whatever the loss
    assert g.no_better_than_prior({"loss": 0.4, "f1_micro": 0.50}, {"loss": 0.45, "f1_micro": 0.52}, "f1_micro") is None
    w = g.no_better_than_prior({"loss": 0.4, "f1_micro": 0.50}, {"loss": 0.45, "f1_micro": 0.51}, "f1_micro")
    assert w is not None and "f1_micro 0.5100" in w.message and "0.5000" in w.message and "0.02" in w.message
    # a lower-is-better best metric: 0.02 lower
    assert g.no_better_than_prior({"hamming_loss": 0.30}, {"hamming_loss": 0.27}, "hamming_loss") is None
    assert g.no_better_than_prior({"hamming_loss": 0.30}, {"hamming_loss": 0.29}, "hamming_loss") is not None


def test_generative_tasks_are_held_to_the_most_common_answer_on_their_headline_metric():
    # no loss from generated answers: train.best_metric "loss" falls back as no_better_than_base does
    assert g.no_better_than_prior({"accuracy": 0.6, "f1_micro": 0.6}, {"accuracy": 0.61, "f1_micro": 0.61},
                                  "loss") is not None
    assert g.no_better_than_prior({"accuracy": 0.6, "f1_micro": 0.6}, {"accuracy": 0.7, "f1_micro": 0.7},
                                  "loss") is None
    assert g.no_better_than_prior(None, {"loss": 0.2}, "loss") is None  # NER: no prior


def test_check_holds_the_tuned_model_to_the_prior():
    found = g.check(rows=[], label_names=NAMES, prior={"loss": 0.451}, tuned={"loss": 0.464})
    assert [w.code for w in found] == ["no_better_than_prior"]


# The collapse: the encoder recipe (LoRA) at train.learning_rate 1e-3 scored every input alike (F1 0.000)
# and the warnings advised a higher rate again. A collapse at a high rate, or with a rising loss, says lower it.
COLLAPSED = [{"ad": 0.2, "rant": 0.2, "toxic": 0.1}] * 20
SUPPORT = {"ad": 3, "rant": 2, "toxic": 4}


def collapse_messages(**kw):
    found = g.check(rows=rows([[]] * 20, COLLAPSED), label_names=NAMES, support=SUPPORT, **kw)
    return {w.code: w.message for w in found}


def test_a_collapse_at_a_high_learning_rate_advises_a_lower_one_and_workbench_tune():
    found = collapse_messages(losses=[0.70, 0.69, 0.69, 0.69], learning_rate=1e-3, method="lora")
    assert found["flat_scores"] == (
        "the tuned model's scores barely vary across the 20 validation inputs (largest per-label std 0.0000): it "
        "collapsed to about the same answer for every text, and train.learning_rate 0.001 is high for a LoRA run "
        "(0.001 or more); lower train.learning_rate (e.g. 0.0001) or let `workbench tune RECIPE` search it")
    assert found["never_predicted"] == (
        "the tuned model predicted no label for any of the 20 validation rows; lower train.learning_rate (e.g. "
        "0.0001: the scores collapsed) or let `workbench tune RECIPE` search it, and check that the data holds "
        "the labels you think (`workbench data`)")
    assert found["loss_not_falling"] == (
        "the training loss did not fall: 0.7000 over the first 1 logged step, 0.6900 over the last 1; the scores "
        "collapsed: lower train.learning_rate (e.g. 0.0001) or let `workbench tune RECIPE` search it")
    assert not [m for m in found.values() if "higher" in m or "raise" in m]


def test_a_full_fine_tune_collapses_at_a_lower_rate_than_lora():
    full = collapse_messages(learning_rate=1e-4, method="full")["flat_scores"]
    assert "train.learning_rate 0.0001 is high for a full fine-tune (0.0001 or more); lower train.learning_rate " \
           "(e.g. 1e-05)" in full
    assert "try a higher train.learning_rate" in collapse_messages(learning_rate=1e-4, method="lora")["flat_scores"]


def test_a_collapse_with_a_rising_loss_advises_a_lower_rate_whatever_the_rate():
    found = collapse_messages(losses=[0.5, 0.5, 0.9, 1.1], learning_rate=5e-5, method="full")
    assert "collapsed to about the same answer for every text, and the training loss rose (0.5000 → 1.1000); " \
           "lower train.learning_rate (e.g. 5e-06) or let `workbench tune RECIPE` search it" in found["flat_scores"]
    assert not [m for m in found.values() if "higher" in m or "raise" in m]


def test_flat_scores_at_a_modest_rate_with_a_falling_loss_still_advise_more_training():
    found = collapse_messages(losses=[0.9, 0.8, 0.7, 0.6], learning_rate=1e-5, method="full")
    assert "try a higher train.learning_rate or more steps" in found["flat_scores"]
    assert "collapsed" not in found["flat_scores"]
