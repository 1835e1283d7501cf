"""Segment identity across refreshes: this run's clusters matched to a previous run's segments,
and who moved where.

- identity: this run's clusters are matched one to one to the previous run's segments by an
  optimal assignment (`scipy.optimize.linear_sum_assignment`) on what a segment is: its centre in
  log-feature space, with the customers two segments share (their Jaccard index) as further
  evidence where the runs share enough customers. A pair is a possible match when its centres are
  at most `max_centre_shift` apart, or (with shared customers) its Jaccard index is at least
  `min_jaccard`; other pairs are priced out before the assignment, so the most segments possible
  are matched and a far cluster never takes a near one's id. A matched cluster keeps the previous
  segment's id; its name follows this run's data (the refresh says when it changed). A cluster
  with no match is a new segment and takes an id never issued before in the chain of runs (above
  the highest id any earlier run issued, not only the previous run's: an id retired two runs ago
  names other customers in a CRM audience or a segment history); a previous segment with no match
  is retired.
- migrations: customers in both runs, counted by previous segment and this run's segment; and the
  customers new since the previous run and gone from it, per segment. One Spark join and one
  aggregation, bounded by the number of segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from segspark.clustering.evaluation import jaccard_matrix

BY_CUSTOMERS = "centres_and_shared_customers"
BY_CENTRES = "centre_distance"
#: The cost of a pair that cannot match: more than all possible matches together cost.
_INFEASIBLE = 1e9
PREVIOUS = "previous_segment"


@dataclass(frozen=True)
class RefreshSettings:
    """conf/segspark.toml [refresh]: when a match counts, and which evidence decides it."""

    min_shared_share: float = 0.5  # customers in both runs, as a share of this run's, to match by customers
    min_jaccard: float = 0.2  # a weaker customer match is no match
    max_centre_shift: float = 1.0  # a farther centre (log space) is no match

    @classmethod
    def from_settings(cls, table: Mapping[str, Any]) -> "RefreshSettings":
        return cls(**{name: table[name] for name in cls.__dataclass_fields__ if name in table})


@dataclass(frozen=True)
class PreviousRun:
    """What a refresh needs of the previous run: its segments and, unless pruned, its customers."""

    run_id: str
    customers: DataFrame | None  # customer_id, segment, the features and their logs; None: pruned
    centres: dict[int, list[float]]  # segment id -> centre in log-feature space
    names: dict[int, str]
    customer_count: int
    notes: tuple[str, ...] = ()  # what was unusual in finding it (a bad LATEST, pruned customers)
    highest_issued: int = -1  # the highest segment id any run up to it issued (retired ones too)


@dataclass(frozen=True)
class Overlap:
    """Customers by (previous segment, this run's cluster); -1 on a side where the customer is absent."""

    counts: dict[tuple[int, int], int]

    def shared(self, previous_ids: Sequence[int], clusters: int) -> np.ndarray:
        return np.array([[self.counts.get((p, c), 0) for c in range(clusters)] for p in previous_ids], dtype=float)

    @property
    def both(self) -> int:
        return sum(n for (p, c), n in self.counts.items() if p >= 0 and c >= 0)

    @property
    def only_previous(self) -> int:
        return sum(n for (p, c), n in self.counts.items() if c < 0)

    @property
    def only_current(self) -> int:
        return sum(n for (p, c), n in self.counts.items() if p < 0)


@dataclass(frozen=True)
class Matching:
    """cluster -> previous segment id (or None), the rule used, and each match's evidence."""

    previous_of_cluster: dict[int, int | None]
    rule: str
    jaccard: dict[int, float] = field(default_factory=dict)
    centre_shift: dict[int, float] = field(default_factory=dict)


def overlap(previous_customers: DataFrame, clustered: DataFrame, cluster: str) -> Overlap:
    """One full outer join on customer_id and one aggregation: customers per (previous segment, cluster)."""
    previous = previous_customers.select("customer_id", F.col("segment").alias(PREVIOUS))
    current = clustered.select("customer_id", F.col(cluster).alias("_cluster"))
    rows = (
        previous.join(current, "customer_id", "full_outer")
        .groupBy(F.coalesce(PREVIOUS, F.lit(-1)).alias("p"), F.coalesce("_cluster", F.lit(-1)).alias("c"))
        .count()
        .collect()
    )
    return Overlap({(int(row["p"]), int(row["c"])): int(row["count"]) for row in rows})


def match(
    previous: PreviousRun,
    overlap_counts: Overlap | None,
    cluster_centres: Sequence[Sequence[float]],
    current_customers: int,
    settings: RefreshSettings,
) -> Matching:
    """The optimal one-to-one matching of this run's clusters to the previous run's segments.

    Cost of a pair: its centre distance over `max_centre_shift`, plus one minus its Jaccard index
    where shared customers are evidence. Pairs that are no match (see the module) cost more than
    every possible match together, so they are priced out before the assignment, not dropped after
    it (where a far pair could already have taken a near one's place).
    """
    from scipy.optimize import linear_sum_assignment  # scipy comes with scikit-learn

    previous_ids = sorted(previous.centres)
    clusters = len(cluster_centres)
    distance = np.array(
        [[math.dist(previous.centres[p], cluster_centres[c]) for c in range(clusters)] for p in previous_ids]
    ).reshape(len(previous_ids), clusters)
    by_customers = overlap_counts is not None and overlap_counts.both >= settings.min_shared_share * max(
        current_customers, 1
    )
    cost = distance / settings.max_centre_shift
    feasible = distance <= settings.max_centre_shift
    jaccard = None
    if by_customers:
        jaccard = jaccard_matrix(overlap_counts.shared(previous_ids, clusters))
        cost = cost + (1.0 - jaccard)
        feasible = feasible | (jaccard >= settings.min_jaccard)
    rows, columns = linear_sum_assignment(np.where(feasible, cost, _INFEASIBLE))
    kept = [(r, c) for r, c in zip(rows, columns) if feasible[r, c]]
    previous_of_cluster: dict[int, int | None] = {c: None for c in range(clusters)}
    for r, c in kept:
        previous_of_cluster[int(c)] = previous_ids[r]
    return Matching(
        previous_of_cluster,
        BY_CUSTOMERS if by_customers else BY_CENTRES,
        {int(c): float(jaccard[r, c]) for r, c in kept} if jaccard is not None else {},
        {int(c): float(distance[r, c]) for r, c in kept},
    )


def carried_numbering(
    matching: Matching, by_spending: Mapping[int, int], previous_ids: Sequence[int], highest_issued: int = -1
) -> dict[int, int]:
    """cluster -> segment id: a matched cluster keeps its previous id; the others take ids never issued
    (above every previous id and `highest_issued`), in the order of their mean spending (`by_spending`)."""
    numbering = {c: p for c, p in matching.previous_of_cluster.items() if p is not None}
    next_id = max(max(previous_ids, default=-1), highest_issued) + 1
    for cluster in sorted((c for c, p in matching.previous_of_cluster.items() if p is None), key=by_spending.get):
        numbering[cluster] = next_id
        next_id += 1
    return numbering


def migration(overlap_counts: Overlap, numbering: Mapping[int, int]) -> list[dict[str, int]]:
    """{from, to, customers} for customers in both runs: previous segment -> this run's segment."""
    moves: dict[tuple[int, int], int] = {}
    for (p, c), n in overlap_counts.counts.items():
        if p >= 0 and c >= 0:
            key = (p, numbering[c])
            moves[key] = moves.get(key, 0) + n
    return [{"from": p, "to": s, "customers": n} for (p, s), n in sorted(moves.items())]


def segment_table(
    matching: Matching, numbering: Mapping[int, int], overlap_counts: Overlap | None, previous_names: Mapping[int, str]
) -> list[dict[str, Any]]:
    """Per segment of this run: its previous id and name (or None), shared customers, centre shift,
    new customers (None where the previous run's customers were pruned)."""
    table = []
    for cluster, segment in sorted(numbering.items(), key=lambda item: item[1]):
        previous = matching.previous_of_cluster.get(cluster)
        counts = overlap_counts.counts if overlap_counts is not None else None
        table.append(
            {
                "segment": segment,
                "previous_segment": previous,
                "previous_name": previous_names.get(previous) if previous is not None else None,
                "shared_customers": None
                if counts is None
                else counts.get((previous, cluster), 0)
                if previous is not None
                else 0,
                "jaccard": round(matching.jaccard[cluster], 4) if cluster in matching.jaccard else None,
                "centre_shift": round(matching.centre_shift[cluster], 4) if cluster in matching.centre_shift else None,
                "new_customers": None if counts is None else counts.get((-1, cluster), 0),
            }
        )
    return table


@dataclass(frozen=True)
class Refresh:
    """A refresh's outcome: the segment ids to use and summary.json's `refresh`."""

    numbering: dict[int, int]
    block: dict[str, Any]


def compare(
    previous: PreviousRun,
    clustered: DataFrame,
    cluster: str,
    cluster_centres: Sequence[Sequence[float]],
    by_spending: Mapping[int, int],
    current_customers: int,
    settings: RefreshSettings,
) -> Refresh:
    """Match this run's clusters to the previous run's segments and count who moved where (where the
    previous run's customers are still there: a pruned run is matched by its centres alone)."""
    counts = overlap(previous.customers, clustered, cluster) if previous.customers is not None else None
    matching = match(previous, counts, cluster_centres, current_customers, settings)
    numbering = carried_numbering(matching, by_spending, sorted(previous.centres), previous.highest_issued)
    matched = {p for p in matching.previous_of_cluster.values() if p is not None}
    block = {
        "compared": True,
        "previous_run": previous.run_id,
        "notes": list(previous.notes),
        "rule": matching.rule,
        "customers": None,
        "migration": None,
        "segments": segment_table(matching, numbering, counts, previous.names),
        "retired": sorted(set(previous.centres) - matched),
        "previous_segments": {str(p): previous.names.get(p, "") for p in sorted(previous.centres)},
        "gone_by_previous_segment": None,
    }
    if counts is not None:
        gone = {p: n for (p, c), n in counts.counts.items() if c < 0}
        block["customers"] = {
            "both": counts.both,
            "only_previous": counts.only_previous,
            "only_current": counts.only_current,
        }
        block["migration"] = migration(counts, numbering)
        block["gone_by_previous_segment"] = {str(p): gone.get(p, 0) for p in sorted(previous.centres)}
    return Refresh(numbering, block)


def highest_issued(numbering: Mapping[int, int], previous: "PreviousRun | None") -> int:
    """The highest segment id issued by this run or any before it: what the next refresh must stay above."""
    return max([*numbering.values(), previous.highest_issued if previous is not None else -1])


def renamed(block: dict[str, Any], names: Mapping[int, str]) -> list[str]:
    """Sentences for matched segments whose name, which follows the data, is not the previous one's."""
    return [
        f"segment {row['segment']} was {row['previous_name']!r} and is now {names[row['segment']]!r}: its profile moved"
        for row in block["segments"]
        if row["previous_segment"] is not None
        and row["previous_name"]
        and names.get(row["segment"]) != row["previous_name"]
    ]


@dataclass(frozen=True)
class NotCompared:
    """Why a run is not set beside a previous one. `skipped_run` names a run that is there but does
    not compare (other definitions, no model, stopped): this run's segment ids start again at
    0..k-1 and mean nothing in its terms, which the console and the report say out loud."""

    reason: str
    skipped_run: str | None = None

    def warning(self) -> str | None:
        if self.skipped_run is None:
            return None
        return (
            f"WARNING: not a refresh: {self.reason}. This run's segment ids start again at 0 and are not "
            f"those of run {self.skipped_run}: a CRM audience or segment history keyed by id must not mix them"
        )


def not_compared(why: NotCompared) -> dict[str, Any]:
    """summary.json's `refresh` for a run that has no previous run to compare with, and why."""
    return {
        "compared": False,
        "previous_run": None,
        "reason": why.reason,
        "skipped_run": why.skipped_run,
        "warning": why.warning(),
    }
