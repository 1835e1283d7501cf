"""Clustering: from customers' log features to segments.

Takes the customers with their log features; gives the elbow sweep (MLlib KMeans from k-means++
seeds, every k measured on all customers: `model`, `evaluation`), each k's resampling stability
(`stability`), the chosen k and why (`choose_k`), and each customer's segment and distance to its
centre (`segments`).
"""
