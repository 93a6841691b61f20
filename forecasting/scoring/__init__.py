"""Batch scoring with a registered predictor: on this machine (`local`, worker processes)
or on a Spark cluster (`spark`, extra ``[spark]``)."""

from forecasting.scoring.local import score_file, score_part, score_parts

__all__ = ["score_file", "score_part", "score_parts"]
