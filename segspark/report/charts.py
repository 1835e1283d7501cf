"""The report's Plotly charts, built from the small pandas frames of `profiles` (no Spark here).

The reference notebook's four charts (segment sizes, the log features in 3D with the centres,
distributions before and after log1p, the elbow) plus the segment profiles in original units.
Data-derived strings go into figure data and layout only, where Plotly escapes them.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from segspark.clustering.space import SEED, FeatureSpace

FEATURE_TITLES = {
    "products_ordered": "Products ordered (distinct product types)",
    "average_return_rate": "Average return rate",
    "total_spending": "Total spending",
    "log_products_ordered": "log1p(products ordered)",
    "log_average_return_rate": "log1p(average return rate)",
    "log_total_spending": "log1p(total spending)",
}
PALETTE = qualitative.Plotly + qualitative.D3


def titles(space: FeatureSpace) -> dict[str, str]:
    """Axis and panel titles of the features and their transformed columns."""
    if space == SEED:
        return FEATURE_TITLES
    named = dict(zip(space.features, (label[:1].upper() + label[1:] for label in space.labels)))
    for feature, column, label in zip(space.features, space.model_columns, space.labels):
        if column != feature:
            named[column] = f"log1p({label})"
    return named


def colour(segment: int) -> str:
    return PALETTE[segment % len(PALETTE)]


def label(segment: int, names: dict[int, str]) -> str:
    return f"{segment} · {names.get(segment, '')}".rstrip(" ·")


def segment_sizes(sizes: dict[int, int], names: dict[int, str]) -> go.Figure:
    """a. Customers per segment."""
    segments = sorted(sizes)
    total = sum(sizes.values()) or 1
    figure = go.Figure(
        go.Bar(
            x=[label(s, names) for s in segments],
            y=[sizes[s] for s in segments],
            marker_color=[colour(s) for s in segments],
            text=[f"{sizes[s]:,} ({sizes[s] / total:.0%})" for s in segments],
            textposition="outside",
            hovertemplate="%{x}<br>%{y:,} customers<extra></extra>",
        )
    )
    figure.update_layout(title="Segment sizes", yaxis_title="customers", xaxis_title="segment", showlegend=False)
    return figure


def customers_3d(
    sample: pd.DataFrame, centres: dict[int, Sequence[float]], names: dict[int, str], space: FeatureSpace = SEED
) -> go.Figure:
    """b. The sampled customers in the transformed features' space (the reference's: log features),
    coloured by segment, with the centres; with more than three features, the first three (said in
    the title), with two, a plane. `sample` carries a pseudonymised `customer` column (see segspark.pseudonyms), shown on hover.
    """
    figure = go.Figure()
    axes, features, named = space.model_columns[:3], space.features, titles(space)
    if space == SEED:
        hover = (
            "customer %{customdata[3]}<br>products %{customdata[0]:,.0f}<br>return rate %{customdata[1]:.3f}<br>"
            "spending %{customdata[2]:,.2f}<extra>%{fullData.name}</extra>"
        )
    else:
        values = "<br>".join(f"{space.labels[i]} %{{customdata[{i}]:,.3g}}" for i in range(len(features)))
        hover = f"customer %{{customdata[{len(features)}]}}<br>{values}<extra>%{{fullData.name}}</extra>"
    flat = len(axes) < 3

    def scatter(values: Sequence[Sequence[float]], **kwargs) -> go.Scatter3d | go.Scatter:
        if flat:
            return go.Scatter(x=values[0], y=values[1], **kwargs)
        return go.Scatter3d(x=values[0], y=values[1], z=values[2], **kwargs)

    for segment, points in sample.groupby("segment", sort=True):
        figure.add_trace(
            scatter(
                [points[axis] for axis in axes],
                mode="markers",
                marker={"size": 4 if flat else 2, "color": colour(int(segment)), "opacity": 0.6},
                name=label(int(segment), names),
                customdata=points[[*features, "customer"]].to_numpy(),
                hovertemplate=hover,
            )
        )
    figure.add_trace(
        scatter(
            [[centres[s][axis] for s in sorted(centres)] for axis in range(len(axes))],
            mode="markers+text",
            marker={"size": 12 if flat else 8, "symbol": "diamond", "color": "black"},
            text=[str(s) for s in sorted(centres)],
            name="centres",
            hovertemplate="centre of segment %{text}<extra></extra>",
        )
    )
    where = "log-feature space" if space == SEED else "the features' transformed space"
    if len(features) > 3:
        where += f": the first three of {len(features)} features ({', '.join(space.labels[:3])})"
    title = f"Customers in {where} ({len(sample):,} sampled) and the segment centres"
    if flat:
        figure.update_layout(title=title, xaxis_title=named[axes[0]], yaxis_title=named[axes[1]], height=650)
        return figure
    figure.update_layout(
        title=title,
        scene={"xaxis_title": named[axes[0]], "yaxis_title": named[axes[1]], "zaxis_title": named[axes[2]]},
        height=650,
    )
    return figure


def distributions(histograms: pd.DataFrame, space: FeatureSpace = SEED) -> go.Figure:
    """c. Each feature's distribution before (top) and after (bottom) log1p, binned in Spark (a
    feature without the transform has no bottom panel)."""
    n, named = len(space.features), titles(space)
    columns = [*space.features, *(c if c != f else None for f, c in zip(space.features, space.model_columns))]
    figure = make_subplots(rows=2, cols=n, subplot_titles=[named[c] if c else "" for c in columns])
    for position, feature in enumerate(columns):
        if feature is None:
            continue
        bins = histograms[histograms["feature"] == feature]
        figure.add_trace(
            go.Bar(
                x=(bins["bin_start"] + bins["bin_end"]) / 2,
                y=bins["customers"],
                width=bins["bin_end"] - bins["bin_start"],
                marker_color="#4C78A8" if position < n else "#F58518",
                name=feature,
                showlegend=False,
                hovertemplate="%{x:.3g}<br>%{y:,} customers<extra></extra>",
            ),
            row=position // n + 1,
            col=position % n + 1,
        )
    figure.update_layout(
        title="Feature distributions before and after log1p (raw features up to their 99th percentile, the rest "
        "in the last bar)",
        bargap=0,
        height=600,
    )
    return figure


def elbow(elbow_points: pd.DataFrame, chosen_k: int) -> go.Figure:
    """d. Cost against k with the chosen k marked; silhouette and stability (mean ARI) against k."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(
        go.Scatter(x=elbow_points["k"], y=elbow_points["cost"], mode="lines+markers", name="cost (within-segment SS)"),
        secondary_y=False,
    )
    scored = elbow_points[elbow_points["silhouette"].notna()]
    figure.add_trace(
        go.Scatter(
            x=scored["k"], y=scored["silhouette"], mode="lines+markers", name="silhouette", line={"dash": "dot"}
        ),
        secondary_y=True,
    )
    if "stability" in elbow_points:
        stable = elbow_points[elbow_points["stability"].notna()]
        figure.add_trace(
            go.Scatter(
                x=stable["k"],
                y=[entry["ari_mean"] for entry in stable["stability"]],
                mode="lines+markers",
                name="stability (mean ARI over resamples)",
                line={"dash": "dash"},
                customdata=[[entry["ari_min"], entry["resamples"]] for entry in stable["stability"]],
                hovertemplate="k = %{x}: mean ARI %{y:.3f}, lowest %{customdata[0]:.3f} "
                "(%{customdata[1]} resamples)<extra></extra>",
            ),
            secondary_y=True,
        )
    chosen = elbow_points[elbow_points["k"] == chosen_k]
    figure.add_trace(
        go.Scatter(
            x=chosen["k"],
            y=chosen["cost"],
            mode="markers",
            marker={"size": 16, "symbol": "star", "color": "crimson"},
            name=f"chosen k = {chosen_k}",
        ),
        secondary_y=False,
    )
    figure.update_layout(title="Elbow: cost, silhouette and stability against k", xaxis_title="k", xaxis_dtick=1)
    figure.update_yaxes(title_text="cost", secondary_y=False)
    figure.update_yaxes(title_text="silhouette, stability (ARI)", secondary_y=True)
    return figure


def profiles(quantiles: pd.DataFrame, names: dict[int, str], space: FeatureSpace = SEED) -> go.Figure:
    """e. Each segment's median of every feature in original units, bars from p25 to p75."""
    named = titles(space)
    figure = make_subplots(rows=1, cols=len(space.features), subplot_titles=[named[f] for f in space.features])
    segments = sorted(s for s in quantiles["segment"].unique() if s >= 0)
    for position, feature in enumerate(space.features):
        values = quantiles[quantiles["feature"] == feature].pivot(index="segment", columns="quantile", values="value")
        overall = values.loc[-1]
        medians = [values.loc[s, 0.5] for s in segments]
        figure.add_trace(
            go.Bar(
                x=[str(s) for s in segments],
                y=medians,
                marker_color=[colour(s) for s in segments],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [values.loc[s, 0.75] - values.loc[s, 0.5] for s in segments],
                    "arrayminus": [values.loc[s, 0.5] - values.loc[s, 0.25] for s in segments],
                },
                customdata=[
                    [label(s, names), values.loc[s, 0.5] / overall[0.5] if overall[0.5] else None] for s in segments
                ],
                hovertemplate="%{customdata[0]}<br>median %{y:,.3g}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=position + 1,
        )
        figure.add_hline(
            y=overall[0.5],
            line_dash="dash",
            line_color="grey",
            row=1,
            col=position + 1,
            annotation_text="all customers' median",
            annotation_position="top left",
        )
    figure.update_xaxes(title_text="segment")
    figure.update_layout(title="Segment profiles: median and interquartile range in original units", height=450)
    return figure


def migrations(refresh: dict, names: dict[int, str]) -> go.Figure:
    """f. Where the previous run's customers went: previous segments (and new customers) on the left,
    this run's segments (and customers gone) on the right, band width the number of customers."""
    previous = {int(s): name for s, name in refresh["previous_segments"].items()}
    current = sorted({row["segment"] for row in refresh["segments"]})
    left = [f"was {s} · {previous[s]}" for s in sorted(previous)] + ["new customers"]
    right = [label(s, names) for s in current] + ["gone"]
    left_index = {s: i for i, s in enumerate(sorted(previous))}
    right_index = {s: len(left) + i for i, s in enumerate(current)}
    links = [(left_index[m["from"]], right_index[m["to"]], m["customers"]) for m in refresh["migration"]]
    links += [(len(left) - 1, right_index[row["segment"]], row["new_customers"]) for row in refresh["segments"]]
    links += [(left_index[int(s)], len(left) + len(current), n) for s, n in refresh["gone_by_previous_segment"].items()]
    links = [link for link in links if link[2] > 0]
    colours = [colour(s) for s in sorted(previous)] + ["#bbbbbb"] + [colour(s) for s in current] + ["#bbbbbb"]
    figure = go.Figure(
        go.Sankey(
            node={"label": left + right, "color": colours, "pad": 12},
            link={
                "source": [source for source, _, _ in links],
                "target": [target for _, target, _ in links],
                "value": [value for _, _, value in links],
                "hovertemplate": "%{source.label} → %{target.label}: %{value:,} customers<extra></extra>",
            },
        )
    )
    figure.update_layout(title=f"Customers since run {refresh['previous_run']}: where each segment's went", height=500)
    return figure
