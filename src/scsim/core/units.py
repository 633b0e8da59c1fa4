"""Units shared by the engine, the metrics and the frames."""

#: Scores are fixed-point int32 in units of 1/SCALE points, so sums and comparisons
#: are exact and results cannot depend on how agents are chunked.
SCALE = 256
