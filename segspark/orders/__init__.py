"""Order lines: from an export's files to customers with every line accounted for.

Takes typed export lines (segspark.edge.inputs reads them) and a source format; gives canonical
lines marked with the first quarantine or exclusion rule that applies (`formats`, `features`), the
three behavioural features per customer (`features`), and the counts that reconcile every line
(`accounting`). `datagen` makes synthetic lines in the Shopify export's shape.
"""
