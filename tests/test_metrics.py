"""The one definition of accuracy (`actionrec.metrics`): the prediction and its ties as `predict` ranks, top-k with
one or several right classes, mean class accuracy; evaluation and training's validation score through it."""

from __future__ import annotations

import numpy as np
import pytest

from actionrec import metrics, scoring
from actionrec.runtime.aggregate import ranked as predict_ranking
from actionrec.training import validation

LABELS = ("a", "b", "c", "d")


def test_the_prediction_breaks_ties_as_predict_ranks():
    """With equal scores the lower class wins, in `top1` and in `ranked`, exactly as `predict`'s ranking orders
    the labels of one window."""
    probs = np.array([[0.3, 0.3, 0.2, 0.2], [0.1, 0.4, 0.1, 0.4], [0.25, 0.25, 0.25, 0.25], [0.0, 0.1, 0.9, 0.0]])
    for row, top, order in zip(probs, metrics.top1(probs), metrics.ranked(probs, 3), strict=True):
        want = [LABELS.index(s.label) for s in predict_ranking(row, LABELS, 3)]
        assert top == want[0] and order.tolist() == want


def test_top_k_with_one_right_class_is_top_k_with_a_label_map_of_one():
    """`accuracy_topk` (targets) and `accuracy_in` (the classes that count as right: evaluate's label maps) agree
    when each row has one right class; a second right class can only add hits; k past the class count counts every
    row; no rows is NaN, not an error."""
    rng = np.random.default_rng(0)
    probs = rng.random((50, 4)).round(1)  # rounded: many ties
    targets = rng.integers(0, 4, 50)
    right = np.eye(4, dtype=bool)[targets]
    for k in (1, 2, 3, 4, 9):
        assert metrics.accuracy_topk(probs, targets, k) == metrics.accuracy_in(probs, right, k)
    assert metrics.accuracy_topk(probs, targets, 4) == 1.0
    wider = right | np.eye(4, dtype=bool)[(targets + 1) % 4]
    assert metrics.accuracy_in(probs, wider, 1) >= metrics.accuracy_in(probs, right, 1)
    assert np.mean(metrics.top1(probs) == targets) == metrics.accuracy_topk(probs, targets, 1)
    assert np.isnan(metrics.accuracy_topk(probs[:0], targets[:0], 1))
    assert np.isnan(metrics.accuracy_in(probs[:0], right[:0], 1))


def test_mean_class_accuracy_averages_the_classes_that_have_samples():
    """Mean class accuracy is the mean of per-class recalls (the confusion matrix's diagonal over its rows), over
    the classes with samples only."""
    targets = np.array([0, 0, 0, 1, 3, 3])
    preds = np.array([0, 0, 1, 1, 2, 3])
    matrix = metrics.confusion_matrix(preds, targets, 4)
    assert matrix.sum() == len(targets) and matrix[0].tolist() == [2, 1, 0, 0]
    recalls = metrics.class_recalls(matrix)
    assert np.isnan(recalls[2])
    assert metrics.mean_class_accuracy(matrix) == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)


def test_evaluation_and_validation_use_the_one_definition():
    """Evaluation's and training's validation's accuracy are the functions of `metrics`, not copies."""
    assert scoring.accuracy_topk is metrics.accuracy_topk
    assert scoring.mean_class_accuracy is metrics.mean_class_accuracy
    assert validation.accuracy_topk is metrics.accuracy_topk
