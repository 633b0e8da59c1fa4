"""The audit metrics: names (docs/frames.md), kinds (stock or flow), and reductions."""

from scsim.metrics.names import flow_names, metric_names, stock_names

__all__ = ["flow_names", "metric_names", "stock_names"]
