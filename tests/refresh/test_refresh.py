"""Refreshes (segspark/refresh.py): segment identity, migrations and drift, on hand-made customers."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

from segspark import refresh
from segspark.edge import workflow
from segspark.errors import InputError
from segspark.orders import formats
from segspark.report import artifact
from segspark.report.profiles import Profiles

SETTINGS = refresh.RefreshSettings(min_shared_share=0.5, min_jaccard=0.2, max_centre_shift=1.0)
EMPTY_PROFILES = Profiles({}, {}, {}, pd.DataFrame(), {})
CUSTOMERS = "customer_id long, segment int, products_ordered long, average_return_rate double, total_spending double"


def previous_run(spark, rows, centres, names=None):
    frame = spark.createDataFrame(rows, CUSTOMERS)
    names = names or {s: f"previous {s}" for s in centres}
    return refresh.PreviousRun("20260101T000000Z-aaaaaa", frame, centres, names, len(rows))


def test_overlap_counts_both_runs_and_each_side_alone(spark):
    previous = spark.createDataFrame([(1, 0), (2, 0), (3, 1), (4, 1)], "customer_id long, segment int")
    current = spark.createDataFrame([(2, 5), (3, 5), (4, 6), (9, 6)], "customer_id long, cluster int")
    counts = refresh.overlap(previous, current, "cluster")
    assert counts.counts == {(0, -1): 1, (0, 5): 1, (1, 5): 1, (1, 6): 1, (-1, 6): 1}
    assert (counts.both, counts.only_previous, counts.only_current) == (3, 1, 1)


def test_clusters_keep_the_ids_of_the_segments_they_share_customers_with(spark):
    # previous segments 0, 1, 2 (of 10 customers each); this run's clusters are them in another order
    counts = refresh.Overlap({(0, 2): 9, (0, 1): 1, (1, 0): 10, (2, 1): 8, (2, -1): 2, (-1, 1): 3})
    previous = previous_run(spark, [], {0: [0, 0, 0], 1: [1, 1, 1], 2: [2, 2, 2]})
    matching = refresh.match(previous, counts, [[9, 9, 9]] * 3, current_customers=31, settings=SETTINGS)
    assert matching.rule == refresh.BY_CUSTOMERS
    assert matching.previous_of_cluster == {0: 1, 1: 2, 2: 0}
    assert matching.jaccard[0] == pytest.approx(1.0) and matching.jaccard[2] == pytest.approx(0.9)
    numbering = refresh.carried_numbering(matching, {0: 0, 1: 1, 2: 2}, [0, 1, 2])
    assert numbering == {0: 1, 1: 2, 2: 0}
    assert refresh.migration(counts, numbering) == [
        {"from": 0, "to": 0, "customers": 9},
        {"from": 0, "to": 2, "customers": 1},
        {"from": 1, "to": 1, "customers": 10},
        {"from": 2, "to": 2, "customers": 8},
    ]


def test_a_new_cluster_takes_the_next_free_id_and_an_unmatched_segment_is_retired(spark):
    # k went from 2 to 3: cluster 2 is new; then from 3 to 2: a previous segment retires
    counts = refresh.Overlap({(0, 0): 10, (1, 1): 9, (1, 2): 1, (-1, 2): 6})
    previous = previous_run(spark, [], {0: [0, 0, 0], 1: [1, 1, 1]})
    matching = refresh.match(previous, counts, [[0, 0, 0]] * 3, current_customers=26, settings=SETTINGS)
    assert matching.previous_of_cluster == {0: 0, 1: 1, 2: None}
    assert refresh.carried_numbering(matching, {0: 1, 1: 0, 2: 2}, [0, 1]) == {0: 0, 1: 1, 2: 2}
    fewer = refresh.Overlap({(0, 0): 10, (1, 0): 2, (2, 1): 10, (7, 1): 1})
    previous = previous_run(spark, [], {0: [0, 0, 0], 1: [1, 1, 1], 2: [2, 2, 2], 7: [7, 7, 7]})
    matching = refresh.match(previous, fewer, [[0, 0, 0], [2, 2, 2]], current_customers=23, settings=SETTINGS)
    assert matching.previous_of_cluster == {0: 0, 1: 2}
    assert refresh.carried_numbering(matching, {0: 0, 1: 1}, [0, 1, 2, 7]) == {0: 0, 1: 2}


def test_an_id_retired_two_runs_ago_is_never_issued_again(spark):
    # run 1 issued 0, 1, 2; run 2 retired 2 (segments 0 and 1 left, highest issued 2); run 3 has a
    # new cluster: it takes 3, not 2 (which a CRM audience still knows as run 1's segment 2)
    previous = dataclasses.replace(previous_run(spark, [], {0: [0, 0, 0], 1: [1, 1, 1]}), highest_issued=2)
    current = spark.createDataFrame([], "customer_id long, cluster int")
    refreshed = refresh.compare(
        previous, current, "cluster", [[0, 0, 0], [1, 1, 1], [5, 5, 5]], {0: 0, 1: 1, 2: 2}, 0, SETTINGS
    )
    assert refreshed.numbering == {0: 0, 1: 1, 2: 3}
    assert refresh.highest_issued(refreshed.numbering, previous) == 3
    assert refresh.highest_issued({0: 0, 1: 1}, previous) == 2  # run 4 stays above 2 even if 3 retires
    assert refresh.highest_issued({0: 0, 1: 1}, None) == 1


def test_the_highest_id_issued_is_read_back_from_a_summary_and_found_in_an_older_one():
    model = {"segments": {"0": {}, "1": {}}}
    assert workflow._highest_issued({"model": {**model, "highest_segment_id_issued": 4}}) == 4
    older = {"model": model, "refresh": {"compared": True, "previous_segments": {"0": "a", "2": "b"}, "retired": [2]}}
    assert workflow._highest_issued(older) == 2
    assert workflow._highest_issued({"model": model, "refresh": {"compared": False}}) == 1


def test_too_few_shared_customers_match_by_centre_distance_within_the_limit(spark):
    counts = refresh.Overlap({(0, 0): 2, (-1, 0): 40, (-1, 1): 40, (-1, 2): 40})
    previous = previous_run(spark, [], {0: [1.0, 0.0, 3.0], 1: [2.0, 0.5, 6.0]})
    centres = [[2.1, 0.5, 6.2], [1.0, 0.1, 3.1], [5.0, 2.0, 9.0]]  # cluster 2 is far from everything
    matching = refresh.match(previous, counts, centres, current_customers=122, settings=SETTINGS)
    assert matching.rule == refresh.BY_CENTRES
    assert matching.previous_of_cluster == {0: 1, 1: 0, 2: None}
    assert matching.centre_shift[1] == pytest.approx(math.dist([1.0, 0.0, 3.0], [1.0, 0.1, 3.1]))


def test_a_weak_customer_match_between_far_centres_is_no_match(spark):
    counts = refresh.Overlap({(0, 0): 1, (0, 1): 9, (1, 1): 9, (1, 0): 1})  # both went mostly to cluster 1
    previous = previous_run(spark, [], {0: [0, 0, 0], 1: [1, 1, 1]})
    strict = refresh.RefreshSettings(min_shared_share=0.5, min_jaccard=0.6, max_centre_shift=1.0)
    far = [[5, 5, 5], [9, 9, 9]]  # every centre more than max_centre_shift from every previous one
    matching = refresh.match(previous, counts, far, current_customers=20, settings=strict)
    assert matching.previous_of_cluster == {0: None, 1: None}  # the best pairs have a Jaccard of 0.47


def test_a_segment_whose_members_churned_but_whose_centre_barely_moved_keeps_its_id(spark):
    """Issue 22: two periods of the same customers, k = 4 both times; membership of two segments churned
    below min_jaccard while their centres moved 0.016: they were retired and reborn under new ids."""
    centres = {0: [0.7, 0.0, 1.0], 1: [1.1, 0.4, 3.0], 2: [1.6, 0.1, 5.0], 3: [2.0, 0.05, 7.0]}
    moved = [[c[0] + 0.016, c[1], c[2]] for c in centres.values()]
    # segments 0 and 1 kept their customers; 2 and 3 swapped most of theirs with each other and with 1
    counts = refresh.Overlap(
        {(0, 0): 900, (1, 1): 700, (1, 2): 300, (2, 2): 150, (2, 3): 450, (2, 1): 400, (3, 3): 120, (3, 2): 500}
    )
    previous = previous_run(spark, [], centres)
    matching = refresh.match(previous, counts, moved, current_customers=3520, settings=SETTINGS)
    assert matching.rule == refresh.BY_CUSTOMERS
    assert matching.jaccard[2] < SETTINGS.min_jaccard and matching.jaccard[3] < SETTINGS.min_jaccard
    assert matching.previous_of_cluster == {0: 0, 1: 1, 2: 2, 3: 3}  # none retired
    assert all(shift == pytest.approx(0.016) for shift in matching.centre_shift.values())


def test_pairs_that_cannot_match_are_priced_out_before_the_assignment(spark):
    """Centre distances [[.5, .7], [9.5, 10.7]]: the far previous segment 1 matches nothing, and must not
    push the near pair apart (assigned first and thresholded after, it gave (0, 1), (1, 0): cluster 1
    took segment 0's id though cluster 0 is nearer)."""
    previous = previous_run(spark, [], {0: [0.0, 0, 0], 1: [10.0, 0, 0]})
    clusters = [[0.5, 0, 0], [-0.7, 0, 0]]
    matching = refresh.match(previous, None, clusters, current_customers=10, settings=SETTINGS)
    assert matching.rule == refresh.BY_CENTRES
    assert matching.previous_of_cluster == {0: 0, 1: None}


def test_the_population_stability_index():
    assert refresh.psi([100, 100, 100], [100, 100, 100]) == pytest.approx(0.0)
    assert refresh.psi([100, 100, 100], [300, 0, 0]) > 1.0
    p, q = np.array([50, 50]) / 100, np.array([80, 20]) / 100
    # the usual formula; the half count added to each bin (for empty ones) barely moves large counts
    assert refresh.psi([5000, 5000], [8000, 2000]) == pytest.approx(((q - p) * np.log(q / p)).sum(), rel=1e-3)


def test_drift_names_the_feature_that_moved_and_its_medians(spark):
    rows = [(i, 0, 1 + i % 3, 0.01 * (i % 5), 100.0 + i) for i in range(400)]
    previous = previous_run(spark, rows, {0: [0, 0, 0]})
    moved = spark.createDataFrame(  # the same products, five times the return rate, the same spending
        [(i, 0, 1 + i % 3, 0.05 * (i % 5) + 0.2, 100.0 + i) for i in range(400)], CUSTOMERS
    )
    medians = {"products_ordered": 2.0, "average_return_rate": 0.3, "total_spending": 300.0}
    block = refresh.with_drift({}, previous, moved, medians)
    drift = block["drift"]
    assert drift["average_return_rate"]["shifted"] and drift["average_return_rate"]["psi"] > refresh.DRIFT_PSI
    assert not drift["products_ordered"]["shifted"] and drift["products_ordered"]["psi"] < 0.01
    assert not drift["total_spending"]["shifted"]
    assert drift["average_return_rate"]["median_previous"] == pytest.approx(0.02)
    assert drift["average_return_rate"]["median_current"] == 0.3
    assert block["drift_sentences"] == [
        "average return rate shifted since the previous run: PSI "
        f"{drift['average_return_rate']['psi']:.2f} (above 0.25), median 0.02 -> 0.3"
    ]


def test_a_matched_segment_keeps_its_id_and_says_when_its_name_moved_with_the_data(spark):
    counts = refresh.Overlap({(0, 0): 10, (1, 1): 9, (-1, 2): 6, (-1, 0): 2})
    matching = refresh.Matching({0: 0, 1: 1, 2: None}, refresh.BY_CUSTOMERS, {0: 1.0, 1: 0.9}, {0: 0.1, 1: 0.2})
    previous_names = {0: "High spend · many products · low returns", 1: "Low spend · few products · low returns"}
    table = refresh.segment_table(matching, {0: 0, 1: 1, 2: 2}, counts, previous_names)
    names = {0: "No net spend · few products · high returns", 1: "Low spend · few products · low returns", 2: "x"}
    assert refresh.renamed({"segments": table}, names) == [
        "segment 0 was 'High spend · many products · low returns' and is now "
        "'No net spend · few products · high returns': its profile moved"
    ]


def test_the_segment_table_reports_each_segment_of_this_run(spark):
    counts = refresh.Overlap({(0, 0): 10, (1, 1): 9, (-1, 2): 6, (-1, 0): 2})
    matching = refresh.Matching({0: 0, 1: 1, 2: None}, refresh.BY_CUSTOMERS, {0: 1.0, 1: 0.9}, {0: 0.1, 1: 0.2})
    table = refresh.segment_table(matching, {0: 0, 1: 1, 2: 2}, counts, {0: "a", 1: "b"})
    assert table == [
        {
            "segment": 0,
            "previous_segment": 0,
            "previous_name": "a",
            "shared_customers": 10,
            "jaccard": 1.0,
            "centre_shift": 0.1,
            "new_customers": 2,
        },
        {
            "segment": 1,
            "previous_segment": 1,
            "previous_name": "b",
            "shared_customers": 9,
            "jaccard": 0.9,
            "centre_shift": 0.2,
            "new_customers": 0,
        },
        {
            "segment": 2,
            "previous_segment": None,
            "previous_name": None,
            "shared_customers": 0,
            "jaccard": None,
            "centre_shift": None,
            "new_customers": 6,
        },
    ]
    pruned = refresh.segment_table(matching, {0: 0, 1: 1, 2: 2}, None, {0: "a", 1: "b"})
    assert [(row["shared_customers"], row["new_customers"]) for row in pruned] == [(None, None)] * 3


def fake_run(folder, metadata: dict | None, summary: bool = True):
    """A run folder as far as previous_run reads it: summary.json and the model's metadata."""
    folder.mkdir(parents=True)
    if summary:
        (folder / "summary.json").write_text(
            json.dumps({"run_id": folder.name, "counts": {"customers": 1}, "model": {"centres": [], "segments": {}}})
        )
    if metadata is not None:
        (folder / "model").mkdir()
        (folder / "model" / "segspark-model.json").write_text(json.dumps(metadata))
    return folder


def test_a_previous_run_is_a_complete_run_made_under_the_same_definitions(spark, tmp_path):
    shopify = formats.built_in("shopify")
    same = artifact.model_metadata("r", {"k": 1, "centres": []}, {}, EMPTY_PROFILES, shopify)
    # a run stopped before publishing (no summary.json) is never compared: a killed run cannot be one
    killed = fake_run(tmp_path / "out" / "runs" / "20260101T000000Z-dead00", same, summary=False)
    stopped = workflow.previous_run(spark, str(killed), shopify, False)
    assert "is not a complete run (no summary.json" in stopped.reason and stopped.skipped_run == killed.name
    (tmp_path / "out" / "LATEST").write_text(killed.name + "\n")  # not that publish would ever do this
    none_complete = workflow.previous_run(spark, str(tmp_path / "out"), shopify, False)
    reason = none_complete.reason
    assert none_complete.skipped_run is None and (
        "names run 20260101T000000Z-dead00, which has no summary.json" in reason
        and "no run there is complete" in reason
    )
    # asked for with --previous, a run that cannot be compared is an error naming why
    with pytest.raises(InputError, match="--previous .*: cannot compare with it: .*is not a complete run"):
        workflow.previous_run(spark, str(killed), shopify, True)
    # a run made with another format's definitions says why and is not compared
    per_customer = dataclasses.replace(shopify, return_rate="per_customer")
    other = fake_run(
        tmp_path / "other", artifact.model_metadata("r", {"k": 1, "centres": []}, {}, EMPTY_PROFILES, per_customer)
    )
    not_comparable = workflow.previous_run(spark, str(other), shopify, False)
    assert not_comparable.skipped_run == "other" and not_comparable.reason == (
        "the previous run other does not compare: it was trained on format 'shopify' whose return "
        "rates differ from format 'shopify' used here ('per_customer' in the model, 'per_order' here)"
    )
    scoring = fake_run(tmp_path / "scoring", None)
    assert "has no model (a scoring run?)" in workflow.previous_run(spark, str(scoring), shopify, False).reason
    first = workflow.previous_run(spark, str(tmp_path / "first"), shopify, False)
    assert first.reason.startswith("no previous run in ") and first.skipped_run is None and first.warning() is None
    # a run that is there but does not compare is loud: its ids are not this run's
    block = refresh.not_compared(not_comparable)
    assert block["compared"] is False and block["skipped_run"] == "other"
    assert block["warning"].startswith("WARNING: not a refresh: the previous run other does not compare")
    assert "segment ids start again at 0 and are not those of run other" in block["warning"]
    with pytest.raises(InputError, match="--previous .*: no run there"):
        workflow.previous_run(spark, str(tmp_path / "typo"), shopify, True)


def test_a_format_written_with_other_spacing_or_keyword_case_still_compares():
    retail = formats.built_in("online_retail")
    trained = artifact.model_metadata("r", {"k": 1, "centres": []}, {}, EMPTY_PROFILES, retail)
    canonical = {
        **retail.canonical,
        "customer_id": "try_cast( CustomerID  as bigint )",
        "ordered_item_quantity": "case when InvoiceNo like 'C%'\n  then 0 else Quantity END",
    }
    rules = tuple((name, "UnitPrice<=0" if name == "unit_price_not_positive" else c) for name, c in retail.rules)
    respaced = dataclasses.replace(retail, canonical=canonical, rules=rules)
    assert artifact.incompatibility(trained, respaced) is None
    # quoted text is data: another literal is another definition
    literal = dataclasses.replace(retail, canonical={**canonical, "ordered_item_quantity": canonical[
        "ordered_item_quantity"].replace("'C%'", "'c%'")})  # fmt: skip
    assert "canonical columns differ from format 'online_retail' used here" in artifact.incompatibility(
        trained, literal
    )


def test_a_newer_segspark_with_the_same_definitions_compares_and_scores(spark, tmp_path):
    """An upgrade (0.2.0 -> 0.2.1) that keeps the definitions keeps every model and segment id."""
    shopify = formats.built_in("shopify")
    metadata = artifact.model_metadata("r", {"k": 1, "centres": []}, {}, EMPTY_PROFILES, shopify)
    assert artifact.incompatibility({**metadata, "segspark_version": "0.1.9"}, shopify) is None
    artifact.check_compatible({**metadata, "segspark_version": "9.9.9"}, shopify, "model")
    newer_layout = {**metadata, "format_version": artifact.MODEL_FORMAT_VERSION + 1}
    assert "cannot read" in artifact.incompatibility(newer_layout, shopify)
    assert "feature definitions" in artifact.incompatibility({**metadata, "features_version": 99}, shopify)
