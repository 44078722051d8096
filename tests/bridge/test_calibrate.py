"""Calibration: monotone probabilities, a threshold that meets its precision, honest ECE."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.bridge.calibrate import (
    Calibration,
    CalibrationData,
    calibration_data,
    expected_calibration_error,
    fit_calibration,
    precision_threshold,
)
from sfxkit.errors import InputError


def _scores(n_queries=300, n_items=40, strength=2.0, seed=0):
    """Score matrices where the right item tends to score higher, by ``strength``."""
    rng = np.random.default_rng(seed)
    s = rng.normal(0.0, 1.0, (n_queries, n_items))
    targets = rng.integers(n_items, size=n_queries)
    s[np.arange(n_queries), targets] += strength * rng.random(n_queries) * 2
    return s * 0.1, targets


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_probability_is_monotone_in_the_score(method):
    s, t = _scores()
    cal = fit_calibration(calibration_data(s, t), method=method)
    grid = np.linspace(s.min() - 0.5, s.max() + 0.5, 500)
    p = cal.probabilities(grid)
    assert np.all(np.diff(p) >= -1e-12)
    assert p.min() >= 0.0 and p.max() <= 1.0
    assert p[-1] > p[0], "higher scores are more likely right"


def test_monotone_even_when_the_data_are_not():
    # Noisy labels that go down in places: the fitted map still never decreases.
    rng = np.random.default_rng(1)
    scores = rng.random(400)
    labels = (rng.random(400) < np.sin(scores * 9) ** 2).astype(int)
    data = CalibrationData(scores, labels, np.arange(400) // 4, scores[::4], labels[::4])
    for method in ("isotonic", "platt"):
        p = fit_calibration(data, method=method).probabilities(np.linspace(0, 1, 300))
        assert np.all(np.diff(p) >= -1e-12)


def test_threshold_meets_the_target_precision():
    s, t = _scores(strength=1.5)
    data = calibration_data(s, t)
    cal = fit_calibration(data, target_precision=0.9)
    assert cal.threshold is not None
    accepted = data.top1_scores >= cal.threshold
    assert data.top1_labels[accepted].mean() >= 0.9
    assert cal.threshold_precision == pytest.approx(data.top1_labels[accepted].mean())
    assert cal.confident_fraction == pytest.approx(accepted.mean())
    # a lower target accepts at least as many queries
    loose = fit_calibration(data, target_precision=0.6)
    assert loose.threshold <= cal.threshold


def test_unreachable_target_means_no_threshold():
    s, t = _scores(strength=0.0)  # scores carry no information
    cal = fit_calibration(calibration_data(s, t), target_precision=0.95)
    assert cal.threshold is None and not cal.is_confident(1e9)
    assert precision_threshold(np.array([0.9, 0.8]), np.array([1, 1]), 0.8) == (None, None, 0.0)


def test_calibrated_probabilities_match_frequencies():
    s, t = _scores(n_queries=600, seed=3)
    cal = fit_calibration(calibration_data(s, t))
    assert cal.method == "isotonic" and not cal.ece_in_sample
    assert cal.ece < 0.05
    # on fresh data from the same process the stored map is still calibrated
    s2, t2 = _scores(n_queries=600, seed=4)
    fresh = calibration_data(s2, t2)
    assert expected_calibration_error(cal.probabilities(fresh.scores), fresh.labels) < 0.06


def test_ece_of_known_cases():
    assert expected_calibration_error(np.array([0.25] * 4), np.array([0, 0, 0, 1])) == 0.0
    # all predicted 0.9, right half the time: off by 0.4
    assert expected_calibration_error(np.full(10, 0.9), np.array([1, 0] * 5)) == pytest.approx(0.4)


def test_round_trip_and_weights():
    s, t = _scores()
    cal = fit_calibration(calibration_data(s, t), weights={"clip_text": 0.3, "bridge": 0.7})
    back = Calibration.from_dict(cal.to_dict())
    assert back == cal
    grid = np.linspace(-1, 1, 50)
    assert np.array_equal(back.probabilities(grid), cal.probabilities(grid))
    assert cal.applies_to({"clip_text": 3, "bridge": 7})
    assert not cal.applies_to({"clip_text": 1.0})
    with pytest.raises(InputError):
        Calibration.from_dict({**cal.to_dict(), "method": "magic"})
    with pytest.raises(InputError):
        fit_calibration(calibration_data(s, t), target_precision=1.5)
