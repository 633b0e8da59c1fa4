"""Calibration: a posterior over a regime's free figures from reported figures, with
validation on reported figures the calibration never sees.

    import scsim
    result = scsim.calibrate("targets.yaml", output="calibrated.yaml", report="calib/")

The file format and the method are in ``docs/calibration.md``;
:mod:`scsim.calibration.method` says why the method is what it is.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scsim.calibration.load import Calibration, load_targets
    from scsim.calibration.runner import CalibrationResult, calibrate

__all__ = ["Calibration", "CalibrationResult", "calibrate", "load_targets"]

_LAZY = {
    "Calibration": "scsim.calibration.load",
    "load_targets": "scsim.calibration.load",
    "CalibrationResult": "scsim.calibration.runner",
    "calibrate": "scsim.calibration.runner",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'scsim.calibration' has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)
