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

from segspark.schemas import FEATURE_COLUMNS, LOG_FEATURE_COLUMNS

FEATURE_TITLES = {
    "products_ordered": "Products ordered (distinct product types)",
    "average_return_rate": "Average return rate",
    "total_spending": "Total spending",
    "log_products_ordered": "log1p(products ordered)",
    "log_average_return_rate": "log1p(average return rate)",
    "log_total_spending": "log1p(total spending)",
}
PALETTE = qualitative.Plotly + qualitative.D3


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


def customers_3d(sample: pd.DataFrame, centres: dict[int, Sequence[float]], names: dict[int, str]) -> go.Figure:
    """b. The sampled customers in log-feature space, coloured by segment, with the centres.

    `sample` carries a pseudonymised `customer` column (see segspark.pseudonyms), shown on hover.
    """
    figure = go.Figure()
    hover = (
        "customer %{customdata[3]}<br>products %{customdata[0]:,.0f}<br>return rate %{customdata[1]:.3f}<br>"
        "spending %{customdata[2]:,.2f}<extra>%{fullData.name}</extra>"
    )
    for segment, points in sample.groupby("segment", sort=True):
        figure.add_trace(
            go.Scatter3d(
                x=points[LOG_FEATURE_COLUMNS[0]],
                y=points[LOG_FEATURE_COLUMNS[1]],
                z=points[LOG_FEATURE_COLUMNS[2]],
                mode="markers",
                marker={"size": 2, "color": colour(int(segment)), "opacity": 0.6},
                name=label(int(segment), names),
                customdata=points[[*FEATURE_COLUMNS, "customer"]].to_numpy(),
                hovertemplate=hover,
            )
        )
    figure.add_trace(
        go.Scatter3d(
            x=[centres[s][0] for s in sorted(centres)],
            y=[centres[s][1] for s in sorted(centres)],
            z=[centres[s][2] for s in sorted(centres)],
            mode="markers+text",
            marker={"size": 8, "symbol": "diamond", "color": "black"},
            text=[str(s) for s in sorted(centres)],
            name="centres",
            hovertemplate="centre of segment %{text}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"Customers in log-feature space ({len(sample):,} sampled) and the segment centres",
        scene={
            "xaxis_title": FEATURE_TITLES[LOG_FEATURE_COLUMNS[0]],
            "yaxis_title": FEATURE_TITLES[LOG_FEATURE_COLUMNS[1]],
            "zaxis_title": FEATURE_TITLES[LOG_FEATURE_COLUMNS[2]],
        },
        height=650,
    )
    return figure


def distributions(histograms: pd.DataFrame) -> go.Figure:
    """c. Each feature's distribution before (top) and after (bottom) log1p, binned in Spark."""
    columns = [*FEATURE_COLUMNS, *LOG_FEATURE_COLUMNS]
    figure = make_subplots(rows=2, cols=3, subplot_titles=[FEATURE_TITLES[c] for c in columns])
    for position, feature in enumerate(columns):
        bins = histograms[histograms["feature"] == feature]
        figure.add_trace(
            go.Bar(
                x=(bins["bin_start"] + bins["bin_end"]) / 2,
                y=bins["customers"],
                width=bins["bin_end"] - bins["bin_start"],
                marker_color="#4C78A8" if position < 3 else "#F58518",
                name=feature,
                showlegend=False,
                hovertemplate="%{x:.3g}<br>%{y:,} customers<extra></extra>",
            ),
            row=position // 3 + 1,
            col=position % 3 + 1,
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


def profiles(quantiles: pd.DataFrame, names: dict[int, str]) -> go.Figure:
    """e. Each segment's median of every feature in original units, bars from p25 to p75."""
    figure = make_subplots(rows=1, cols=3, subplot_titles=[FEATURE_TITLES[f] for f in FEATURE_COLUMNS])
    segments = sorted(s for s in quantiles["segment"].unique() if s >= 0)
    for position, feature in enumerate(FEATURE_COLUMNS):
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
