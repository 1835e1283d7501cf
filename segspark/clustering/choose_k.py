"""Choosing k from the elbow curve: Kneedle on the costs, checked against silhouette and stability.

Rule (recorded in summary.json as `model.rule`):

1. `given`: the user passed --k.
2. `kneedle`: Kneedle (kneed, convex and decreasing) finds a knee whose strength (the normalised
   distance of the curve below its chord at the knee, 0..1) is at least MIN_KNEE_STRENGTH and
   whose silhouette is at least MIN_SILHOUETTE: below 0.25 Kaufman and Rousseeuw read "no
   substantial structure", so such a knee is an artefact of the curve, not of the customers.
   That knee is a clear knee; it is taken when it is also stable (mean ARI over resamples at
   least MIN_STABILITY, segspark.stability) or stability was not measured. (The best silhouette
   is often at k = 2, splitting off a small odd group; it is reported, not followed.)
3. `stable_near_knee`: a clear knee that is not stable: the k next to it (knee - 1 or + 1, k >= 2)
   with the highest mean ARI, if that one is stable; the run says plainly that the knee is not.
4. `best_silhouette`: no clear (and stable) knee: the k >= 2 with the highest silhouette among the
   stable ones (all of them, where stability was not measured).
5. `no_structure`: stability was measured and no k is stable: the run says there is no clear
   structure and takes the k >= 2 with the highest silhouette, as a description, not a finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from kneed import KneeLocator

from segspark.errors import InputError, UsageError

MIN_KNEE_STRENGTH = 0.2
MIN_SILHOUETTE = 0.25
#: Mean adjusted Rand index over resamples from which a k counts as stable (Lange et al. and
#: clusterboot read 0.75-0.85 as "stable"; 0.8 is the floor here).
MIN_STABILITY = 0.8


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
    stability: Mapping[int, float] | None = None,
) -> KChoice:
    """The k to segment with, the rule that chose it, and a sentence saying why.

    `stability` maps k to its mean ARI over resamples (None: not measured).
    """
    knee, strength = find_knee(ks, costs)
    scored = {k: s for k, s in zip(ks, silhouettes) if s is not None}
    if given_k is not None:
        return KChoice(given_k, "given", False, knee, strength, f"k = {given_k} was given with --k")
    if not scored:
        k = min(ks)
        return KChoice(k, "single_k", False, knee, strength, f"only k = {k} was swept")

    def stable(k: int) -> bool:
        return stability is None or stability.get(k, 0.0) >= MIN_STABILITY

    def ari(k: int) -> str:
        return "" if stability is None or k not in stability else f", mean ARI {stability[k]:.2f}"

    best_k = max(scored, key=lambda k: (scored[k], -k))
    clear = knee is not None and strength is not None and strength >= MIN_KNEE_STRENGTH
    clear = clear and (scored.get(knee) or 0.0) >= MIN_SILHOUETTE
    if clear and stable(knee):
        return KChoice(
            knee, "kneedle", True, knee, strength,
            f"clear knee at k = {knee} (strength {strength:.2f}; silhouette {scored[knee]:.3f}, "
            f"best {scored[best_k]:.3f} at k = {best_k}{ari(knee)})",
        )  # fmt: skip
    if clear:
        near = [k for k in (knee - 1, knee + 1) if k in scored and stable(k)]
        if near:
            k = max(near, key=lambda k: (stability[k], -k))
            return KChoice(
                k, "stable_near_knee", True, knee, strength,
                f"the knee at k = {knee} is not stable (mean ARI {stability.get(knee, 0.0):.2f} < {MIN_STABILITY}); "
                f"k = {k} next to it is (mean ARI {stability[k]:.2f})",
            )  # fmt: skip
    if knee is None:
        why = "Kneedle finds no knee"
    elif strength < MIN_KNEE_STRENGTH:
        why = f"the knee at k = {knee} is weak (strength {strength:.2f} < {MIN_KNEE_STRENGTH})"
    elif (scored.get(knee) or 0.0) < MIN_SILHOUETTE:
        why = f"the knee at k = {knee} has silhouette {scored.get(knee) or 0.0:.3f} < {MIN_SILHOUETTE}"
    else:
        why = f"the knee at k = {knee} and the ks next to it are not stable (mean ARI below {MIN_STABILITY})"
    candidates = {k: s for k, s in scored.items() if stable(k)}
    if not candidates:
        most = max(stability, key=lambda k: (stability[k], -k))
        return KChoice(
            best_k, "no_structure", False, knee, strength,
            f"no clear structure: no k is stable (the most stable, k = {most}, has mean ARI "
            f"{stability[most]:.2f} < {MIN_STABILITY}); {why}; the best silhouette, k = {best_k}, describes the "
            "customers but its segments may not hold on other data",
        )  # fmt: skip
    chosen = max(candidates, key=lambda k: (candidates[k], -k))
    among = " among the stable ones" if stability is not None and len(candidates) < len(scored) else ""
    return KChoice(
        chosen, "best_silhouette", False, knee, strength,
        f"no clear knee: {why}; using the best silhouette{among}, k = {chosen}{ari(chosen)}",
    )  # fmt: skip


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
