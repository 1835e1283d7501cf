"""Resampling stability (segspark/stability.py) on generated points, no Spark needed."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

from segspark.clustering import choose_k, stability


def fitted_centres(points, ks):
    return {k: KMeans(n_clusters=k, n_init=10, random_state=0).fit(points).cluster_centers_ for k in ks}


def of_fits(points, centres_by_k, resamples, restarts, seed):
    """Every fitted k's stability, as the job gets it: the refits (beside its sweep), then their scores."""
    refitted = stability.refits(points, list(centres_by_k), resamples, restarts, seed)
    return stability.scored(points, centres_by_k, refitted)


@pytest.fixture(scope="module")
def blobs():
    """Four well-separated groups in three dimensions."""
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 1.0], [0.0, 4.0, 2.0], [4.0, 4.0, 5.0]])
    return np.concatenate([rng.normal(c, 0.4, size=(300, 3)) for c in centres])


def test_separated_blobs_are_stable_at_their_k_and_less_so_two_above(blobs):
    scores = of_fits(blobs, fitted_centres(blobs, [4, 6]), resamples=5, restarts=10, seed=3)
    assert scores[4].ari_mean > 0.98 and min(scores[4].ari) > 0.95
    assert scores[6].ari_mean < scores[4].ari_mean - 0.05
    assert all(mean > 0.95 and dissolved == 0 for mean, dissolved in scores[4].by_cluster().values())
    assert scores[4].as_dict() == {
        "ari_mean": round(scores[4].ari_mean, 4),
        "ari_min": round(min(scores[4].ari), 4),
        "resamples": 5,
    }


def noise(shape: str) -> np.ndarray:
    rng = np.random.default_rng(2)
    if shape == "uniform in a ball":
        points = rng.normal(size=(4_000, 3))
        return (points / np.linalg.norm(points, axis=1)[:, None] * rng.uniform(0, 1, size=(4_000, 1)) ** (1 / 3))[
            :1_200
        ]
    return rng.normal(size=(1_200, 3))


@pytest.mark.parametrize("shape", ["uniform in a ball", "one Gaussian cloud"])
def test_noise_without_clusters_is_unstable_at_every_k(shape):
    """(Uniform noise in a cube is the exception, measured: k = 8 is stable there, its octants being a
    real partition of a cube. A ball and a Gaussian cloud have no partition that holds.)"""
    points = noise(shape)
    ks = [2, 3, 4, 5, 6, 8, 10]
    scores = of_fits(points, fitted_centres(points, ks), resamples=5, restarts=10, seed=3)
    assert max(scores[k].ari_mean for k in ks) < 0.8, {k: scores[k].ari_mean for k in ks}
    assert any(dissolved > 0 for k in ks for _, dissolved in scores[k].by_cluster().values())


def test_on_noise_the_choice_of_k_says_there_is_no_clear_structure():
    """The whole chain the job runs: the elbow's costs and silhouettes, stability, then choose_k."""
    from sklearn.metrics import silhouette_score

    points = noise("uniform in a ball")
    ks = list(range(1, 9))
    fits = {k: KMeans(n_clusters=k, n_init=10, random_state=0).fit(points) for k in ks}
    silhouettes = [None] + [float(silhouette_score(points, fits[k].labels_)) for k in ks[1:]]
    scores = of_fits(points, {k: fits[k].cluster_centers_ for k in ks[1:]}, resamples=5, restarts=10, seed=3)
    choice = choose_k.choose_k(
        ks, [fits[k].inertia_ for k in ks], silhouettes, None, {k: score.ari_mean for k, score in scores.items()}
    )
    assert choice.rule == "no_structure", choice
    assert choice.explanation.startswith("no clear structure: no k is stable")


def test_the_same_seed_gives_the_same_scores(blobs):
    centres = fitted_centres(blobs, [3, 5])
    first = of_fits(blobs, centres, resamples=3, restarts=2, seed=9)
    again = of_fits(blobs, centres, resamples=3, restarts=2, seed=9)
    assert {k: s.ari for k, s in first.items()} == {k: s.ari for k, s in again.items()}
    assert all(np.array_equal(first[k].jaccard, again[k].jaccard) for k in first)


def test_best_match_jaccard_and_the_adjusted_rand_index():
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert stability.best_match_jaccard(labels, np.array([1, 1, 1, 0, 0, 0]), 2).tolist() == [1.0, 1.0]
    # cluster 0 split in two: its best match holds 2 of its 3 points
    assert stability.best_match_jaccard(labels, np.array([0, 0, 2, 1, 1, 1]), 2).tolist() == pytest.approx([2 / 3, 1.0])
    assert stability.adjusted_rand_index(labels, np.array([1, 1, 1, 0, 0, 0])) == pytest.approx(1.0)


def test_a_segment_with_no_customer_in_the_seeding_sample_is_not_measured_not_unstable():
    from segspark.report import report

    sample = np.array([[0.0, 0, 0]] * 10 + [[5.0, 5, 5]] * 10)
    centres = {3: [[0.0, 0, 0], [5.0, 5, 5], [50.0, 50, 50]]}  # the third holds no sampled customer
    refitted = {3: [np.array([[0.0, 0, 0], [5.0, 5, 5], [6.0, 6, 6]])]}
    rows = stability.by_segment(stability.scored(sample, centres, refitted)[3], {0: 0, 1: 1, 2: 2})
    assert [row["measured"] for row in rows] == [True, True, False]
    assert rows[2]["jaccard_mean"] is None and rows[2]["dissolved"] is None
    assert rows[0]["jaccard_mean"] == 1.0
    assert report._stability_cell(rows[2]).startswith("not measured")
