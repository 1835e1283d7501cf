"""Choosing k from the elbow curve: Kneedle on the costs, checked against the silhouette.

Rule (recorded in summary.json as `model.rule`):

1. `given`: the user passed --k.
2. `kneedle`: Kneedle (kneed, convex and decreasing) finds a knee whose strength (the normalised
   distance of the curve below its chord at the knee, 0..1) is at least MIN_KNEE_STRENGTH and
   whose silhouette is at least MIN_SILHOUETTE: below 0.25 Kaufman and Rousseeuw read "no
   substantial structure", so such a knee is an artefact of the curve, not of the customers.
   That knee is a clear knee. (The best silhouette is often at k = 2, splitting off a small odd
   group; it is reported, not followed.)
3. `best_silhouette` (the fallback when there is no clear knee): the k >= 2 with the highest
   silhouette; the summary says plainly that the curve has no clear knee.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from kneed import KneeLocator

from segspark.errors import InputError, UsageError

MIN_KNEE_STRENGTH = 0.2
MIN_SILHOUETTE = 0.25


@dataclass(frozen=True)
class KChoice:
    k: int
    rule: str
    clear_knee: bool
    knee: int | None
    knee_strength: float | None
    explanation: str

    def as_dict(self) -> dict:
        return {
            "k": self.k,
            "rule": self.rule,
            "clear_knee": self.clear_knee,
            "knee": self.knee,
            "knee_strength": None if self.knee_strength is None else round(self.knee_strength, 4),
            "explanation": self.explanation,
        }


def find_knee(ks: Sequence[int], costs: Sequence[float]) -> tuple[int | None, float | None]:
    """Kneedle's knee of a decreasing cost curve and its strength, or (None, None)."""
    if len(ks) < 3 or max(costs) <= min(costs):
        return None, None
    locator = KneeLocator(list(ks), list(costs), curve="convex", direction="decreasing", S=1.0)
    if locator.knee is None:
        return None, None
    index = list(ks).index(int(locator.knee))
    return int(locator.knee), float(locator.y_difference[index])


def choose_k(
    ks: Sequence[int],
    costs: Sequence[float],
    silhouettes: Sequence[float | None],
    given_k: int | None = None,
) -> KChoice:
    """The k to segment with, the rule that chose it, and a sentence saying why."""
    knee, strength = find_knee(ks, costs)
    scored = {k: s for k, s in zip(ks, silhouettes) if s is not None}
    best_k = max(scored, key=lambda k: (scored[k], -k)) if scored else None
    if given_k is not None:
        return KChoice(given_k, "given", False, knee, strength, f"k = {given_k} was given with --k")
    agrees = knee is not None and (scored.get(knee) or 0.0) >= MIN_SILHOUETTE
    if knee is not None and strength is not None and strength >= MIN_KNEE_STRENGTH and agrees:
        return KChoice(
            knee,
            "kneedle",
            True,
            knee,
            strength,
            f"clear knee at k = {knee} (strength {strength:.2f}; silhouette {scored[knee]:.3f}, "
            f"best {scored[best_k]:.3f} at k = {best_k})",
        )
    if best_k is None:
        k = min(ks)
        return KChoice(k, "single_k", False, knee, strength, f"only k = {k} was swept")
    if knee is None:
        why = "Kneedle finds no knee"
    elif strength < MIN_KNEE_STRENGTH:
        why = f"the knee at k = {knee} is weak (strength {strength:.2f} < {MIN_KNEE_STRENGTH})"
    else:
        why = f"the knee at k = {knee} has silhouette {scored.get(knee) or 0.0:.3f} < {MIN_SILHOUETTE}"
    return KChoice(
        best_k,
        "best_silhouette",
        False,
        knee,
        strength,
        f"no clear knee: {why}; using the best silhouette, k = {best_k}",
    )


def sweep_ks(
    k_min: int, k_max: int, customers: int, given_k: int | None = None, distinct_customers: int | None = None
) -> list[int]:
    """The ks to sweep, cut to the number of customers (and of distinct feature vectors, where known);
    refuses what cannot be segmented."""
    if not 1 <= k_min <= k_max:
        raise UsageError(f"k range {k_min}..{k_max}: need 1 <= k_min <= k_max")
    if customers < 2:
        raise InputError(f"only {customers} customer(s) left after the rules; segmenting needs at least 2")
    limit, what = customers, "the number of customers"
    if distinct_customers is not None and distinct_customers < customers:
        limit, what = distinct_customers, "the number of distinct customers (by their three features)"
        if distinct_customers < 2:
            raise InputError(
                f"all {customers} customers have the same three features; segmenting needs two that differ"
            )
    if given_k is not None and not 2 <= given_k <= limit:
        raise UsageError(f"--k {given_k}: k must be between 2 and {what} ({limit})")
    ks = list(range(k_min, min(k_max, limit) + 1))
    if not ks or ks[-1] < 2:
        raise UsageError(f"k range {k_min}..{k_max} has no k >= 2 to fit for {limit} customers")
    return ks
