"""The live view of a run: a table on a terminal, one line per finished step otherwise."""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from capacity.run import Progress


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def format_eta(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def step_line(p: Progress) -> str:
    r = p.last_record
    if r is None:
        return ""
    return (
        f"{r.framework:8} {r.scenario:9} step {r.step:2}  r{r.grid_index:<3} "
        f"offered {r.offered_rps:8.1f}  achieved {r.achieved_rps:8.1f} req/s  "
        f"client p95 {_fmt(r.client_latency_p95_ms, ' ms'):>8}  over SLO "
        f"{r.over_slo_ratio:6.1%}  {r.decision:4}  cpu {r.pod_cpu_cores:.2f}  "
        f"gen {r.generator_cpu_ratio:.0%}  {r.note or ''}"
    )


class ProgressView:
    """Live table on a terminal; one line per finished step (and scenario) otherwise."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None
        self.latest: Progress | None = None
        self._last_printed: int | None = None

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def __call__(self, p: Progress) -> None:
        self.latest = p
        if p.phase == "step" and p.last_record is not None and p.step is not None:
            key = id(p.last_record)
            if key != self._last_printed:
                self._last_printed = key
                self.console.print(step_line(p), markup=False, highlight=False)
        if p.phase in ("scenario-done", "round") and p.message:
            self.console.print(f"  -> {p.message}", markup=False, highlight=False)
        if self.live is not None:
            self.live.update(self._render())

    def _render(self) -> Group:
        p = self.latest
        table = Table(box=None, show_header=True, header_style="bold")
        for column in ("framework", "scenario", "step", "offered", "req/s now", "p95 now",
                       "last step", "ETA"):  # fmt: skip
            table.add_column(column)
        if p is not None:
            r = p.last_record
            last = (
                "-"
                if r is None
                else f"{r.achieved_rps:.0f} req/s, p95 {_fmt(r.client_latency_p95_ms, ' ms')}"
            )
            table.add_row(
                p.framework,
                f"{p.scenario} ({p.scenario_index + 1}/{p.scenarios_total})",
                "warm-up" if p.phase == "warm-up" else str(p.step if p.step is not None else "-"),
                _fmt(p.offered_rps, " req/s"),
                _fmt(p.live_rps),
                _fmt(p.live_p95_ms, " ms"),
                last,
                format_eta(p.eta_s),
            )
        return Group(
            Text("capacity run (Ctrl-C stops and keeps finished steps)", style="dim"), table
        )
