"""Resampling stability of every k: would these segments exist tomorrow?

An elbow and a silhouette say how compact clusters are, not whether they are real. The standard
answer (Ben-Hur, Elisseeff and Guyon 2002; Lange et al. 2004; Hennig's clusterboot) is to refit on
resamples and compare the labels on shared points:

- the points: the seeding sample (at most `seeding_sample` training points, uniform, in the
  driver); every resample is a random half of it, so the cost has a fixed cap whatever the
  number of customers;
- each refit is the same method as a k's seeds: k-means++, the best of `restarts`
  initialisations (scikit-learn), on the half;
- each refit labels the whole sample and is compared with the k's model (its MLlib centres) by
  the adjusted Rand index (ARI), and, per segment, by the Jaccard index of its best-matching
  refitted cluster, as clusterboot does. A segment whose best match has Jaccard below 0.5
  "dissolved" in that resample.

Seeds are fixed (resample b uses seed + b), so reruns give the same scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from segspark.clustering.evaluation import jaccard_matrix, nearest_centres
from segspark.clustering.model import kmeans_plus_plus

DISSOLVED_BELOW = 0.5  # clusterboot: a best-match Jaccard under 0.5 means the cluster dissolved
UNSTABLE_BELOW = 0.6  # clusterboot reads a mean Jaccard under 0.6 as not a stable pattern


@dataclass(frozen=True)
class Stability:
    """One k's resampling scores: ARI per resample, and per cluster its best-match Jaccard per resample."""

    k: int
    ari: list[float]
    jaccard: np.ndarray  # clusters x resamples
    sampled: np.ndarray | None = None  # clusters: has the cluster any point in the sample? (None: all)

    def as_dict(self) -> dict:
        """The `stability` of an elbow entry in summary.json."""
        return {
            "ari_mean": round(float(np.mean(self.ari)), 4),
            "ari_min": round(float(np.min(self.ari)), 4),
            "resamples": len(self.ari),
        }

    @property
    def ari_mean(self) -> float:
        return float(np.mean(self.ari))

    def by_cluster(self) -> dict[int, tuple[float, int] | None]:
        """cluster -> (mean best-match Jaccard, resamples in which it dissolved); None for a cluster
        with no point in the sample, whose stability was not measured (not 'Jaccard 0')."""
        return {
            cluster: (float(row.mean()), int((row < DISSOLVED_BELOW).sum()))
            if self.sampled is None or self.sampled[cluster]
            else None
            for cluster, row in enumerate(self.jaccard)
        }


def adjusted_rand_index(labels: np.ndarray, other: np.ndarray) -> float:
    """The ARI of two labellings of the same points (scikit-learn's adjusted_rand_score)."""
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(labels, other))


def best_match_jaccard(labels: np.ndarray, other: np.ndarray, clusters: int) -> np.ndarray:
    """For each cluster of `labels`, the Jaccard index of its points with the most similar cluster of `other`."""
    others = int(other.max()) + 1 if len(other) else 0
    contingency = np.zeros((clusters, max(others, 1)))
    np.add.at(contingency, (labels, other), 1)
    return jaccard_matrix(contingency).max(axis=1)


def refits(
    sample: np.ndarray, ks: Sequence[int], resamples: int, restarts: int, seed: int
) -> dict[int, list[np.ndarray]]:
    """Each measurable k's centres refitted on `resamples` random halves of `sample`.

    The costly part, and independent of the k's MLlib model: the job runs it beside the sweep.
    None for k = 1, a k above half the sample, or `resamples` 0.
    """
    measurable = sorted({k for k in ks if k >= 2 and len(sample) // 2 >= k}) if resamples > 0 else []
    refitted: dict[int, list[np.ndarray]] = {k: [] for k in measurable}
    half = max(2, len(sample) // 2)
    for resample in range(resamples if measurable else 0):
        chosen = np.random.default_rng(seed + resample).choice(len(sample), size=half, replace=False)
        for k in measurable:
            refitted[k].append(kmeans_plus_plus(sample[chosen], k, restarts, seed + resample))
    return refitted


def scored(
    sample: np.ndarray, centres_by_k: Mapping[int, Sequence[Sequence[float]]], refitted: Mapping[int, list[np.ndarray]]
) -> dict[int, Stability]:
    """Every refitted k's stability: its model's labels of `sample` against each refit's (ARI, best-match Jaccard)."""
    scores = {}
    for k, refit_centres in refitted.items():
        if k not in centres_by_k or not refit_centres:
            continue
        base = nearest_centres(sample, np.asarray(centres_by_k[k], dtype=float))[0]
        relabelled = [nearest_centres(sample, centres)[0] for centres in refit_centres]
        jaccard = np.array([best_match_jaccard(base, labels, k) for labels in relabelled]).T
        sampled = np.bincount(base, minlength=len(centres_by_k[k])) > 0
        scores[k] = Stability(k, [adjusted_rand_index(base, labels) for labels in relabelled], jaccard, sampled)
    return scores


def by_segment(scores: Stability | None, numbering: Mapping[int, int]) -> list[dict]:
    """summary.json's `model.segment_stability`: per segment, its mean best-match Jaccard and how often it dissolved."""
    if scores is None:
        return []
    return [
        {"segment": numbering[cluster], "jaccard_mean": None if scored is None else round(scored[0], 4),
         "dissolved": None if scored is None else scored[1], "resamples": len(scores.ari),
         "measured": scored is not None}
        for cluster, scored in sorted(scores.by_cluster().items(), key=lambda item: numbering[item[0]])
    ]  # fmt: skip
