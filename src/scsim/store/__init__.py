"""The results store: finished runs in one embedded DuckDB file, with Parquet export.

Schema and why it looks the way it does: :mod:`scsim.store.duck`.
"""

from scsim.store.duck import DEFAULT_PATH, Store, new_run_id, open_store

__all__ = ["DEFAULT_PATH", "Store", "new_run_id", "open_store"]
