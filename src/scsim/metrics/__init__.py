"""The audit metrics: names (DESIGN.md), kinds (stock or flow), and reductions."""

from scsim.metrics.names import metric_names, stock_names

__all__ = ["metric_names", "stock_names"]
