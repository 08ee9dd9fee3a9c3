"""What a set of compared runs can be compared by (`workbench compare` and the app's Compare screen):
runs of one sweep (one group of one recipe whose runs differ in knobs) are ranked, with each knob's
marginal effect; runs that differ in seed alone get mean ± std; any other runs get the params that
differ and their metrics side by side. A group's mean ± std is only ever over runs that differ in seed alone."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from workbench.store import read

SWEEP, SEEDS, UNRELATED = "sweep", "seeds", "unrelated"
SEED_KEYS = frozenset({"train.seed"})
# params that name, describe or group runs, or stand for several of them: never a knob, never shown as
# a difference (read.NOT_KNOBS less the seed, which is the difference of a seed group)
NOT_COMPARED = frozenset(read.NOT_KNOBS) - SEED_KEYS
ALL_RUNS = "these runs"  # the mean ± std column of runs differing in seed alone that are no one group
LONG_NAME = 20  # param names longer than this show their last dotted segment, where no other shares it


def knobs_that_differ(c: read.Comparison, ids: list[str]) -> list[str]:
    """The params whose value differs among `ids`, seeds and the params that are no knob left out."""
    return sorted(k for k, v in c.params.items()
                  if k not in NOT_COMPARED and k not in SEED_KEYS and len({v.get(r) for r in ids}) > 1)


@dataclass(frozen=True)
class Comparable:
    """How the runs compare: `kind` SWEEP, SEEDS or UNRELATED and `line` saying so; `shown` the params
    that differ (seed included, names and descriptions not); `ranking` the sweep's trials (SWEEP only);
    `seed_groups` {group: run ids} of the groups whose runs differ in seed alone (ALL_RUNS: all the
    compared runs, when they do and are no one group), the only ones given mean ± std; `mixed` {group:
    the knobs its runs differ in} of the groups whose mean ± std is left out."""

    kind: str
    line: str
    shown: list[str]
    ranking: read.Ranking | None
    seed_groups: dict[str, list[str]]
    mixed: dict[str, list[str]]

    def mean_std(self, c: read.Comparison, metric: str) -> dict[str, tuple[float, float, int]]:
        """{seed group: (mean, std, n)} of a tuned aggregate over each seed group's runs that have it."""
        out = {}
        for group, ids in self.seed_groups.items():
            vals = [v for r in ids if (v := c.aggregates.get(metric, {}).get(r)) is not None]
            if vals:
                out[group] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals))
        return out

    def mixed_text(self, group: str) -> str:
        """Why a group has no mean ± std: `its runs differ in K1, K2 (and N more), not in seed alone`."""
        knobs = self.mixed[group]
        more = f" and {len(knobs) - 3} more" if len(knobs) > 3 else ""
        return f"no mean ± std, its runs differ in {', '.join(knobs[:3])}{more}, not in seed alone"


def comparable(c: read.Comparison) -> Comparable:
    """Judge the compared runs of `c` (read.compare): see Comparable."""
    ids = c.ids
    n = len(ids)
    shown = [k for k in c.differing if k not in NOT_COMPARED]
    seed_groups: dict[str, list[str]] = {}
    mixed: dict[str, list[str]] = {}
    for group, members in c.groups.items():
        knobs = knobs_that_differ(c, members)
        if knobs:
            mixed[group] = knobs
        else:
            seed_groups[group] = members
    # one sweep: every run in one group, of one recipe (a group set by hand may hold several recipes' runs)
    whole = next((g for g, members in c.groups.items() if len(members) == n), None)
    one_recipe = len({c.params.get("name", {}).get(r) for r in ids}) == 1
    if not knobs_that_differ(c, ids):
        if whole is None:
            seed_groups[ALL_RUNS] = list(ids)
        return Comparable(SEEDS, f"{n} runs differing in seed alone: mean ± std", shown, None, seed_groups, mixed)
    if whole is not None and one_recipe:
        ranking = read.rank_trials(c)
        metric = f" by {ranking.metric}" if ranking is not None else ""
        return Comparable(SWEEP, f"{n} runs of sweep {whole}: ranked{metric}", shown,
                          ranking, seed_groups, mixed)
    return Comparable(UNRELATED, f"{n} unrelated runs (not one sweep): the params that differ, metrics side by side",
                      shown, None, seed_groups, mixed)


def short_params(keys: list[str]) -> dict[str, str]:
    """{param: its name in a narrow table}: where one name is longer than LONG_NAME, each name as its last
    dotted segment when that has 4 characters or more and no other of `keys` ends in it (`train_file`,
    `use_4bit`, but `lora.r`); else the names themselves."""
    if all(len(k) <= LONG_NAME for k in keys):
        return {k: k for k in keys}
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: s if len(s) >= 4 and last.count(s) == 1 else k for k, s in zip(keys, last)}
