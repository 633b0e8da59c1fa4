"""Experiments: parameter sweeps and global sensitivity analysis over a regime, run
on Ray, with results in the store.

    import scsim
    result = scsim.sweep("liability.yaml", store="scsim.duckdb")
    frame = scsim.open_store("scsim.duckdb").experiment(result.id)

The file format is in ``docs/sensitivity.md``; :mod:`scsim.experiment.runner` says how
a sweep runs and why.
"""

from scsim.experiment.load import Plan, load_experiment
from scsim.experiment.runner import SweepResult, sweep

__all__ = ["Plan", "SweepResult", "load_experiment", "sweep"]
