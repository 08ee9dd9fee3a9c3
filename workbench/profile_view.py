"""A data profile (`workbench data`, the editor's Data tab; workbench/actions/data.py) as rich
renderables: per split a table of labels with bars, the length percentiles and histogram, the
duplicates; then the leakage from train. The CLI prints them, the app shows them."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workbench.data.profile import DataProfile, Duplicates, SplitProfile, bar, histogram_lines


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f}%"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _duplicates_text(title: str, d: Duplicates, what: str) -> Text:
    if not d.rows:
        return Text.assemble((title, "bold"), ": none")
    out = Text.assemble((title, "bold"), ": ", (f"{_plural(d.rows, 'row')}", "yellow"),
                        f" ({_plural(d.texts, 'distinct text')}) {what}")
    for ex in d.examples:
        out.append(f"\n  “{ex}”", style="dim")
    return out


def split_renderable(s: SplitProfile, label_word: str) -> RenderableType:
    counted = "mentions" if s.label_unit == "mentions" else "rows"
    table = Table(title=f"{s.split}: {_plural(s.rows, 'row')}", title_justify="left", title_style="bold",
                  show_edge=False, pad_edge=False)
    table.add_column(label_word, overflow="fold")
    table.add_column(counted, justify="right", no_wrap=True)
    table.add_column("share", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    for c in s.labels:
        table.add_row(c.label, str(c.count), _pct(c.share), Text(bar(c.share, 20), style="cyan"))
    n = s.lengths
    lengths = Text.assemble((f"length ({n.unit})", "bold"),
                            f": p50 {n.p50}  p90 {n.p90}  p95 {n.p95}  p99 {n.p99}  max {n.max}")
    if n.max_length is not None:
        style = "yellow" if n.truncated else ""
        lengths.append("\n")
        lengths.append(f"model.max_length {n.max_length} truncates ")
        lengths.append(f"{_plural(n.truncated or 0, 'row')} ({_pct(n.truncated_share)})", style=style)
    hist = Text("\n".join(histogram_lines(n, 30)), style="cyan")
    dups = _duplicates_text("duplicates", s.duplicates, "repeat a text seen earlier in this split")
    return Group(table, lengths, hist, dups, Text(""))


def renderables(profile: DataProfile) -> list[RenderableType]:
    """The profile as rich renderables (the CLI prints them; the editor's Data tab shows them)."""
    head = Text.assemble((profile.recipe, "bold"), f" ({profile.task}): {profile.lengths_note}")
    out: list[RenderableType] = [head, Text("")]
    out += [split_renderable(s, profile.label_word) for s in profile.splits]
    for split, d in profile.leakage.items():
        out.append(_duplicates_text(f"leakage train → {split}", d, f"of {split} have a text also in train"))
    return out
