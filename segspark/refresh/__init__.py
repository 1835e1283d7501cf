"""Refresh: a run set beside the previous one. Takes this run's clustered customers and centres and
the previous run (`PreviousRun`); gives the segment ids to keep (`compare`), who moved where, and
how far each feature drifted (`with_drift`). Its API is this package's names."""

from segspark.refresh.drift import DRIFT_PSI, drift, drift_sentences, psi, with_drift
from segspark.refresh.identity import (
    BY_CENTRES,
    BY_CUSTOMERS,
    Matching,
    NotCompared,
    Overlap,
    PreviousRun,
    Refresh,
    RefreshSettings,
    carried_numbering,
    compare,
    highest_issued,
    match,
    migration,
    not_compared,
    overlap,
    renamed,
    segment_table,
)

__all__ = [
    "BY_CENTRES", "BY_CUSTOMERS", "DRIFT_PSI", "Matching", "NotCompared", "Overlap", "PreviousRun", "Refresh", "RefreshSettings",
    "carried_numbering", "compare", "drift", "drift_sentences", "highest_issued", "match", "migration", "not_compared", "overlap",
    "psi", "renamed", "segment_table", "with_drift",
]  # fmt: skip
