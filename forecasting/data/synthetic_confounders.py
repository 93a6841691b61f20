"""The draws of the generator's confounder archetypes (`forecasting.data.synthetic`'s
``CONFOUNDERS``: stockouts, restocks, seasons, launches), from a generator of their own
seeded by the world's seed, so that a world without them draws nothing here and stays the
same world."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from forecasting.data.synthetic import Archetype, SyntheticConfig


class Confounders:
    """The confounder archetypes' draws (`CONFOUNDERS`), from a generator of their own
    seeded by the world's seed: a world without them draws nothing here."""

    def __init__(
        self, cfg: SyntheticConfig, arch_of: list[Archetype], s_sku: np.ndarray, snap: int
    ) -> None:
        self.kind = np.array([a.confounder for a in arch_of], dtype=object)
        self.any = bool((self.kind != "").any())
        self.s_sku, self.snap, self.n_days = s_sku, snap, cfg.n_days
        rng = np.random.default_rng([cfg.seed, 17])
        n_skus, n_series = len(arch_of), len(s_sku)
        # per SKU: launch age, ramp, season start (days after the snapshot) and length
        self.age = rng.integers(21, 50, n_skus)
        self.ramp = rng.uniform(60.0, 120.0, n_skus)
        self.season_gap = rng.integers(21, 57, n_skus)
        self.season_len = rng.integers(70, 113, n_skus)
        self.stock_factor = np.where(
            self.kind == "seasonal_overstock",
            rng.uniform(2.0, 4.0, n_skus),
            np.where(
                self.kind == "launch", rng.uniform(8.0, 14.0, n_skus), rng.uniform(0.4, 0.9, n_skus)
            ),
        )
        # per series: stockout runs
        self.run_len = rng.integers(5, 16, n_series)
        self.share = rng.uniform(0.25, 0.45, n_series)
        self.restock_len = rng.integers(21, 36, n_series)
        self.restock_ago = rng.integers(1, 6, n_series)
        self.u = rng.random((n_series, cfg.n_days)) if self.any else None

    def _series(self, kinds: tuple[str, ...]) -> np.ndarray:
        return np.isin(self.kind[self.s_sku], kinds)

    def launch_days(self, launch: np.ndarray) -> np.ndarray:
        """Launch day per SKU: confounder SKUs are on sale from the start but launches."""
        if not self.any:
            return launch
        out = np.where(self.kind != "", 0, launch)
        return np.where(self.kind == "launch", self.snap - self.age, out)

    def in_season(self, t: np.ndarray) -> np.ndarray:
        start = self.snap + self.season_gap[self.s_sku, None]
        return (t[None, :] - start) % 365 < self.season_len[self.s_sku, None]

    def intensity(self, t: np.ndarray) -> np.ndarray | float:
        """Multiplier of the demand rate: seasons, launch ramps (1 elsewhere)."""
        if not self.any:
            return 1.0
        seasonal = self._series(("seasonal", "seasonal_overstock"))
        mult = np.where(seasonal[:, None], self.in_season(t), 1.0)
        start = (self.snap - self.age)[self.s_sku, None]
        ramp = np.clip((t[None, :] - start) / self.ramp[self.s_sku, None], 0.0, 1.0)
        return np.where(self._series(("launch",))[:, None], ramp, mult)

    def out_of_stock(self, t: np.ndarray) -> np.ndarray:
        """(series x day) out-of-stock days, always in stock over the snapshot's last 3 days."""
        shape = (len(self.s_sku), self.n_days)
        if not self.any:
            return np.zeros(shape, dtype=bool)
        assert self.u is not None
        start_p = 1.0 - (1.0 - self.share) ** (1.0 / self.run_len)
        starts = np.cumsum(self.u < start_p[:, None], axis=1)
        padded = np.pad(starts, ((0, 0), (1, 0)))
        back = np.clip(t[None, :] + 1 - self.run_len[:, None], 0, None)
        runs: np.ndarray = starts - np.take_along_axis(padded, back, axis=1)
        chronic = np.logical_and(runs > 0, self._series(("stockouts",))[:, None])
        end = self.snap - self.restock_ago
        restocked = (t[None, :] <= end[:, None]) & (t[None, :] > (end - self.restock_len)[:, None])
        restocked &= self._series(("restocked",))[:, None]
        out = chronic | restocked
        out[:, max(self.snap - 2, 0) :] = False
        return out

    def stock_mean(
        self, stock: np.ndarray, mean_units: np.ndarray, mature: np.ndarray, t: np.ndarray
    ) -> np.ndarray:
        """Expected stock at the snapshot: seasonal goods hold a share (or several times) of
        last season's sales, launches their launch buy in weeks of their mature rate."""
        if not self.any:
            return stock
        factor = self.stock_factor[self.s_sku]
        year = (t > self.snap - 365) & (t <= self.snap)
        season = np.where(self.in_season(t) & year[None, :], mean_units, 0.0).sum(axis=1)
        seasonal = self._series(("seasonal", "seasonal_overstock"))
        out = np.where(seasonal, factor * season, stock)
        return np.where(self._series(("launch",)), factor * 7.0 * mature, out)

    def hold_reason(self) -> np.ndarray:
        """Truth: why a SKU that looks slow is not one."""
        return np.select(
            [self.kind == "seasonal", self.kind == "launch"],
            ["seasonal_hold", "new_launch"],
            default="",
        ).astype(object)
