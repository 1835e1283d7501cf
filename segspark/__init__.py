"""segspark: customer segmentation of e-commerce order lines with PySpark and MLlib KMeans."""

__version__ = "0.2.0"
