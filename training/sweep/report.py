"""Readable reports of a finished sweep (any system): Markdown, CSV and plots.

Written to ``<sweep folder>/report/``:

- ``report.md``: the best configuration, its validation metric and (passed in by the job)
  its test metrics; a table of all trials (parameters, final and best metric, epochs run,
  whether ASHA stopped them early); per searched parameter what the sweep says (mean and
  best metric per value of a categorical parameter, Spearman rank correlation and
  lower-half vs upper-half means of a continuous one); the plots;
- ``trials.csv``: one row per trial, one column per parameter and metric;
- ``metric_vs_<parameter>.png``: the metric against each searched parameter (strip + box
  plot for categorical values, a scatter on log axes for log-uniform ones);
  ``learning_curves.png``: the metric against epochs for every trial (ASHA-stopped trials
  dashed and grey); ``best_trial.png``: the best trial's curve.

Each trial is represented by its best value of the metric. Trials that ASHA stopped early
had fewer epochs to reach it, which biases the per-parameter summaries toward the values of
trials that ran longer: read them as hints for the next, narrower sweep.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from crossmodal_ray.pipelines.core import storage  # noqa: E402
from crossmodal_ray.training.sweep.driver import SweepOutcome, TrialRecord  # noqa: E402

COMPLETED_COLOR = "tab:blue"
STOPPED_COLOR = "0.6"
BEST_COLOR = "tab:red"
FAILED_COLOR = "tab:orange"


@dataclass
class SweepReport:
    """Where :func:`write_sweep_report` wrote (paths or URIs), and a short text summary."""

    directory: str
    markdown_location: str
    csv_location: str
    plots: list[str] = field(default_factory=list)
    summary: str = ""


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:.{digits}g}"
    return str(value)


def _status(trial: TrialRecord) -> str:
    if trial.error:
        return "failed"
    return "stopped early (ASHA)" if trial.stopped_early else "completed"


def _finite(trials: list[TrialRecord]) -> list[TrialRecord]:
    return [t for t in trials if math.isfinite(t.best)]


def parameter_findings(
    trials: list[TrialRecord], name: str, kind: str, mode: str
) -> tuple[str, list[list[str]]]:
    """A one-line reading of parameter ``name`` and the table rows behind it."""
    usable = _finite(trials)
    better = min if mode == "min" else max
    if kind == "categorical":
        groups: dict[str, list[float]] = {}
        for trial in usable:
            groups.setdefault(str(trial.params.get(name)), []).append(trial.best)
        rows = [
            [value, str(len(v)), _fmt(float(np.mean(v))), _fmt(better(v))]
            for value, v in sorted(groups.items(), key=lambda kv: float(np.mean(kv[1])))
        ]
        if mode == "max":
            rows.reverse()
        if len(groups) < 2:
            return "only one value was tried", rows
        best_value, worst_value = rows[0][0], rows[-1][0]
        return (
            f"best mean with `{best_value}` ({rows[0][2]}, {rows[0][1]} trial(s)), worst with "
            f"`{worst_value}` ({rows[-1][2]}, {rows[-1][1]} trial(s))",
            rows,
        )
    values = np.array([float(t.params.get(name)) for t in usable])
    metrics = np.array([t.best for t in usable])
    if len(usable) < 3 or np.ptp(values) == 0:
        return "too few trials to say", []
    rho = float(spearmanr(values, metrics).statistic)
    median = float(np.median(values))
    low, high = metrics[values <= median], metrics[values > median]
    rows = [
        [f"<= {_fmt(median, 3)}", str(len(low)), _fmt(float(np.mean(low))), _fmt(better(low))],
        [f"> {_fmt(median, 3)}", str(len(high)), _fmt(float(np.mean(high))), _fmt(better(high))]
        if len(high)
        else [f"> {_fmt(median, 3)}", "0", "-", "-"],
    ]
    direction = "higher" if rho > 0 else "lower"
    strength = "weak" if abs(rho) < 0.3 else "moderate" if abs(rho) < 0.6 else "strong"
    good = "lower" if (rho > 0) == (mode == "min") else "higher"
    return (
        f"Spearman rho {rho:+.2f} ({strength}): larger values go with {direction} metric, "
        f"so {good} values look better",
        rows,
    )


def write_trials_csv(path: Path, outcome: SweepOutcome) -> None:
    """One row per trial: parameters, final/best metric, the best report's other metrics."""
    metric = outcome.config.metric
    params = sorted(outcome.parameter_kinds)
    extras = sorted({k for t in outcome.trials for k in t.extra_metrics if k != metric})
    header = (
        ["trial_id", *params, f"{metric}_final", f"{metric}_best"]
        + [f"{k}_at_best" for k in extras]
        + [f"{outcome.config.time_attr}s_run", "stopped_early", "status", "best_checkpoint_path"]
    )
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for t in outcome.trials:
            writer.writerow(
                [t.trial_id, *[t.params.get(p) for p in params], t.final, t.best]
                + [t.extra_metrics.get(k, "") for k in extras]
                + [t.iterations, t.stopped_early, _status(t), t.best_checkpoint_path or ""]
            )


def _scatter_marker_style(trial: TrialRecord, best_id: str | None) -> dict:
    if trial.trial_id == best_id:
        return dict(color=BEST_COLOR, marker="*", s=160, zorder=4)
    if trial.stopped_early:
        return dict(facecolors="none", edgecolors=STOPPED_COLOR, marker="o", s=50, zorder=3)
    return dict(color=COMPLETED_COLOR, marker="o", s=50, zorder=3)


def _legend_handles(best_id: str | None) -> list:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=COMPLETED_COLOR, marker="o", ls="", label="completed"),
        Line2D(
            [], [], marker="o", ls="", mfc="none", mec=STOPPED_COLOR, label="stopped early (ASHA)"
        ),
    ]
    if best_id:
        handles.append(
            Line2D([], [], color=BEST_COLOR, marker="*", ms=12, ls="", label=f"best ({best_id})")
        )
    return handles


def plot_metric_vs_parameter(
    path: Path, outcome: SweepOutcome, name: str, kind: str, metric_label: str
) -> None:
    """The metric (best per trial) against one searched parameter."""
    trials = _finite(outcome.trials)
    best = outcome.best
    best_id = best.trial_id if best else None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if kind == "categorical":
        labels = sorted({str(t.params.get(name)) for t in trials})
        groups = [[t.best for t in trials if str(t.params.get(name)) == v] for v in labels]
        ax.boxplot(groups, positions=range(len(labels)), widths=0.5, showfliers=False)
        rng = np.random.default_rng(0)
        for trial in trials:
            x = labels.index(str(trial.params.get(name))) + rng.uniform(-0.12, 0.12)
            ax.scatter([x], [trial.best], **_scatter_marker_style(trial, best_id))
        ax.set_xticks(range(len(labels)), labels)
    else:
        for trial in trials:
            ax.scatter(
                [float(trial.params.get(name))],
                [trial.best],
                **_scatter_marker_style(trial, best_id),
            )
        if kind == "log":
            ax.set_xscale("log")
            # Plain numbers at 1-2-5 steps; no crowded minor-tick labels.
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"{name}{' (log scale)' if kind == 'log' else ''}")
    ax.set_ylabel(f"best {metric_label}")
    ax.set_title(f"{metric_label} vs {name} ({len(trials)} trials)")
    ax.grid(alpha=0.3)
    ax.legend(handles=_legend_handles(best_id), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_learning_curves(
    path: Path, outcome: SweepOutcome, metric_label: str, time_label: str
) -> None:
    """Metric vs epoch for every trial; ASHA-stopped trials dashed and grey."""
    from matplotlib.lines import Line2D

    best = outcome.best
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    for trial in outcome.trials:
        if not trial.curve:
            continue
        x, y = zip(*trial.curve, strict=True)
        if best is not None and trial.trial_id == best.trial_id:
            continue  # drawn last, on top
        if trial.error:
            ax.plot(x, y, color=FAILED_COLOR, ls=":", marker="x", lw=1)
        elif trial.stopped_early:
            ax.plot(x, y, color=STOPPED_COLOR, ls="--", marker="o", mfc="none", lw=1)
        else:
            ax.plot(x, y, color=COMPLETED_COLOR, ls="-", marker="o", lw=1.2, alpha=0.8)
    handles = [
        Line2D([], [], color=COMPLETED_COLOR, marker="o", label="completed"),
        Line2D(
            [],
            [],
            color=STOPPED_COLOR,
            ls="--",
            marker="o",
            mfc="none",
            label="stopped early (ASHA)",
        ),
    ]
    if any(t.error for t in outcome.trials):
        handles.append(Line2D([], [], color=FAILED_COLOR, ls=":", marker="x", label="failed"))
    if best is not None and best.curve:
        x, y = zip(*best.curve, strict=True)
        ax.plot(x, y, color=BEST_COLOR, lw=2.4, marker="o", zorder=5)
        handles.append(
            Line2D([], [], color=BEST_COLOR, lw=2.4, marker="o", label=f"best ({best.trial_id})")
        )
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(time_label)
    ax.set_ylabel(metric_label)
    ax.set_title(
        f"Learning curves of {len(outcome.trials)} trials ({outcome.stopped_early} stopped by ASHA)"
    )
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_best_trial(path: Path, best: TrialRecord, metric_label: str, time_label: str) -> None:
    """The best trial's curve with its best point marked."""
    x, y = zip(*best.curve, strict=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(x, y, color=BEST_COLOR, marker="o", lw=2, label=f"trial {best.trial_id}")
    i = int(np.nanargmin(y)) if best.best == min(y) else int(np.nanargmax(y))
    ax.scatter([x[i]], [y[i]], color="k", marker="*", s=150, zorder=5, label=f"best {y[i]:.3f}")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(time_label)
    ax.set_ylabel(metric_label)
    params = ", ".join(f"{k}={_fmt(v, 3)}" for k, v in best.params.items())
    ax.set_title(f"Best trial: {params}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def write_sweep_report(
    outcome: SweepOutcome,
    directory: str | Path,
    metric_label: str,
    test_metrics: dict[str, float] | None = None,
    title: str | None = None,
    time_label: str | None = None,
) -> SweepReport:
    """Write ``report.md``, ``trials.csv`` and the plots into ``directory`` (a path, or an
    ``s3://``/``gs://`` URI: the files are written locally, then uploaded).

    Args:
        outcome: The sweep's trials (:func:`training.sweep.driver.run_sweep`).
        directory: Output folder (created), on any storage.
        metric_label: The metric with its unit, for axes and tables
            (e.g. ``"val RR MAE (breaths/min)"``).
        test_metrics: The best configuration's metrics on the test split, computed by the
            job (this module never evaluates anything).
        title: Report heading.
        time_label: Axis label of ``time_attr`` (default: its name).
    """
    location = storage.normalize(directory)
    report = SweepReport(
        location, storage.join(location, "report.md"), storage.join(location, "trials.csv")
    )
    with storage.local_dir_for_writing(location) as local:
        _write_report_files(local, report, outcome, metric_label, test_metrics, title, time_label)
    return report


def _write_report_files(
    directory: Path,
    report: SweepReport,
    outcome: SweepOutcome,
    metric_label: str,
    test_metrics: dict[str, float] | None,
    title: str | None,
    time_label: str | None,
) -> None:
    config, best = outcome.config, outcome.best
    time_label = time_label or config.time_attr
    write_trials_csv(directory / "trials.csv", outcome)

    for name, kind in sorted(outcome.parameter_kinds.items()):
        path = directory / f"metric_vs_{name}.png"
        plot_metric_vs_parameter(path, outcome, name, kind, metric_label)
        report.plots.append(path.name)
    curves = directory / "learning_curves.png"
    plot_learning_curves(curves, outcome, metric_label, time_label)
    report.plots.append(curves.name)
    if best is not None and best.curve:
        path = directory / "best_trial.png"
        plot_best_trial(path, best, metric_label, time_label)
        report.plots.append(path.name)

    failed = sum(t.error is not None for t in outcome.trials)
    lines = [
        f"# {title or 'Sweep ' + config.name}",
        "",
        f"{len(outcome.trials)} trials ({outcome.stopped_early} stopped early by ASHA, "
        f"{failed} failed), at most {outcome.max_concurrent_trials} at once with "
        f"{config.workers_per_trial} Ray Train worker(s) each; {config.mode}imise "
        f"`{config.metric}` ({metric_label}); ASHA on `{config.time_attr}` with grace period "
        f"{config.grace_period}, max {config.max_t}, reduction factor "
        f"{config.reduction_factor:g}; Optuna TPE search. Sweep folder: `{config.sweep_dir}`.",
        "",
        "## Best configuration",
        "",
    ]
    if best is None:
        lines += ["No trial reported the metric.", ""]
    else:
        lines += _table(["parameter", "value"], [[k, _fmt(v)] for k, v in best.params.items()])
        lines += [
            "",
            f"Trial `{best.trial_id}`: best {metric_label} **{_fmt(best.best)}** "
            f"(final {_fmt(best.final)} after {_fmt(best.iterations)} {time_label}s).",
            "",
        ]
        others = {k: v for k, v in best.extra_metrics.items() if k != config.metric}
        if others:
            lines += [
                "Other metrics of that report: "
                + ", ".join(f"`{k}` {_fmt(v)}" for k, v in sorted(others.items())),
                "",
            ]
        if test_metrics:
            lines += [
                "Test split (the best checkpoint, evaluated once after the sweep):",
                "",
                *_table(["metric", "test"], [[k, _fmt(v)] for k, v in test_metrics.items()]),
                "",
            ]
    params = sorted(outcome.parameter_kinds)
    ordered = sorted(
        outcome.trials,
        key=lambda t: (not math.isfinite(t.best), t.best if config.mode == "min" else -t.best),
    )
    lines += ["## All trials (best first)", ""]
    lines += _table(
        [
            "trial",
            *params,
            f"final {config.metric}",
            f"best {config.metric}",
            f"{time_label}s",
            "status",
        ],
        [
            [t.trial_id, *[_fmt(t.params.get(p)) for p in params], _fmt(t.final), _fmt(t.best)]
            + [_fmt(t.iterations), _status(t)]
            for t in ordered
        ],
    )
    lines += ["", "## What the sweep says per parameter", ""]
    lines += [
        "Each trial counts with its best value; trials stopped early had fewer "
        f"{time_label}s to reach it.",
        "",
    ]
    for name in params:
        kind = outcome.parameter_kinds[name]
        finding, rows = parameter_findings(outcome.trials, name, kind, config.mode)
        lines += [f"### `{name}` ({kind})", "", finding + ".", ""]
        if rows:
            group = "value" if kind == "categorical" else "range"
            lines += _table([group, "trials", "mean", "best"], rows) + [""]
        lines += [f"![{name}](metric_vs_{name}.png)", ""]
    lines += ["## Learning curves", "", "![learning curves](learning_curves.png)", ""]
    if best is not None and best.curve:
        lines += ["![best trial](best_trial.png)", ""]
    (directory / "report.md").write_text("\n".join(lines))

    summary = [f"[sweep report] {report.markdown_location}"]
    if best is not None:
        summary.append(
            f"  best trial {best.trial_id}: {config.metric} {_fmt(best.best)} with "
            + ", ".join(f"{k}={_fmt(v, 3)}" for k, v in best.params.items())
        )
    if test_metrics:
        summary.append(
            "  its test metrics: " + ", ".join(f"{k} {_fmt(v)}" for k, v in test_metrics.items())
        )
    summary.append(
        f"  {len(outcome.trials)} trials, {outcome.stopped_early} stopped early by ASHA, "
        f"{failed} failed; plots: {', '.join(report.plots)}"
    )
    report.summary = "\n".join(summary)
