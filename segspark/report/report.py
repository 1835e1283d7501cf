"""report.html: the charts, the segment names and actions, and where every input line went.

One self-contained page: plotly.js is inlined once, so it opens offline and makes no network
request. Every string that comes from the data or the command line is HTML-escaped here or
travels inside Plotly's figure JSON (escaped by Plotly); none goes into `config` or a div id.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from pyspark.sql import DataFrame

from segspark.clustering.space import SEED, FeatureSpace
from segspark.clustering.stability import UNSTABLE_BELOW
from segspark.parallel import concurrently
from segspark.report import charts, profiles
from segspark.report.naming import SegmentName
from segspark.report.pseudonyms import PseudonymKey, pseudonyms
from segspark.report.summary import count_rows, log_centres

CHART_IDS = ("chart-sizes", "chart-scatter", "chart-distributions", "chart-elbow", "chart-profiles")
MIGRATION_CHART = "chart-migrations"  # on a refresh only
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2rem; } .sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; } td, th { padding: 0.25rem 0.7rem; text-align: left; }
th { border-bottom: 2px solid #ccc; } td { border-bottom: 1px solid #eee; } td.n { text-align: right; }
.panels { display: flex; gap: 2rem; flex-wrap: wrap; } .chart { margin: 1rem 0 2rem; }
.warning { background: #fff3cd; border-left: 4px solid #d39e00; padding: 0.6rem 0.9rem; }
.swatch { display: inline-block; width: 0.8rem; height: 0.8rem; border-radius: 2px; margin-right: 0.4rem; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _rows(pairs: Sequence[tuple[str, Any]]) -> str:
    return "".join(
        f"<tr><td>{_e(name)}</td><td class='n'>{_e(f'{value:,}' if isinstance(value, int) else value)}</td></tr>"
        for name, value in pairs
    )


def quality_panel(summary: dict) -> str:
    """Lines in, used, excluded per rule, quarantined per rule; customers."""
    return f"<div><h3>Data quality</h3><table>{_rows(count_rows(summary['counts']))}</table></div>"


def run_panel(summary: dict) -> str:
    """Input, k rule, seed, Spark master, versions, duration."""
    model, run = summary["model"], summary["run"]
    pairs = [
        ("run", summary["run_id"]),
        ("input", summary["input"]),
        ("source format", summary["source_format"]),
        ("k", f"{model['k']} ({model['rule']})"),
        ("why", model["explanation"]),
        ("seed, restarts", f"{model['seed']}, {model['restarts']}"),
        (
            "training points",
            f"{model['training_points']:,} ({model['training']}); seeds from {model['seeding_points']:,}",
        ),
        ("Spark master", run["spark_master"]),
        ("versions", f"segspark {run['segspark_version']}, Spark {run['spark_version']}"),
        ("duration", f"{run['seconds']} s"),
        ("customer pseudonyms", f"HMAC-SHA256 of customer_id, key: {run['pseudonym_key']}"),
        ("return rate", summary["definitions"]["return_rate_definition"]),
    ]
    described = summary.get("features", {})
    if described.get("set", "seed") != "seed":
        as_of = f", as of {described['analysis_date']}" if described.get("analysis_date") else ""
        pairs.insert(3, ("features", f"{described['set']}: {', '.join(described['columns'])}{as_of}"))
    return f"<div><h3>Run</h3><table>{_rows(pairs)}</table></div>"


def segments_table(
    names: Sequence[SegmentName],
    sizes: dict[int, int],
    quantiles: pd.DataFrame,
    top_products: pd.DataFrame,
    colours: dict[int, str],
    segment_stability: Sequence[dict] = (),
    space: FeatureSpace = SEED,
) -> str:
    """One row per segment: its name, size, medians in original units, action, top product types, stability."""
    medians = quantiles[quantiles["quantile"] == 0.5].pivot(index="segment", columns="feature", values="value")
    if space == SEED:  # the reference's columns, in its order and precision
        cells = {
            s: f"<td class='n'>{medians.loc[s, 'total_spending']:,.2f}</td>"
            f"<td class='n'>{medians.loc[s, 'products_ordered']:,.0f}</td>"
            f"<td class='n'>{medians.loc[s, 'average_return_rate']:.3f}</td>"
            for s in medians.index
        }
        labels = ("spending", "products", "return rate")
    else:  # any feature set: a median column per feature, by its label
        cells = {
            s: "".join(f"<td class='n'>{medians.loc[s, f]:,.3g}</td>" for f in space.features) for s in medians.index
        }
        labels = space.labels
    stability = {entry["segment"]: entry for entry in segment_stability}
    rows = []
    for named in names:
        s = named.segment
        products = top_products[top_products["segment"] == s]
        top = ", ".join(f"{_e(row.product_type)} ({row.customers:,})" for row in products.itertuples())
        rows.append(
            f"<tr><td><span class='swatch' style='background:{_e(colours[s])}'></span>{s}</td>"
            f"<td>{_e(named.name)}</td><td class='n'>{sizes.get(s, 0):,}</td>{cells[s]}"
            f"<td>{_e(named.action)}</td><td>{top}</td><td>{_stability_cell(stability.get(s))}</td></tr>"
        )
    header = (
        "<tr><th>segment</th><th>name</th><th>customers</th>"
        + "".join(f"<th>median {_e(label)}</th>" for label in labels)
        + "<th>suggested action</th><th>most bought product types (customers)</th><th>stability</th></tr>"
    )
    return f"<table>{header}{''.join(rows)}</table>"


def rfm_table(summary: dict) -> str:
    """The named RFM segments: customers per name, and the breakpoints the scores came from."""
    rfm = summary.get("features", {}).get("rfm")
    if not rfm:
        return ""
    total = sum(rfm["segments"].values()) or 1
    rows = "".join(
        f"<tr><td>{_e(name)}</td><td class='n'>{n:,}</td><td class='n'>{n / total:.1%}</td></tr>"
        for name, n in rfm["segments"].items()
    )
    cuts = "; ".join(
        f"{_e(role)} ({_e(spec['feature'])}): {', '.join(f'{b:,.4g}' for b in spec['breakpoints'])}"
        for role, spec in rfm["breakpoints"].items()
    )
    return (
        "<h2>RFM segments</h2><p>Every customer scored 1-5 on recency (reversed), frequency and monetary by "
        f"quintile, then named by the first rule of the set's table. Breakpoints: {cuts}.</p>"
        f"<table><tr><th>RFM segment</th><th>customers</th><th>share</th></tr>{rows}</table>"
    )


def _stability_cell(entry: dict | None) -> str:
    """'stable (Jaccard 0.95)', or 'unstable: dissolves in 3 of 5 resamples' under UNSTABLE_BELOW."""
    if entry is None or entry["jaccard_mean"] is None:
        return "not measured" if entry is None else "not measured (no customer of it in the seeding sample)"
    if entry["jaccard_mean"] < UNSTABLE_BELOW:
        return (
            f"<b>unstable</b>: dissolves in {entry['dissolved']} of {entry['resamples']} resamples "
            f"(Jaccard {entry['jaccard_mean']:.2f})"
        )
    return f"stable (Jaccard {entry['jaccard_mean']:.2f})"


def chart_html(figure: go.Figure, div_id: str) -> str:
    return pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOTLY_CONFIG)


def refresh_section(summary: dict, names: dict[int, str], chart: str) -> str:
    """Since the previous run: which segments carried over, new and retired ones, the migrations, the drift."""
    refresh = summary.get("refresh")
    if not refresh:
        return ""
    if not refresh["compared"]:
        return f"<h2>Since the previous run</h2><p>Not compared with a previous run: {_e(refresh['reason'])}.</p>"
    people = refresh["customers"]
    rule = (
        "their centres and the customers they share"
        if refresh["rule"] == "centres_and_shared_customers"
        else "the distance between their centres"
    )

    def count(value: int | None) -> str:
        return "" if value is None else f"{value:,}"

    def was(row: dict) -> str:
        if row["previous_segment"] is None:
            return "new"
        renamed = row.get("previous_name") and row["previous_name"] != names.get(row["segment"])
        return f"{row['previous_segment']}" + (f" (then {_e(row['previous_name'])})" if renamed else "")

    rows = "".join(
        f"<tr><td>{row['segment']}</td><td>{_e(names.get(row['segment'], ''))}</td><td>{was(row)}</td>"
        f"<td class='n'>{count(row['shared_customers'])}</td>"
        f"<td class='n'>{'' if row['centre_shift'] is None else format(row['centre_shift'], '.3f')}</td>"
        f"<td class='n'>{count(row['new_customers'])}</td></tr>"
        for row in refresh["segments"]
    )
    retired = ", ".join(f"{s} ({_e(refresh['previous_segments'][str(s)])})" for s in refresh["retired"]) or "none"
    drift = refresh.get("drift_sentences") or (
        [f"No feature moved more than PSI {refresh.get('drift_threshold')}."] if refresh.get("drift") else []
    )
    who = (
        f"{people['both']:,} customers in both runs, {people['only_current']:,} new, {people['only_previous']:,} gone"
        if people
        else "the previous run's customers are no longer there (pruned), so no migrations or drift"
    )
    notes = "".join(f"<li>{_e(line)}</li>" for line in [*refresh.get("notes", []), *refresh.get("renamed", [])])
    return (
        f"<h2>Since the previous run</h2><p>Compared with run {_e(refresh['previous_run'])}, segments matched by "
        f"{rule}: {who}. Retired segments: {retired}.</p>"
        "<table><tr><th>segment</th><th>name</th><th>was segment</th><th>customers kept from it</th>"
        f"<th>centre shift (log space)</th><th>new customers</th></tr>{rows}</table>"
        f"<ul>{''.join(f'<li>{_e(line)}</li>' for line in drift)}{notes}</ul>{chart}"
    )


def render(summary: dict, figures: Sequence[go.Figure], segments_html: str, refresh_html: str = "") -> str:
    """The whole page; `figures` in the order of CHART_IDS."""
    charts = "".join(
        f"<div class='chart'>{chart_html(figure, div_id)}</div>" for figure, div_id in zip(figures, CHART_IDS)
    )
    model = summary["model"]
    refresh_warning = (summary.get("refresh") or {}).get("warning")
    warning = f"<p class='warning'>{_e(refresh_warning)}</p>" if refresh_warning else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>segspark report {_e(summary['run_id'])}</title><style>{STYLE}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<h1>Customer segments</h1><p class='sub'>{summary['counts']['customers']:,} customers in "
        f"{model['k']} segments · run {_e(summary['run_id'])}</p>{warning}"
        f"<h2>Segments</h2>{segments_html}{rfm_table(summary)}{refresh_html}"
        f"<div class='panels'>{quality_panel(summary)}{run_panel(summary)}</div>"
        f"<h2>Charts</h2>{charts}</body></html>"
    )


def build(
    segmented: DataFrame,
    usable_lines: DataFrame,
    summary: dict,
    segment_profiles: profiles.Profiles,
    names: Sequence[SegmentName],
    report_settings: dict,
    seed: int,
    key: PseudonymKey,
    space: FeatureSpace = SEED,
) -> tuple[str, dict[str, go.Figure]]:
    """The page and its figures by chart id, from the run's profiles and three bounded reductions of
    the segmented customers (histograms, the scatter sample, the top product types).

    Customers appear only in the 3D chart's sample, under their keyed pseudonyms.
    """
    model = summary["model"]
    sizes = {int(s): n for s, n in model["sizes"].items()}
    labels = {n.segment: n.name for n in names}
    sample, bins, top = concurrently(
        lambda: profiles.scatter_sample(segmented, sizes, report_settings["scatter_per_segment"], seed, space),
        lambda: profiles.histograms(segmented, segment_profiles.ranges, report_settings["histogram_bins"], space),
        lambda: profiles.top_product_types(usable_lines, segmented, report_settings["top_product_types"]),
    )
    sample = sample.assign(customer=pseudonyms(key, sample["customer_id"])).drop(columns="customer_id")
    quantiles = segment_profiles.feature_quantiles
    centres = log_centres(model)
    figures = [
        charts.segment_sizes(sizes, labels),
        charts.customers_3d(sample, centres, labels, space),
        charts.distributions(bins, space),
        charts.elbow(pd.DataFrame(summary["elbow"]), model["k"]),
        charts.profiles(quantiles, labels, space),
    ]
    table = segments_table(
        names, sizes, quantiles, top, {s: charts.colour(s) for s in sizes}, model.get("segment_stability", ()), space
    )
    by_id = dict(zip(CHART_IDS, figures))
    migration_chart = ""
    if summary.get("refresh", {}).get("compared") and summary["refresh"].get("migration") is not None:
        by_id[MIGRATION_CHART] = charts.migrations(summary["refresh"], labels)
        migration_chart = f"<div class='chart'>{chart_html(by_id[MIGRATION_CHART], MIGRATION_CHART)}</div>"
    return render(summary, figures, table, refresh_section(summary, labels, migration_chart)), by_id
