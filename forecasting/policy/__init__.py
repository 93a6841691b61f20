"""Stocking policy: the unified-vs-tiered cost model, slow-mover flags, one decision per SKU,
and the replay of decisions on held-out demand."""

from forecasting.policy.config import PolicyConfig

__all__ = ["PolicyConfig"]
