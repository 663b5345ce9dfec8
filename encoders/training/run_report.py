"""The picture of a ``harness train`` run: ``RUN/report.png`` and ``RUN/report.html``, drawn from its log.

``harness train`` refreshes the report at every checkpoint and evaluation and once more at the end, so a run
still going has one; ``harness train report RUN`` redraws it from ``train_log.jsonl`` at any time, also while
the run is writing it (a last line torn mid-write is passed over).  The panels are what the paper's training
section watches and what a GPU run is judged by: the contrastive loss, the in-batch accuracy (the share of
queries whose own document is the nearest in the batch, ``gradcache.contrastive_step``), the learned
temperature's scale ``exp(tau)`` (section 2.1), the learning-rate schedule, the gradient norm before clipping,
throughput in tokens per second, model FLOPs utilisation (``flops.step_flops`` against the device's peak,
Chowdhery et al. 2022, appendix B) and the periodic evaluation scores (``--eval-task``).  A metric the run did
not measure (no evaluation asked for, no known peak on a CPU) is an empty panel that says so, never a line at
zero.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from harness.errors import HarnessError
from harness.results.figures import PALETTE, img_tag, new_figure, png_bytes

LOG_FILE = "train_log.jsonl"
SETTINGS_FILE = "train_settings.json"
"""The names ``trainer`` writes (a test keeps them equal; importing the trainer here would import torch)."""
FINAL_CONFIG = "final/cpt_config.json"
"""Written last by ``checkpoint.save_model`` into the run's ``final/``: the run is finished."""
REPORT_PNG = "report.png"
REPORT_HTML = "report.html"


@dataclass(frozen=True)
class Series:
    key: str
    title: str
    scale: float = 1.0
    log_y: bool = False
    absent: str = "not logged by this run"


SERIES = (
    Series("loss", "contrastive loss"),
    Series("in_batch_accuracy", "in-batch accuracy"),
    Series("temperature_scale", "temperature scale exp(tau)"),
    Series("lr", "learning rate"),
    Series("tokens_per_second", "tokens per second"),
    Series("mfu", "MFU (%)", scale=100.0,
           absent="not measured: no known peak FLOP/s for this device (give --peak-tflops)"),
    Series("grad_norm", "gradient norm (before clipping)"),
)  # fmt: skip
"""The per-step panels, in the report's reading order; the evaluation panel comes last."""

NO_EVAL = "no periodic evaluation (--eval-task TASK --eval-every N)"


@dataclass
class RunLog:
    """What a run folder's log says, in the order it was written."""

    folder: Path
    steps: list[dict[str, Any]] = field(default_factory=list)
    """One record per optimisation step logged (the last of a step, should a step appear twice)."""
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    """Everything else (memory plan, checkpoints, resumes, init)."""
    settings: dict[str, Any] = field(default_factory=dict)
    torn_last_line: bool = False
    finished: bool = False
    """The final model is in ``RUN/final``."""

    def values(self, key: str, scale: float = 1.0) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of one metric, leaving out steps where it is missing or not a finite number."""
        steps, values = [], []
        for record in self.steps:
            value = record.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                steps.append(int(record["step"]))
                values.append(float(value) * scale)
        return steps, values

    @property
    def last_step(self) -> int:
        return int(self.steps[-1]["step"]) if self.steps else 0

    @property
    def total_steps(self) -> int | None:
        steps = self.settings.get("steps")
        return steps if isinstance(steps, int) else None

    @property
    def state(self) -> str:
        """Finished (a final model), every step logged but no model here (a copied log), or still going."""
        if self.finished:
            return "finished"
        if self.total_steps is not None and self.last_step >= self.total_steps:
            return "every step logged, no final/ model in this folder"
        return "in progress or interrupted"


def read_run_log(folder: Path) -> RunLog:
    """Read ``folder``'s ``train_log.jsonl`` (and settings); one :class:`HarnessError` for what is not a run."""
    folder = Path(folder)
    log_path, settings_path = folder / LOG_FILE, folder / SETTINGS_FILE
    if not folder.is_dir():
        raise HarnessError(f"{folder}: no such run folder")
    if not log_path.is_file() and not settings_path.is_file():
        raise HarnessError(f"{folder}: not a 'harness train' run folder (no {LOG_FILE} or {SETTINGS_FILE} in it)")
    run = RunLog(folder, finished=(folder / FINAL_CONFIG).is_file())
    if settings_path.is_file():
        try:
            settings = json.loads(settings_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise HarnessError(f"{settings_path}: not JSON ({exc})") from None
        if not isinstance(settings, dict):
            raise HarnessError(f"{settings_path}: not a JSON object of settings")
        run.settings = settings
    if not log_path.is_file():
        return run  # started, nothing logged yet
    lines = log_path.read_text(encoding="utf-8").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    by_step: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            if number == len(lines):  # being written right now, or cut by a kill
                run.torn_last_line = True
                continue
            raise HarnessError(f"{log_path}:{number}: not a JSON record ({exc})") from None
        if not isinstance(record, dict):
            raise HarnessError(f"{log_path}:{number}: not a JSON object")
        _check_record(record, f"{log_path}:{number}")
        if record.get("event") == "eval":
            run.evaluations.append(record)
        elif "event" in record:
            run.events.append(record)
        elif "loss" in record:
            by_step[int(record["step"])] = record
    run.steps = [by_step[step] for step in sorted(by_step)]
    return run


def _check_record(record: dict[str, Any], where: str) -> None:
    """A step or evaluation record's fields are numbers where the report reads numbers."""
    numeric = ["step"] if "step" in record or "loss" in record or record.get("event") == "eval" else []
    if record.get("event") == "eval":
        numeric.append("score")
    elif "event" not in record:
        numeric += [series.key for series in SERIES if record.get(series.key) is not None]
    for key in numeric:
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise HarnessError(f"{where}: field {key!r} is {json.dumps(value)}, not a number")


def report_figure(run: RunLog) -> Figure:
    """Eight panels, two per row, every one against the step; resumes marked by a dotted line."""
    resumed = [int(e["step"]) for e in run.events if e.get("event") == "resumed" and isinstance(e.get("step"), int)]
    total = run.total_steps

    def draw(figure: Figure) -> None:
        axes = figure.subplots(4, 2, sharex=True).ravel()
        for ax, series in zip(axes, SERIES, strict=False):
            steps, values = run.values(series.key, series.scale)
            ax.set_title(series.title, loc="left")
            if values:
                ax.plot(steps, values, color=PALETTE[0], linewidth=1.4, marker="." if len(values) < 40 else None)
                ax.ticklabel_format(axis="y", useOffset=False)  # 14.2855 as itself, not 0.0055 + 1.428e1
            else:
                _absent(ax, series.absent if run.steps else "no step logged yet")
        _draw_evaluations(axes[len(SERIES)], run)
        for ax in axes:
            for step in resumed:
                ax.axvline(step, color="#8a8a8e", linestyle=":", linewidth=1)
            if total:
                ax.set_xlim(0, total)
        for ax in axes[-2:]:
            ax.set_xlabel("step")
            ax.xaxis.set_tick_params(labelbottom=True)
        figure.suptitle(f"{run.folder.name}: step {run.last_step}{f' of {total}' if total else ''}, {run.state}",
                        x=0.06, ha="left", fontsize=11)  # fmt: skip
        figure.subplots_adjust(left=0.07, right=0.98, top=0.93, bottom=0.06, hspace=0.45, wspace=0.18)

    return new_figure(1000, 960, draw)


def _draw_evaluations(ax: Any, run: RunLog) -> None:
    ax.set_title("evaluation (main score)", loc="left")
    tasks: dict[str, list[dict[str, Any]]] = {}
    for record in run.evaluations:
        tasks.setdefault(f"{record.get('task', '?')} {record.get('metric', '')}".strip(), []).append(record)
    if not tasks:
        task, every = run.settings.get("eval_task"), run.settings.get("eval_every")
        planned = isinstance(every, int) and every > 0 and task
        _absent(ax, f"no evaluation yet ({task} every {every} steps)" if planned else NO_EVAL)
        return
    for index, (label, records) in enumerate(sorted(tasks.items())):
        ax.plot([int(r["step"]) for r in records], [float(r["score"]) for r in records], marker="o",
                color=PALETTE[(index + 2) % len(PALETTE)], label=label)  # fmt: skip
    ax.legend(loc="best", frameon=False)


def _absent(ax: Any, why: str) -> None:
    """An empty panel with the reason in it: a metric not measured is not a metric at zero."""
    ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", va="center", color="#666666", wrap=True)
    ax.set_yticks([])


SHOWN_SETTINGS = ("preset", "backbone", "init_checkpoint", "pairs", "steps", "batch_size", "chunk_size", "lr",
                  "warmup_steps", "max_length", "precision", "device", "sharding", "seed", "eval_task", "eval_every")  # fmt: skip

PAGE_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1060px;
       padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; } .meta { color: #666; }
table { border-collapse: collapse; margin: .5rem 0; } th, td { padding: .25rem .7rem; border-bottom: 1px solid #e4e4e7;
text-align: left; } th { background: #f6f6f7; } td.num { text-align: right; }
img.figure { max-width: 100%; height: auto; display: block; }
"""


def report_html(run: RunLog, png: bytes) -> str:
    """The page: status, the figure, the evaluations and the settings, all inline."""
    total = run.total_steps
    state = "finished: the model is in final/" if run.finished else run.state
    torn = " The log's last line was being written (or cut) and is left out." if run.torn_last_line else ""
    last = run.steps[-1] if run.steps else {}
    latest = "".join(
        f"<tr><td>{html.escape(s.title)}</td><td class='num'>{_number(last.get(s.key), s.scale)}</td></tr>"
        for s in SERIES
    )
    evaluations = "".join(
        f"<tr><td class='num'>{int(r['step'])}</td><td>{html.escape(str(r.get('task', '')))}</td>"
        f"<td>{html.escape(str(r.get('metric', '')))}</td><td class='num'>{float(r['score']):.4f}</td></tr>"
        for r in run.evaluations
    )
    evaluation_table = (
        f"<table class='evaluations'><thead><tr><th>step</th><th>task</th><th>metric</th><th>score</th></tr></thead>"
        f"<tbody>{evaluations}</tbody></table>"
        if evaluations
        else f"<p class='meta'>{html.escape(NO_EVAL)}</p>"
    )
    settings = "".join(
        f"<tr><td>{html.escape(key)}</td><td>{html.escape(str(run.settings[key]))}</td></tr>"
        for key in SHOWN_SETTINGS
        if run.settings.get(key) is not None
    )
    figure = img_tag(png, f"training curves of {run.folder.name}", "figure train-report")
    title = f"harness train: {run.folder.name}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{PAGE_STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">Step {run.last_step}{f" of {total}" if isinstance(total, int) else ""}; {state}.{torn}
Redraw with <code>harness train report {html.escape(str(run.folder))}</code>.</p>
{figure}
<h2>Last step</h2>
<table class="latest"><tbody>{latest}</tbody></table>
<h2>Evaluations</h2>
{evaluation_table}
<h2>Settings</h2>
<table class="settings"><tbody>{settings}</tbody></table>
</body>
</html>
"""


def _number(value: Any, scale: float = 1.0) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "not logged"
    return f"{value * scale:.4g}"


def write_report(folder: Path) -> tuple[Path, Path]:
    """Draw ``folder``'s report and write ``report.png`` and ``report.html`` into it (each atomically)."""
    from harness.results.files import write_bytes_atomic, write_text_atomic

    run = read_run_log(folder)
    png = png_bytes(report_figure(run))
    png_path, html_path = Path(folder) / REPORT_PNG, Path(folder) / REPORT_HTML
    write_bytes_atomic(png_path, png)
    write_text_atomic(html_path, report_html(run, png))
    return png_path, html_path
