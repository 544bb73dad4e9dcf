"""Linear probes on frozen features, and the mean/majority baseline, for downstream metrics.

The probe protocol (as in the MBSL paper's linear evaluation): features of the frozen encoder
are standardised on the training split; ridge regression predicts heart rate and respiration
rate, multinomial logistic regression predicts the activity and a class-balanced logistic
regression predicts apnea. Each probe's regularisation strength is chosen on the validation
split (never on the test split). Unknown labels (NaN, -1) are left out of fitting and scoring.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import LinAlgWarning
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import StandardScaler

RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)
LOGISTIC_CS = (0.01, 0.1, 1.0, 10.0)
REGRESSION_TARGETS = {"hr_bpm": "hr_mae_bpm", "rr_bpm": "rr_mae_bpm"}


@dataclass
class SplitData:
    """Features [N, F] and label arrays of one split (``hr_bpm``, ``rr_bpm``, ``activity``, ``apnea``)."""

    features: np.ndarray
    labels: dict[str, np.ndarray]


def _known(name: str, values: np.ndarray) -> np.ndarray:
    return ~np.isnan(values) if name in REGRESSION_TARGETS else values >= 0


def mean_absolute_error(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - target))) if len(target) else math.nan


@dataclass
class LinearProbes:
    """Fitted probes; :meth:`evaluate` gives the downstream metrics on a split."""

    scaler: StandardScaler
    models: dict[str, object] = field(default_factory=dict)

    @classmethod
    def fit(cls, train: SplitData, val: SplitData) -> LinearProbes:
        scaler = StandardScaler().fit(train.features)
        x_train, x_val = scaler.transform(train.features), scaler.transform(val.features)
        probes = cls(scaler)
        for name in REGRESSION_TARGETS:
            probes.models[name] = _fit_ridge(x_train, train.labels[name], x_val, val.labels[name])
        probes.models["activity"] = _fit_logistic(
            x_train, train.labels["activity"], x_val, val.labels["activity"], "accuracy"
        )
        probes.models["apnea"] = _fit_logistic(
            x_train, train.labels["apnea"], x_val, val.labels["apnea"], "f1"
        )
        return probes

    def evaluate(self, split: SplitData) -> dict[str, float]:
        x = self.scaler.transform(split.features)
        return downstream_metrics(
            {name: model.predict(x) for name, model in self.models.items() if model is not None},
            split.labels,
        )


def downstream_metrics(
    predictions: dict[str, np.ndarray], labels: dict[str, np.ndarray]
) -> dict[str, float]:
    """``hr_mae_bpm``, ``rr_mae_bpm``, ``activity_acc``, ``apnea_f1`` (NaN where not measurable)."""
    metrics: dict[str, float] = {}
    for name, metric in REGRESSION_TARGETS.items():
        known = _known(name, labels[name])
        if name in predictions and known.any():
            metrics[metric] = mean_absolute_error(predictions[name][known], labels[name][known])
        else:
            metrics[metric] = math.nan
    known = _known("activity", labels["activity"])
    metrics["activity_acc"] = (
        float(accuracy_score(labels["activity"][known], predictions["activity"][known]))
        if "activity" in predictions and known.any()
        else math.nan
    )
    known = _known("apnea", labels["apnea"])
    has_positive = known.any() and (labels["apnea"][known] == 1).any()
    metrics["apnea_f1"] = (
        float(f1_score(labels["apnea"][known], predictions["apnea"][known], zero_division=0))
        if "apnea" in predictions and has_positive
        else math.nan
    )
    return metrics


def mean_baseline_predictions(train_labels: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Predict the training mean (regression) or the majority class (classification)."""
    predictions = {}
    for name, values in train_labels.items():
        known = values[_known(name, values)]
        if not len(known):
            continue
        if name in REGRESSION_TARGETS:
            predictions[name] = np.full(n, float(known.mean()))
        else:
            classes, counts = np.unique(known, return_counts=True)
            predictions[name] = np.full(n, classes[np.argmax(counts)])
    return predictions


def fit_ridge(alpha: float, x: np.ndarray, y: np.ndarray) -> Ridge:
    """``Ridge(alpha)`` fitted on ``x``, ``y``. The smallest strengths of the validation search
    can leave the system ill-conditioned (scipy warns); validation then simply prefers a
    larger one, so the warning is not shown."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)
        return Ridge(alpha=alpha).fit(x, y)


def _fit_ridge(x_train, y_train, x_val, y_val):
    known_train, known_val = ~np.isnan(y_train), ~np.isnan(y_val)
    if known_train.sum() < 2:
        return None
    best, best_error = None, math.inf
    for alpha in RIDGE_ALPHAS:
        model = fit_ridge(alpha, x_train[known_train], y_train[known_train])
        if not known_val.any():
            return model
        error = mean_absolute_error(model.predict(x_val[known_val]), y_val[known_val])
        if error < best_error:
            best, best_error = model, error
    return best


def _fit_logistic(x_train, y_train, x_val, y_val, score: str):
    known_train, known_val = y_train >= 0, y_val >= 0
    if len(np.unique(y_train[known_train])) < 2:
        return None
    balanced = "balanced" if score == "f1" else None
    best, best_score = None, -math.inf
    for c in LOGISTIC_CS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(C=c, max_iter=500, class_weight=balanced)
            model.fit(x_train[known_train], y_train[known_train])
        if not known_val.any():
            return model
        predicted = model.predict(x_val[known_val])
        if score == "f1":
            value = f1_score(y_val[known_val], predicted, zero_division=0)
        else:
            value = accuracy_score(y_val[known_val], predicted)
        if value > best_score:
            best, best_score = model, value
    return best
