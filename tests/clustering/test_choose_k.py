"""The k rule on hand-made elbow curves (segspark/choose_k.py), no Spark needed."""

from __future__ import annotations

import pytest

from segspark.clustering.choose_k import choose_k, find_knee, sweep_ks
from segspark.errors import InputError, UsageError

KS = list(range(1, 16))
# Four well separated groups: the cost falls steeply to k = 4, then barely.
ELBOW_AT_4 = [1000, 560, 250, 60, 55, 51, 48, 45, 43, 41, 39, 37, 36, 35, 34]
SILHOUETTE_AT_4 = [None, 0.55, 0.62, 0.81, 0.70, 0.62, 0.6, 0.58, 0.55, 0.52, 0.5, 0.49, 0.48, 0.47, 0.46]
STRAIGHT = [1000 - 60 * i for i in range(15)]
FLAT_SILHOUETTE = [None, 0.30, 0.31, 0.30, 0.29, 0.30, 0.35, 0.31, 0.35, 0.30, 0.29, 0.28, 0.30, 0.30, 0.29]


def test_a_clear_knee_is_chosen_by_kneedle():
    choice = choose_k(KS, ELBOW_AT_4, SILHOUETTE_AT_4)
    assert (choice.k, choice.rule, choice.clear_knee) == (4, "kneedle", True)
    assert choice.knee_strength > 0.5
    assert "clear knee at k = 4" in choice.explanation


def test_a_straight_curve_has_no_clear_knee_and_falls_back_to_silhouette():
    choice = choose_k(KS, STRAIGHT, FLAT_SILHOUETTE)
    assert choice.clear_knee is False
    assert choice.rule == "best_silhouette"
    assert choice.k == 7  # the smallest k with the highest silhouette, 0.35
    assert choice.explanation.startswith("no clear knee: ")


def test_a_knee_the_silhouette_disagrees_with_is_not_clear():
    silhouettes = [None, 0.4, 0.35, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
    choice = choose_k(KS, ELBOW_AT_4, silhouettes)
    assert (choice.k, choice.rule, choice.clear_knee, choice.knee) == (2, "best_silhouette", False, 4)
    assert "the knee at k = 4 has silhouette 0.200 < 0.25" in choice.explanation


def test_a_knee_is_followed_even_where_k_2_has_the_best_silhouette():
    silhouettes = [None, 0.89, 0.68, 0.61, 0.67, 0.63, 0.6, 0.58, 0.58, 0.58, 0.58, 0.55, 0.56, 0.56, 0.53]
    choice = choose_k(KS, ELBOW_AT_4, silhouettes)
    assert (choice.k, choice.rule, choice.clear_knee) == (4, "kneedle", True)
    assert "best 0.890 at k = 2" in choice.explanation


STABLE = {k: 0.95 for k in range(2, 16)}


def test_a_clear_knee_is_followed_when_it_is_stable():
    choice = choose_k(KS, ELBOW_AT_4, SILHOUETTE_AT_4, stability=STABLE)
    assert (choice.k, choice.rule) == (4, "kneedle")
    assert choice.explanation.endswith("best 0.810 at k = 4, mean ARI 0.95)")


def test_an_unstable_knee_gives_way_to_the_most_stable_k_next_to_it():
    stability = {**STABLE, 3: 0.83, 4: 0.61, 5: 0.9}
    choice = choose_k(KS, ELBOW_AT_4, SILHOUETTE_AT_4, stability=stability)
    assert (choice.k, choice.rule, choice.knee, choice.clear_knee) == (5, "stable_near_knee", 4, True)
    assert (
        choice.explanation
        == "the knee at k = 4 is not stable (mean ARI 0.61 < 0.8); k = 5 next to it is (mean ARI 0.90)"
    )
    neighbours_unstable = {**STABLE, 3: 0.5, 4: 0.61, 5: 0.7}
    choice = choose_k(KS, ELBOW_AT_4, SILHOUETTE_AT_4, stability=neighbours_unstable)
    assert choice.rule == "best_silhouette" and choice.k == 6  # the best silhouette among the stable ks
    assert "the knee at k = 4 and the ks next to it are not stable" in choice.explanation
    assert "using the best silhouette among the stable ones, k = 6, mean ARI 0.95" in choice.explanation


def test_no_stable_k_means_no_clear_structure():
    noise = {k: 0.3 + 0.01 * k for k in range(2, 16)}
    choice = choose_k(KS, STRAIGHT, FLAT_SILHOUETTE, stability=noise)
    assert (choice.rule, choice.k) == ("no_structure", 7)
    assert choice.explanation.startswith(
        "no clear structure: no k is stable (the most stable, k = 15, has mean ARI 0.45"
    )


def test_a_given_k_wins_but_the_knee_is_still_reported():
    choice = choose_k(KS, ELBOW_AT_4, SILHOUETTE_AT_4, given_k=6)
    assert (choice.k, choice.rule, choice.knee) == (6, "given", 4)


def test_too_short_a_curve_has_no_knee():
    assert find_knee([1, 2], [10.0, 5.0]) == (None, None)
    assert choose_k([1], [10.0], [None]).rule == "single_k"


def test_the_sweep_is_cut_to_the_number_of_customers():
    assert sweep_ks(1, 15, 25_000) == list(range(1, 16))
    assert sweep_ks(1, 15, 3) == [1, 2, 3]
    assert sweep_ks(2, 4, 10, given_k=3) == [2, 3, 4]


def test_one_customer_or_an_impossible_k_is_a_clear_message():
    with pytest.raises(InputError, match=r"only 1 customer\(s\) left after the rules; segmenting needs at least 2"):
        sweep_ks(1, 15, 1)
    with pytest.raises(UsageError, match=r"--k 5: k must be between 2 and the number of customers \(3\)"):
        sweep_ks(1, 15, 3, given_k=5)
    with pytest.raises(UsageError, match="need 1 <= k_min <= k_max"):
        sweep_ks(5, 2, 100)
    with pytest.raises(UsageError, match="no k >= 2"):
        sweep_ks(1, 1, 100)
