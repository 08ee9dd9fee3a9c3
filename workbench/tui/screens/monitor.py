"""Live monitor: one tab per followed run — status, progress and ETA, loss / learning-rate and
eval curves, one row per GPU (or per training process on the host) with sparklines, the log
tail, and stop with confirmation.

Followers (app workers) update each run's RunWatch as events arrive; the views here re-render
on a 0.5 s tick, and only when the watch's version moved: a fast telemetry stream changes state
many times between ticks but costs one render, so it cannot flood the UI.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Log, ProgressBar, Sparkline, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from workbench.console import STATUS_STYLE, telemetry_values
from workbench.launch.watch import Device, RunWatch
from workbench.tui.widgets.tabs import TabCycling
from workbench.tui.worker_errors import ReportsWorkerErrors
from workbench.wording import fmt, fmt_count, fmt_duration

RENDER_EVERY_S = 0.5


class StopSent(Message):
    """A stop (signal / scancel / qdel) went out for a run."""

    def __init__(self, run_id: str, detail: str) -> None:
        super().__init__()
        self.run_id, self.detail = run_id, detail


class StopFailed(Message):
    def __init__(self, run_id: str, error: str) -> None:
        super().__init__()
        self.run_id, self.error = run_id, error


def tab_id(run_id: str) -> str:
    return "run-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in run_id)


def device_label(key: tuple, dev: Device) -> str:
    kind, host, n = key
    return f"gpu{n}@{host}" if kind == "gpu" else f"host {host} r{n}"


def device_text(key: tuple, dev: Device) -> Text:
    """`97%  31.2/80G  245W  61°C` or `cpu 34%  rss 2.10G`."""
    return Text(telemetry_values(dev.latest, compact=True))


class DeviceRow(Horizontal):
    """One GPU (utilisation and memory sparklines) or one process's host view (CPU, RSS)."""

    def __init__(self, key: tuple) -> None:
        super().__init__(classes="device-row")
        self.key = key

    def compose(self) -> ComposeResult:
        yield Static(classes="device-name")
        yield Sparkline([], classes="spark-util")
        yield Sparkline([], classes="spark-mem")
        yield Static(classes="device-values")

    def show(self, dev: Device) -> None:
        self.query_one(".device-name", Static).update(device_label(self.key, dev))
        self.query_one(".spark-util", Sparkline).data = list(dev.util) or [0.0]
        self.query_one(".spark-mem", Sparkline).data = list(dev.memory) or [0.0]
        self.query_one(".device-values", Static).update(device_text(self.key, dev))


class RunMonitor(Vertical):
    """Everything about one followed run; renders from its RunWatch."""

    def __init__(self, watch: RunWatch, run_dir: Path | None) -> None:
        super().__init__(classes="run-monitor")
        # run_watch, not watch: that name is Textual's DOMNode.watch (a method its own code calls)
        self.run_watch, self.run_dir = watch, run_dir
        self.rendered = -1
        self.renders = 0  # full renders (plots, devices, log): the coalescing test counts them
        self.log_lines = 0

    def compose(self) -> ComposeResult:
        yield Static(id="headline")
        with Horizontal(id="progress-row"):
            yield ProgressBar(total=None, show_eta=False, id="progress")
            yield Static(id="progress-info")
        with Horizontal(id="plots"):
            yield PlotextPlot(id="loss-plot")
            yield PlotextPlot(id="eval-plot")
        yield Static(id="evals-line")
        yield VerticalScroll(id="devices")
        yield Log(id="log", max_lines=500)

    def refresh_view(self, now: float) -> None:
        w = self.run_watch
        if w.version == self.rendered and not (w.status == "running"):
            return  # nothing new (a running run still ticks: elapsed and ETA move)
        changed = w.version != self.rendered
        self.rendered = w.version
        self.query_one("#headline", Static).update(self._headline(w))
        bar = self.query_one("#progress", ProgressBar)
        if w.progress is not None:
            bar.update(total=1.0, progress=w.progress)
        info = [f"step {w.step}/{w.max_steps or '?'}"]
        if w.status == "completed" and w.max_steps and w.step < w.max_steps:
            info.append("early stop")
        if w.epoch is not None:
            info.append(f"ep {w.epoch:.1f}")
        if w.samples_per_s:
            info.append(f"{w.samples_per_s:.0f}/s")
        info.append(fmt_duration(w.elapsed_s(now)))
        eta = w.eta_s()
        if eta is not None:
            info.append(f"ETA {fmt_duration(eta)}")
        self.query_one("#progress-info", Static).update("  ".join(info))
        if not changed:
            return
        self.renders += 1
        self._plots(w)
        self.query_one("#evals-line", Static).update(self._evals(w))
        self._devices(w)
        log = self.query_one("#log", Log)
        lines = list(w.logs)
        if len(lines) < self.log_lines:
            log.clear()
            self.log_lines = 0
        new = lines[self.log_lines:] if self.log_lines <= len(lines) else lines
        for level, msg in new:
            last = msg.strip().splitlines()[-1] if msg.strip() else ""
            log.write_line(f"{level[:4]:4} {last}")
        self.log_lines = len(lines)

    @staticmethod
    def _headline(w: RunWatch) -> Text:
        t = Text()
        t.append(w.status, style=STATUS_STYLE.get(w.status, "") + " bold")
        if w.phase and w.phase != w.status:
            t.append(f"  {w.phase}")
        if w.host:
            t.append(f"  on {w.host}", style="dim")
        if w.world_size > 1:
            t.append(f"  {w.world_size} processes", style="dim")
        if w.trainable_params:
            t.append(f"  trainable {fmt_count(w.trainable_params)}/{fmt_count(w.total_params)}", style="dim")
        if w.error:
            t.append(f"\n{w.error.strip().splitlines()[-1]}", style="red")
        return t

    def _plots(self, w: RunWatch) -> None:
        loss = self.query_one("#loss-plot", PlotextPlot)
        plt = loss.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("train loss")
        if w.losses:
            plt.plot([s for s, _ in w.losses], [v for _, v in w.losses], marker="braille", label="train")
        if w.evals.get("loss"):
            plt.plot([s for s, _ in w.evals["loss"]], [v for _, v in w.evals["loss"]], marker="dot", label="val")
        loss.refresh()
        ev = self.query_one("#eval-plot", PlotextPlot)
        plt = ev.plt
        plt.clear_data()
        plt.clear_figure()
        if w.evals.get("f1_micro") or w.evals.get("f1_macro"):
            plt.title("val f1")
            for metric in ("f1_micro", "f1_macro"):
                pts = w.evals.get(metric) or []
                if pts:
                    plt.plot([s for s, _ in pts], [v for _, v in pts], marker="braille", label=metric[3:])
            plt.ylim(0, 1)
        else:
            plt.title("learning rate")
            if w.lrs:
                plt.plot([s for s, _ in w.lrs], [v for _, v in w.lrs], marker="braille")
        ev.refresh()

    @staticmethod
    def _evals(w: RunWatch) -> Text:
        t = Text()
        if not w.base and not w.evals:
            return Text("no evaluation yet", style="dim")
        # short names (as the runs list's headers), so the three fit one 80-column line
        for metric, name in (("f1_micro", "f1μ"), ("f1_macro", "f1M"), ("loss", "loss")):
            base = w.base.get(metric)
            points = w.evals.get(metric)
            latest = w.tuned.get(metric) if w.tuned else (points[-1][1] if points else None)
            if base is None and latest is None:
                continue
            t.append(f"{name} ", style="bold")
            t.append(f"{fmt(base)}→{fmt(latest)}")
            if base is not None and latest is not None:
                d = latest - base
                better = d < 0 if metric == "loss" else d > 0
                t.append(f" {d:+.3f}", style="green" if better else "red")
            t.append("  ")
        if not w.tuned and w.evals:
            t.append("(base → latest epoch)", style="dim")
        return t

    def _devices(self, w: RunWatch) -> None:
        box = self.query_one("#devices", VerticalScroll)
        rows = {r.key: r for r in box.query(DeviceRow)}
        # GPUs first; host rows only where the run has no GPU samples (CPU runs).
        has_gpu = any(k[0] == "gpu" for k in w.devices)
        keys = sorted((k for k in w.devices if k[0] == "gpu" or not has_gpu), key=lambda k: (k[0] != "gpu", str(k)))
        for key in keys:
            if key not in rows:
                rows[key] = DeviceRow(key)
                box.mount(rows[key])
        for key in keys:
            if rows[key].is_mounted:
                rows[key].show(w.devices[key])
            else:
                rows[key].call_after_refresh(rows[key].show, w.devices[key])
        if not keys:
            if not box.query("#no-telemetry"):
                box.mount(Static("no telemetry yet", id="no-telemetry", classes="muted"))
        else:
            for s in box.query("#no-telemetry"):
                s.remove()


class MonitorScreen(TabCycling, ReportsWorkerErrors, Screen):
    TABS = "#runs-tabs"
    CSS_PATH = "../styles/monitor.tcss"
    BINDINGS = [
        Binding("s", "stop", "Stop run", tooltip="Stop the run in front (kill / scancel / qdel), after a yes"),
        Binding("d", "detail", "Detail", tooltip="Open the run in front in the run detail"),
        Binding("x", "close", "Close tab", tooltip="Stop watching (the run goes on)"),
        Binding("left,h,left_square_bracket", "previous_tab", "Prev", show=False, tooltip="Previous run"),
        Binding("right,l,right_square_bracket", "next_tab", "Next", show=False, tooltip="Next run"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("No run is being monitored. Launch a recipe (1: Recipes) or open a run from the "
                     "browser (2: Runs, then m).", id="empty", classes="muted")
        yield Static("", id="group-line")
        yield TabbedContent(id="runs-tabs")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sync_tabs()
        self.set_interval(RENDER_EVERY_S, self.tick)

    def on_screen_resume(self) -> None:
        self.sync_tabs()

    def sync_tabs(self) -> None:
        """A tab for every run the app follows (new ones open in front); a run followed afresh (a resumed
        attempt: a new watch) gets a new view in its tab, in front."""
        tabs = self.query_one("#runs-tabs", TabbedContent)
        have = {pane.id for pane in tabs.query(TabPane)}
        newest = None
        for run_id, watch in self.app.watches.items():
            pid = tab_id(run_id)
            if pid not in have:
                tabs.add_pane(TabPane(self._tab_title(watch), RunMonitor(watch, watch.run_dir), id=pid))
                have.add(pid)
                newest = pid
            elif not any(m.run_watch is watch for m in tabs.get_pane(pid).query(RunMonitor)):
                pane = tabs.get_pane(pid)
                pane.query(RunMonitor).remove()  # the earlier attempt's view
                pane.mount(RunMonitor(watch, watch.run_dir))
                newest = pid
        if newest is not None:
            self.call_after_refresh(setattr, tabs, "active", newest)
        self.query_one("#empty").display = not have
        tabs.display = bool(have)

    @staticmethod
    def _tab_title(w: RunWatch) -> str:
        mark = {"completed": "✓", "failed": "✗", "running": "●", "queued": "…"}.get(w.status, "■")
        short = w.run_id if len(w.run_id) <= 30 else w.run_id[:14] + "…" + w.run_id[-14:]
        return f"{mark} {short}"

    def current(self) -> list[RunMonitor]:
        """The views of the watches the app follows now (not an earlier attempt's, on its way out)."""
        return [m for m in self.query(RunMonitor) if m.run_watch is self.app.watches.get(m.run_watch.run_id)]

    def tick(self) -> None:
        monitors = self.current()
        if len(monitors) != len(self.app.watches):
            self.sync_tabs()  # a run followed, or followed afresh (its new attempt)
            monitors = self.current()
        now = self.app.clock()
        tabs = self.query_one("#runs-tabs", TabbedContent)
        self._show_group()
        for monitor in monitors:
            before = monitor.rendered
            monitor.refresh_view(now)
            if monitor.rendered != before:
                pane_id = tab_id(monitor.run_watch.run_id)
                tab = tabs.get_tab(pane_id)
                tab.label = self._tab_title(monitor.run_watch)

    def _show_group(self) -> None:
        """The line of the front run's group, when the app launched it as one (run_group.py): which run of N."""
        front = self.front()
        run_id = front.run_watch.run_id if front is not None else None
        group = next((g for g in self.app.groups.values() if run_id in g.run_ids), None)
        line = self.query_one("#group-line", Static)
        line.display = group is not None
        if group is not None:
            line.update(Text(group.line(self.app.watches)))

    def front(self) -> RunMonitor | None:
        tabs = self.query_one("#runs-tabs", TabbedContent)
        if not tabs.active:
            return None
        pane = tabs.get_pane(tabs.active)
        watches = self.app.watches
        return next((m for m in pane.query(RunMonitor) if m.run_watch is watches.get(m.run_watch.run_id)), None)

    def action_detail(self) -> None:
        m = self.front()
        if m is not None:
            from workbench.tui.screens.detail import DetailScreen

            self.app.push_screen(DetailScreen(m.run_watch.run_id))

    def action_close(self) -> None:
        m = self.front()
        if m is None:
            return
        tabs = self.query_one("#runs-tabs", TabbedContent)
        tabs.remove_pane(tab_id(m.run_watch.run_id))
        self.app.unfollow_run(m.run_watch.run_id)
        self.call_after_refresh(self.sync_tabs)

    def action_stop(self) -> None:
        m = self.front()
        if m is None:
            return
        if m.run_watch.ended:
            self.notify(f"{m.run_watch.run_id} has already ended ({m.run_watch.status})")
            return
        from workbench.tui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._send_stop(m.run_watch.run_id, m.run_watch.run_dir)

        self.app.push_screen(ConfirmScreen(f"Stop run {m.run_watch.run_id}?\nIt ends as cancelled; its events so far "
                                           f"stay in the store.", yes="Stop", no="Keep running"), answered)

    @work(thread=True, group="stop", exit_on_error=False)
    def _send_stop(self, run_id: str, run_dir: Path) -> None:
        from workbench.actions.jobs import send_stop
        from workbench.errors import UserError

        try:
            detail = send_stop(run_dir)
        except (UserError, OSError) as e:
            self.post_message(StopFailed(run_id, str(e)))
            return
        self.post_message(StopSent(run_id, detail))

    @on(StopSent)
    def _stop_sent(self, message: StopSent) -> None:
        self.notify(f"stopping {message.run_id}: {message.detail}", title="stop sent")

    @on(StopFailed)
    def _stop_failed(self, message: StopFailed) -> None:
        self.notify(message.error, title=f"could not stop {message.run_id}", severity="error")
