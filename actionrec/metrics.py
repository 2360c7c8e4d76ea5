"""Accuracy, the one definition: the top-k prediction of scores (ties: the lower class first, as `predict`'s
rankings), top-k accuracy, the confusion matrix and mean class accuracy. Pure numpy functions on arrays, used by
evaluation, training's validation and the benches."""

from __future__ import annotations

import numpy as np


def ranked(probs: np.ndarray, k: int) -> np.ndarray:
    """(N, min(k, C)) class indices of each row's k highest scores, best first; ties: the lower class index first,
    as in `predict`'s rankings. probs (N, C)."""
    return np.argsort(-probs, axis=1, kind="stable")[:, : max(k, 1)]


def top1(probs: np.ndarray) -> np.ndarray:
    """(N,) the predicted class of each row: the first of `ranked`."""
    return ranked(probs, 1)[:, 0]


def accuracy_topk(probs: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Fraction of rows whose target is among the k highest scores (`ranked`). probs (N, C), targets (N,) ints;
    k larger than C counts every row; no rows: NaN."""
    if len(targets) == 0:
        return float("nan")
    return float(np.mean(np.any(ranked(probs, k) == np.asarray(targets)[:, None], axis=1)))


def accuracy_in(probs: np.ndarray, right: np.ndarray, k: int) -> float:
    """Fraction of rows with a right class among their k highest scores (`ranked`). probs (N, C), right (N, C)
    bool: the classes that count as right for each row (one or more); no rows: NaN."""
    if len(right) == 0:
        return float("nan")
    return float(np.mean(np.take_along_axis(right, ranked(probs, k), axis=1).any(axis=1)))


def confusion_matrix(preds: np.ndarray, targets: np.ndarray, n: int) -> np.ndarray:
    """(n, n) int64 counts: row = true class, column = predicted class."""
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (np.asarray(targets, dtype=np.int64), np.asarray(preds, dtype=np.int64)), 1)
    return matrix


def class_recalls(matrix: np.ndarray) -> np.ndarray:
    """Per class, the share of its samples predicted as itself; NaN for a class with no samples."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def mean_class_accuracy(matrix: np.ndarray) -> float:
    """The mean of the per-class recalls over the classes that have samples (a confusion matrix in)."""
    recalls = class_recalls(matrix)
    present = ~np.isnan(recalls)
    return float(recalls[present].mean()) if present.any() else float("nan")
