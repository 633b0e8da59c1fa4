"""The engine: state arrays, compiled regimes, stage kernels and the day loop.

Numba's OpenMP threads spin while they wait for work by default; on a shared machine
(the 2-core machines this project runs on) a spinning thread holds a core another
process needs, and a run on 2 threads took 5-10 times longer than on one
(bench/peers/README.md). Passive waiting costs little on a quiet machine (rongcheng,
20,000 agents x 100 days: wall ratio 1.03, farm-bench median of 4 pairs; 10M agents,
bench/profile_day.py, runs alternating: 4.23e7 and 4.74e7 agent-days/s against 4.33e7
and 4.88e7 spinning, 2-3 %), so it is the default here; an OMP_WAIT_POLICY set by the
user wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
