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

import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from segspark.evaluation import nearest_centres

DISSOLVED_BELOW = 0.5  # clusterboot: a best-match Jaccard under 0.5 means the cluster dissolved
UNSTABLE_BELOW = 0.6  # clusterboot reads a mean Jaccard under 0.6 as not a stable pattern


@dataclass(frozen=True)
class Stability:
    """One k's resampling scores: ARI per resample, and per cluster its best-match Jaccard per resample."""

    k: int
    ari: list[float]
    jaccard: np.ndarray  # clusters x resamples

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

    def by_cluster(self) -> dict[int, tuple[float, int]]:
        """cluster -> (mean best-match Jaccard, resamples in which it dissolved)."""
        return {
            cluster: (float(row.mean()), int((row < DISSOLVED_BELOW).sum()))
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
    sizes, other_sizes = contingency.sum(axis=1), contingency.sum(axis=0)
    union = sizes[:, None] + other_sizes[None, :] - contingency
    jaccard = np.divide(contingency, union, out=np.zeros_like(contingency), where=union > 0)
    return jaccard.max(axis=1)


def resampling_stability(
    sample: np.ndarray,
    centres_by_k: Mapping[int, Sequence[Sequence[float]]],
    resamples: int,
    restarts: int,
    seed: int,
) -> dict[int, Stability]:
    """Every k's stability over `resamples` random halves of `sample` (the k's model: `centres_by_k`)."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    base = {k: nearest_centres(sample, np.asarray(centres, dtype=float))[0] for k, centres in centres_by_k.items()}
    ari: dict[int, list[float]] = {k: [] for k in centres_by_k}
    jaccard: dict[int, list[np.ndarray]] = {k: [] for k in centres_by_k}
    half = max(2, len(sample) // 2)
    for resample in range(resamples):
        chosen = np.random.default_rng(seed + resample).choice(len(sample), size=half, replace=False)
        for k in centres_by_k:
            with warnings.catch_warnings(), threadpool_limits(1):  # see model.seed_centres
                warnings.simplefilter("ignore", ConvergenceWarning)
                refit = KMeans(n_clusters=k, n_init=max(1, restarts), random_state=seed + resample).fit(sample[chosen])
            labels = nearest_centres(sample, refit.cluster_centers_)[0]
            ari[k].append(adjusted_rand_index(base[k], labels))
            jaccard[k].append(best_match_jaccard(base[k], labels, k))
    return {k: Stability(k, ari[k], np.array(jaccard[k]).T.reshape(k, resamples)) for k in centres_by_k}


def of_fits(
    sample: np.ndarray, centres_by_k: Mapping[int, Sequence[Sequence[float]]], resamples: int, restarts: int, seed: int
) -> dict[int, Stability]:
    """Every fitted k's stability (none where `resamples` is 0 or half the sample is fewer points than k)."""
    measurable = {k: c for k, c in centres_by_k.items() if k >= 2 and len(sample) // 2 >= k}
    if resamples <= 0 or not measurable:
        return {}
    return resampling_stability(sample, measurable, resamples, restarts, seed)


def by_segment(scores: Stability | None, numbering: Mapping[int, int]) -> list[dict]:
    """summary.json's `model.segment_stability`: per segment, its mean best-match Jaccard and how often it dissolved."""
    if scores is None:
        return []
    return [
        {"segment": numbering[cluster], "jaccard_mean": round(mean, 4), "dissolved": dissolved,
         "resamples": len(scores.ari)}
        for cluster, (mean, dissolved) in sorted(scores.by_cluster().items(), key=lambda item: numbering[item[0]])
    ]  # fmt: skip
