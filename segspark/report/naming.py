"""Readable segment names and a suggested action, derived from the data, never set per segment id.

A segment's level on each feature compares its median with the overall quartiles: at or above the
overall 75th percentile is high, at or below the 25th is low (for a feature with many ties, such
as products, equal to the overall median is the middle, unless that median is 0).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

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
