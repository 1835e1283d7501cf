"""Readable segment names and a suggested action, derived from the data, never set per segment id.

A segment's level on each feature compares its median with the overall quartiles: at or above the
overall 75th percentile is high, at or below the 25th is low (for a feature with many ties, such
as products, equal to the overall median is the middle, unless that median is 0).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from segspark.clustering import rfm
from segspark.report.profiles import ALL_SEGMENTS

LEVEL_WORDS = {
    "total_spending": ("Low spend", "Mid spend", "High spend"),
    "products_ordered": ("few products", "some products", "many products"),
    "average_return_rate": ("low returns", "some returns", "high returns"),
}
ACTIONS = {
    "win back": "Win back: a reactivation offer built on the product types they bought",
    "reduce returns": "Reduce returns: sizing help, better product detail, a follow-up on returned orders",
    "retain": "Retain: loyalty perks, early access and a personal contact",
    "upsell": "Upsell: bundles and cross-sell of related product types",
}


@dataclass(frozen=True)
class SegmentName:
    segment: int
    name: str
    action: str
    levels: dict[str, int]  # feature -> 0 low, 1 middle, 2 high


def _quantile(quantiles: pd.DataFrame, segment: int, feature: str, level: float) -> float:
    rows = quantiles[
        (quantiles["segment"] == segment) & (quantiles["feature"] == feature) & (quantiles["quantile"] == level)
    ]
    return float(rows["value"].iloc[0])


def feature_level(median: float, overall_q25: float, overall_q50: float, overall_q75: float) -> int:
    """0 low, 1 middle, 2 high: the segment's median against the overall quartiles."""
    if overall_q25 == overall_q75:  # a feature with many ties: compare with the shared value
        if median > overall_q50:
            return 2
        # at a shared value of 0 (most customers return nothing) equal is as low as it goes
        return 0 if median < overall_q50 or median == 0 else 1
    if median >= overall_q75:
        return 2
    if median <= overall_q25:
        return 0
    return 1


def action_for(levels: dict[str, int], median_spending: float) -> str:
    """The first rule that applies: lapsed value, then returns, then value to keep, else growth."""
    if median_spending <= 0 or (levels["total_spending"] == 0 and levels["products_ordered"] == 0):
        return ACTIONS["win back"]
    if levels["average_return_rate"] == 2:
        return ACTIONS["reduce returns"]
    if levels["total_spending"] == 2:
        return ACTIONS["retain"]
    return ACTIONS["upsell"]


#: What to do with each named RFM segment (the usual recommendations of the R x F grid).
RFM_ACTIONS = {
    "Champions": "Reward: early access, referrals, no discounts needed",
    "Loyal Customers": "Upsell higher-value products; ask for reviews",
    "Potential Loyalists": "Offer membership or a loyalty programme; recommend related products",
    "New Customers": "Onboard: a welcome series and early support",
    "Promising": "Build the relationship: brand content, a second-order offer",
    "Need Attention": "Limited-time offers based on their past purchases",
    "About To Sleep": "Reconnect: popular products and a small discount",
    "At Risk": "Win back: personal emails and a renewal offer",
    "Can't Lose Them": "Win back before a competitor does: a call or a strong offer",
    "Hibernating": "Re-engage at low cost or let go; exclude from expensive campaigns",
}


def rfm_segment_names(
    centres: dict[int, dict[str, float]], breakpoints: dict[str, dict], rules: Sequence
) -> list[SegmentName]:
    """KMeans segments named in RFM's vocabulary: each centre (in the features' own units) scored
    on the customers' RFM breakpoints, then the first rule of the set's table (`rules`) that holds."""
    names = []
    for segment, centre in sorted(centres.items()):
        scores = {
            role: rfm.score_of(centre[spec["feature"]], spec["breakpoints"], reverse=role == "recency")
            for role, spec in breakpoints.items()
        }
        name = rfm.name_of(rules, scores["recency"], scores["frequency"], scores["monetary"]) or "Unnamed"
        action = RFM_ACTIONS.get(name, "")
        names.append(SegmentName(segment, name, action, {f"{role[0]}_score": s for role, s in scores.items()}))
    return _distinct(names)


def labelled_segment_names(
    quantiles: pd.DataFrame, features: Sequence[str], labels: Sequence[str]
) -> list[SegmentName]:
    """Segments of a feature set without a vocabulary of its own, named by their level (low, mid,
    high against the overall quartiles) on each feature's label."""
    segments = sorted(s for s in quantiles["segment"].unique() if s != ALL_SEGMENTS)
    overall = {f: [_quantile(quantiles, ALL_SEGMENTS, f, q) for q in (0.25, 0.5, 0.75)] for f in features}
    names = []
    for segment in segments:
        levels = {f: feature_level(_quantile(quantiles, segment, f, 0.5), *overall[f]) for f in features}
        words = [f"{('low', 'mid', 'high')[levels[f]]} {label}" for f, label in zip(features, labels)]
        names.append(SegmentName(int(segment), " · ".join(words), "", levels))
    return _distinct(names)


def _distinct(names: list[SegmentName]) -> list[SegmentName]:
    """Two segments with one name keep their ids in it."""
    seen = Counter(named.name for named in names)
    return [
        SegmentName(n.segment, f"{n.name} ({n.segment})" if seen[n.name] > 1 else n.name, n.action, n.levels)
        for n in names
    ]


def segment_names(quantiles: pd.DataFrame) -> list[SegmentName]:
    """One name and action per segment of the `profiles.feature_quantiles` frame."""
    names = []
    segments = sorted(s for s in quantiles["segment"].unique() if s != ALL_SEGMENTS)
    overall = {
        feature: [_quantile(quantiles, ALL_SEGMENTS, feature, q) for q in (0.25, 0.5, 0.75)] for feature in LEVEL_WORDS
    }
    for segment in segments:
        levels, words = {}, []
        for feature in ("total_spending", "products_ordered", "average_return_rate"):
            levels[feature] = feature_level(_quantile(quantiles, segment, feature, 0.5), *overall[feature])
            words.append(LEVEL_WORDS[feature][levels[feature]])
        median_spending = _quantile(quantiles, segment, "total_spending", 0.5)
        if median_spending <= 0:
            words[0] = "No net spend"
        names.append(SegmentName(int(segment), " · ".join(words), action_for(levels, median_spending), levels))
    seen = Counter(named.name for named in names)
    # two segments can share all three levels: the id keeps the names apart
    return [
        SegmentName(n.segment, f"{n.name} ({n.segment})" if seen[n.name] > 1 else n.name, n.action, n.levels)
        for n in names
    ]
