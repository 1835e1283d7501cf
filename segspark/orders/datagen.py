"""Synthetic Shopify order lines, made in the executors, deterministic for a seed.

Every value is a hash of (seed, line number, purpose), never `rand()`, so the same seed gives the
same lines whatever the partitioning. Line numbers map to customers arithmetically, so any size from
a thousand to a hundred million lines comes out exact without a shuffle.

Four latent behaviours, each a block of customers:

| behaviour       | customers | lines each | orders      | product types | returns        | spend |
|-----------------|-----------|------------|-------------|---------------|----------------|-------|
| one_off         | 55%       | ~1.6       | one         | 1-2           | rare           | low   |
| loyal           | 20%       | ~6         | many        | many          | rare           | mid   |
| heavy_returner  | 15%       | ~3         | a few       | 1-3           | most lines     | mid   |
| big_spender     | 10%       | ~2.5       | a few       | 1-2           | rare           | high  |

About 15% of lines are return-only (ordered_item_quantity 0, negative returned quantity and
amounts), a third of lines carry a discount and a few are fully discounted; taxes are 20% of net
sales; days run from 2018-11-01 to 2019-04-30 with a Black-Friday peak.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from segspark.orders.formats import built_in


@dataclass(frozen=True)
class Behaviour:
    name: str
    customer_share: float
    lines_per_customer: float
    max_lines_per_order: int
    product_type_spread: int  # 0: any type; n: the customer's favourite type and n-1 neighbours
    quantity_base: int
    price_factor: float
    partial_return_chance: float
    return_only_chance: float


BEHAVIOURS = (
    Behaviour("one_off", 0.55, 1.6, 3, 2, 1, 1.0, 0.05, 0.08),
    Behaviour("loyal", 0.20, 6.0, 3, 0, 1, 1.0, 0.05, 0.15),
    Behaviour("heavy_returner", 0.15, 3.0, 2, 3, 1, 1.2, 0.70, 0.35),
    Behaviour("big_spender", 0.10, 2.5, 2, 2, 2, 6.0, 0.05, 0.10),
)

PRODUCT_TYPES = (
    "Shirts", "T-Shirts", "Jeans", "Trousers", "Shorts", "Dresses", "Skirts", "Jackets", "Coats",
    "Sweaters", "Hoodies", "Socks", "Underwear", "Shoes", "Sneakers", "Boots", "Hats", "Scarves",
    "Bags", "Belts",
)  # fmt: skip
SIZES = ("XS", "S", "M", "L", "XL")
FIRST_DAY = "2018-11-01"
DAYS = 181  # to 2019-04-30
BLACK_FRIDAY_OFFSET = 22  # 2018-11-23, the first of four peak days
DEFAULT_LINES = 70_000
_JITTER = 0.9  # customer boundaries move by up to 90% of a customer's mean size: sizes vary, stay > 0


def _uniform(seed: int, *parts: Column | str | int) -> Column:
    """A deterministic uniform number in [0, 1) from the seed and the given parts."""
    key = F.xxhash64(F.lit(seed), *[p if isinstance(p, Column) else F.lit(p) for p in parts])
    return F.pmod(key, F.lit(1 << 52)).cast("double") / float(1 << 52)


def _pick(uniform: Column, n: int) -> Column:
    """An integer in [0, n) from a uniform number."""
    return F.floor(uniform * n).cast("int")


def _block_starts(lines: int) -> list[int]:
    weights = [b.customer_share * b.lines_per_customer for b in BEHAVIOURS]
    total = sum(weights)
    starts, acc = [0], 0.0
    for weight in weights[:-1]:
        acc += weight / total
        starts.append(round(lines * acc))
    return starts


def _assign_customers(ids: DataFrame, lines: int, seed: int) -> DataFrame:
    """line number -> (behaviour, customer index, line index within the customer)."""
    starts = _block_starts(lines)
    first_customer = [0]
    for index, behaviour in enumerate(BEHAVIOURS[:-1]):
        block = (starts[index + 1] if index + 1 < len(starts) else lines) - starts[index]
        first_customer.append(first_customer[-1] + int(block / behaviour.lines_per_customer) + 2)

    line = F.col("id")
    behaviour_index = F.lit(0)
    for index in range(1, len(BEHAVIOURS)):
        behaviour_index = F.when(line >= starts[index], F.lit(index)).otherwise(behaviour_index)

    def by_behaviour(values: list) -> Column:
        column = F.lit(values[0])
        for index in range(1, len(values)):
            column = F.when(F.col("behaviour_index") == index, F.lit(values[index])).otherwise(column)
        return column

    mean = F.col("mean_lines")
    local_line = (line - F.col("block_start")).cast("double")

    def boundary(local_customer: Column) -> Column:
        # customer c owns local lines [boundary(c), boundary(c + 1)); boundary(0) = 0
        jitter = _uniform(seed, "boundary", F.col("behaviour_index"), local_customer)
        return F.when(local_customer <= 0, F.lit(0.0)).otherwise(mean * local_customer + _JITTER * mean * jitter)

    candidate = F.floor(local_line / mean)
    local_customer = F.when(boundary(candidate) <= local_line, candidate).otherwise(candidate - 1)
    return (
        ids.withColumn("behaviour_index", behaviour_index)
        .withColumn("block_start", by_behaviour(starts).cast("long"))
        .withColumn("mean_lines", by_behaviour([b.lines_per_customer for b in BEHAVIOURS]))
        .withColumn("local_customer", local_customer.cast("long"))
        .select(
            F.col("id").alias("line_number"),
            "behaviour_index",
            (by_behaviour(first_customer).cast("long") + F.col("local_customer")).alias("customer_index"),
            (local_line - F.ceil(boundary(F.col("local_customer")))).cast("int").alias("line_in_customer"),
        )
    )


def generate_order_lines(
    spark: SparkSession, lines: int = DEFAULT_LINES, seed: int = 2019, partitions: int | None = None
) -> DataFrame:
    """`lines` synthetic order lines in the Shopify export schema, typed (day is a date).

    `partitions` (default: one per million lines) changes only how the work is split, never a value.
    """
    if not 1 <= lines <= 1_000_000_000:
        raise ValueError(f"lines must be between 1 and 1,000,000,000, not {lines}")
    partitions = partitions or max(1, min(lines // 1_000_000, 10_000))
    assigned = _assign_customers(spark.range(0, lines, 1, partitions), lines, seed)

    def per_behaviour(attribute: str) -> Column:
        column = F.lit(getattr(BEHAVIOURS[0], attribute))
        for index in range(1, len(BEHAVIOURS)):
            value = getattr(BEHAVIOURS[index], attribute)
            column = F.when(F.col("behaviour_index") == index, F.lit(value)).otherwise(column)
        return column

    customer = F.col("customer_index")
    line = F.col("line_number")
    lines_per_order = 1 + _pick(_uniform(seed, "order_size", customer), 3)
    order_number = F.least(
        F.floor(F.col("line_in_customer") / F.least(lines_per_order, per_behaviour("max_lines_per_order"))),
        F.lit(99),
    )
    order_number = F.when(F.col("behaviour_index") == 0, F.lit(0)).otherwise(order_number)
    favourite_type = _pick(_uniform(seed, "favourite_type", customer), len(PRODUCT_TYPES))
    spread = per_behaviour("product_type_spread")
    type_index = F.when(spread == 0, _pick(_uniform(seed, "type", line), len(PRODUCT_TYPES))).otherwise(
        (favourite_type + F.floor(_uniform(seed, "type", line) * spread).cast("int")) % len(PRODUCT_TYPES)
    )
    style = _pick(_uniform(seed, "style", line), 10)
    size = _pick(_uniform(seed, "size", line), len(SIZES))
    unit_price = F.round((F.lit(12.0) + (type_index % 8) * 9.5 + style * 1.5) * per_behaviour("price_factor"), 2)
    is_return_only = _uniform(seed, "return_only", line) < per_behaviour("return_only_chance")
    ordered = F.when(is_return_only, F.lit(0)).otherwise(
        per_behaviour("quantity_base") + _pick(_uniform(seed, "quantity", line), 3)
    )
    has_partial_return = _uniform(seed, "partial_return", line) < per_behaviour("partial_return_chance")
    returned_units = F.when(is_return_only, 1 + _pick(_uniform(seed, "returned", line), 2)).otherwise(
        F.when(has_partial_return, 1 + _pick(_uniform(seed, "returned", line), 3) % ordered).otherwise(0)
    )
    discount_draw = _uniform(seed, "discount", line)
    discount_rate = (
        F.when(is_return_only, 0.0)
        .when(discount_draw < 0.03, 1.0)  # fully discounted: a free gift or a 100% code
        .when(discount_draw < 0.33, 0.1 * (1 + _pick(_uniform(seed, "discount_size", line), 3)))
        .otherwise(0.0)
    )

    orders = (
        assigned.withColumn("type_index", type_index)
        .withColumn("unit_price", unit_price)
        .withColumn("ordered", ordered.cast("long"))
        .withColumn("returned_units", returned_units.cast("long"))
        .withColumn("discount_rate", discount_rate)
        .withColumn("order_number", order_number.cast("long"))
    )
    gross = F.round(F.col("ordered") * F.col("unit_price"), 2)
    discounts = -F.round(gross * F.col("discount_rate"), 2) + F.lit(0.0)
    returns = -F.round(F.col("returned_units") * F.col("unit_price") * (1 - F.col("discount_rate")), 2) + 0.0
    net_sales = F.round(gross + discounts + returns, 2)
    taxes = F.round(net_sales * 0.2, 2) + 0.0
    order_key = F.col("customer_index") * 100 + F.col("order_number")
    is_peak = _uniform(seed, "peak", order_key) < 0.12
    day_offset = F.when(is_peak, BLACK_FRIDAY_OFFSET + _pick(_uniform(seed, "day", order_key), 4)).otherwise(
        _pick(_uniform(seed, "day", order_key), DAYS)
    )
    product_type = F.element_at(F.array(*[F.lit(t) for t in PRODUCT_TYPES]), F.col("type_index") + 1)
    size_name = F.element_at(F.array(*[F.lit(s) for s in SIZES]), size + 1)
    columns = {
        "product_title": F.concat(product_type, F.lit(" - Style "), style.cast("string")),
        "product_type": product_type,
        "variant_title": size_name,
        "variant_sku": F.concat_ws("-", F.upper(F.substring(product_type, 1, 3)), style.cast("string"), size_name),
        "variant_id": F.lit(40_000_000_000) + F.col("type_index") * 1000 + style * 10 + size,
        "customer_id": F.lit(3_000_000_000_000) + F.col("customer_index"),
        "order_id": F.lit(2_000_000_000_000) + order_key,
        "day": F.date_add(F.to_date(F.lit(FIRST_DAY)), day_offset),
        "net_quantity": F.col("ordered") - F.col("returned_units"),
        "gross_sales": gross,
        "discounts": discounts,
        "returns": returns,
        "net_sales": net_sales,
        "taxes": taxes,
        "total_sales": F.round(net_sales + taxes, 2),
        "returned_item_quantity": -F.col("returned_units"),
        "ordered_item_quantity": F.col("ordered"),
    }
    return orders.select(
        *[columns[field.name].cast(field.dataType).alias(field.name) for field in built_in("shopify").schema.fields]
    )


def as_export_text(lines: DataFrame, date_format: str = "dd/MM/yyyy") -> DataFrame:
    """The same lines as a CSV export carries them: the day as text in the export's format."""
    return lines.withColumn("day", F.date_format("day", date_format))
