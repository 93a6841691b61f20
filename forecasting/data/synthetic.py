"""A seeded omnichannel retail generator with known ground truth.

Like ``utilsforecast.data.generate_series``, but shaped for the elastic-SKU problem: SKUs
sold in up to four channels, five archetypes whose Syntetos-Boylan class, intended stocking
and slow-mover status are known, customer transactions that sum exactly to the sales, an
inventory snapshot at the last day (or before `holdout_days` held-out days), and a SKU master.

The demand model, per series (SKU x channel) and day t:

* orders ``N_t ~ Poisson(lambda_t)`` where ``lambda_t`` = base rate x day-of-week profile of
  the channel x yearly wave x price effect ``(p_t / p_base) ** -elasticity`` (promotions cut
  the price by 20%), zero before the SKU's launch, decaying to zero for dying SKUs;
* units ``y_t = N_t + X_t`` with ``X_t | N_t ~ NegBin(N_t k, k / (k + m))``: each order
  buys ``1 + NegBin(k, mean m)`` units, so ``m`` and ``k`` set how lumpy order sizes are.

Rates and order sizes are chosen per archetype so that its series fall in the intended
Syntetos-Boylan class with a margin (see `ARCHETYPES`).

Everything is vectorised over a (series x day) matrix: 10,000 series x 730 days take a
couple of seconds without transactions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from forecasting.data.synthetic_confounders import Confounders
from forecasting.data.synthetic_transactions import transactions_of

CHANNELS: tuple[str, ...] = ("store", "app", "mini_program", "marketplace")

#: Relative size of each channel (a SKU's base rate is multiplied by it).
CHANNEL_SCALE: dict[str, float] = {
    "store": 1.0,
    "app": 0.8,
    "mini_program": 0.55,
    "marketplace": 0.7,
}

#: Day-of-week profiles (Monday first), normalised to mean 1 when used.
DOW_PROFILE: dict[str, tuple[float, ...]] = {
    "store": (0.85, 0.8, 0.85, 0.9, 1.1, 1.35, 1.15),
    "app": (1.0, 0.95, 0.95, 1.0, 1.05, 1.05, 1.0),
    "mini_program": (0.95, 0.95, 1.0, 1.0, 1.05, 1.05, 1.0),
    "marketplace": (1.05, 1.0, 1.0, 0.95, 0.95, 1.0, 1.05),
}
DEFAULT_DOW = (1.0,) * 7


@dataclass(frozen=True)
class Archetype:
    """Generative parameters of one archetype and its ground truth."""

    name: str
    demand_class: str  # intended Syntetos-Boylan class ("" for dying SKUs: it changes over time)
    stocking: str  # intended stocking decision
    rate: tuple[float, float]  # orders per day per channel (before channel scale)
    rate_clip: tuple[float, float]  # bounds after channel scaling
    log_uniform: bool
    extra_mean: float  # m: mean extra units per order
    extra_k: float  # k: negative-binomial dispersion of extra units
    channel_prob: float  # probability to be sold in each channel (at least one)
    price: tuple[float, float]  # base price range (log-uniform)
    lead_time: tuple[int, int]  # supplier lead time, days
    loyal_share: float  # share of orders placed by the SKU's repeat buyers
    promo_rate: float  # promotion starts per day
    category: tuple[str, ...]
    # what real data does to it that clean worlds do not (`CONFOUNDERS`), "" for none
    confounder: str = ""


ARCHETYPES: dict[str, Archetype] = {
    a.name: a
    for a in (
        Archetype(
            "consumable",
            "smooth",
            "unified",
            (7.0, 16.0),
            (5.5, 30.0),
            False,
            1.0,
            20.0,
            1.0,
            (1.5, 15.0),
            (2, 7),
            0.85,
            1 / 45,
            ("grocery", "personal_care"),
        ),
        Archetype(
            "erratic",
            "erratic",
            "unified",
            (3.0, 4.5),
            (2.6, 4.2),
            False,
            3.0,
            0.4,
            1.0,
            (10.0, 60.0),
            (5, 14),
            0.35,
            1 / 45,
            ("apparel", "toys"),
        ),
        Archetype(
            "durable",
            "intermittent",
            "tiered",
            (0.04, 0.3),
            (0.02, 0.3),
            True,
            0.1,
            3.0,
            0.6,
            (80.0, 800.0),
            (14, 45),
            0.04,
            1 / 120,
            ("appliances", "furniture"),
        ),
        Archetype(
            "custom",
            "lumpy",
            "tiered",
            (0.03, 0.25),
            (0.02, 0.25),
            True,
            6.0,
            0.4,
            0.5,
            (200.0, 2000.0),
            (30, 60),
            0.02,
            1 / 120,
            ("custom",),
        ),
        Archetype(
            "dying",
            "",
            "tiered",
            (3.0, 8.0),
            (1.5, 10.0),
            False,
            1.0,
            5.0,
            1.0,
            (5.0, 80.0),
            (5, 21),
            0.5,
            1 / 60,
            ("seasonal", "electronics"),
        ),
    )
}

#: What fools a slow-mover list, each an archetype of its own (issue #17):
#: ``stockouts``: a consumable out of stock on 25-45% of days, in runs of 5-15 days;
#: ``restocked``: a consumable restocked 1-5 days before the snapshot after 3-5 weeks out;
#: ``seasonal``: sold only in a 10-16 week season a year, off season at the snapshot with
#: 0.4-0.9 times a season's sales in stock 3-8 weeks before it starts;
#: ``seasonal_overstock``: the same with 2-4 seasons of stock (a slow mover);
#: ``launch``: a consumable launched 3-7 weeks before the snapshot, still ramping up to its
#: mature rate (over 60-120 days), holding its launch buy of 8-14 weeks of that rate.
#: Their draws come from a generator of their own, so worlds without them are unchanged.
CONFOUNDERS = ("stockouts", "restocked", "seasonal", "seasonal_overstock", "launch")
_CONSUMABLE = ARCHETYPES["consumable"]
_SEASONAL = Archetype(
    "seasonal", "", "", (1.5, 4.0), (1.0, 4.0), False, 1.0, 5.0, 0.8, (10.0, 60.0), (7, 21),
    0.3, 1 / 90, ("garden", "outdoor"), "seasonal",
)  # fmt: skip
ARCHETYPES.update(
    {
        "stockouts": replace(_CONSUMABLE, name="stockouts", confounder="stockouts"),
        "restocked": replace(_CONSUMABLE, name="restocked", confounder="restocked"),
        "seasonal": _SEASONAL,
        "seasonal_overstock": replace(
            _SEASONAL, name="seasonal_overstock", confounder="seasonal_overstock"
        ),
        "launch": replace(_CONSUMABLE, name="launch", demand_class="", confounder="launch"),
    }
)

DEFAULT_MIX: tuple[tuple[str, float], ...] = (
    ("consumable", 0.30),
    ("erratic", 0.20),
    ("durable", 0.25),
    ("custom", 0.10),
    ("dying", 0.15),
)


#: The clean archetypes with every confounder mixed in (the policy benchmark's world).
CONFOUNDED_MIX: tuple[tuple[str, float], ...] = (
    ("consumable", 0.20),
    ("erratic", 0.12),
    ("durable", 0.15),
    ("custom", 0.06),
    ("dying", 0.09),
    ("stockouts", 0.12),
    ("restocked", 0.06),
    ("seasonal", 0.07),
    ("seasonal_overstock", 0.05),
    ("launch", 0.08),
)


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate. Frozen so it can be logged as params and saved with the data."""

    n_skus: int = 400
    start: str = "2024-01-01"
    n_days: int = 730
    channels: tuple[str, ...] = CHANNELS
    mix: tuple[tuple[str, float], ...] = DEFAULT_MIX
    launch_share: float = 0.1  # SKUs launched after the start (zeros and no price before)
    overstock_share: float = 0.15  # durable / custom SKUs holding far more stock than demand
    excess_cover_weeks: float = 26.0  # weeks of cover above which stock counts as excess
    # the last holdout_days days come after the inventory snapshot (to replay a policy on)
    holdout_days: int = 0
    promo_discount: float = 0.2
    n_general_customers: int | None = None  # occasional buyers; default 20 per SKU
    # each customer's channel shares ~ Dirichlet(channel_preference): small = a dominant
    # channel (0.5: about two thirds of a customer's orders in one of four); None = every
    # customer buys in a SKU's channels as the SKU sells there
    channel_preference: float | None = None
    id_width: int = 5  # SKU IDs are zero-padded: "00042"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_skus < 1 or self.n_days < 28:
            raise ValueError("n_skus must be >= 1 and n_days >= 28")
        if not 0 <= self.holdout_days <= self.n_days - 28:
            raise ValueError("holdout_days must be in [0, n_days - 28]")
        unknown = {name for name, _ in self.mix} - set(ARCHETYPES)
        if unknown:
            raise ValueError(f"unknown archetypes {sorted(unknown)}; known: {sorted(ARCHETYPES)}")
        if not self.channels:
            raise ValueError("at least one channel is needed")
        if self.channel_preference is not None and not self.channel_preference > 0:
            raise ValueError("channel_preference must be > 0 (or None: no preference)")
        mixed = {name for name, w in self.mix if w > 0 and ARCHETYPES[name].confounder}
        snap = self.n_days - 1 - self.holdout_days
        if mixed & {"seasonal", "seasonal_overstock"} and snap < 365 + 70:
            raise ValueError(
                "seasonal archetypes need a season and a lull a year before the "
                "snapshot: n_days - holdout_days >= 436"
            )
        if mixed and snap < 60:
            raise ValueError("confounder archetypes need n_days - holdout_days >= 61")


@dataclass(frozen=True)
class SyntheticData:
    """Tables in the contracts of DESIGN.md plus the ground truth."""

    config: SyntheticConfig
    sales: pd.DataFrame  # sku_id, channel, ds, y, price, promo
    inventory: pd.DataFrame  # sku_id, channel, ds, on_hand (last day before the holdout)
    skus: pd.DataFrame  # sku_id, category, unit_cost, lead_time_days
    truth: pd.DataFrame  # one row per SKU: archetype, demand_class, stocking, slow_mover, ...
    series_truth: pd.DataFrame  # one row per series: base_rate, mean_units_last_28d, ...
    transactions: pd.DataFrame | None = field(default=None)


def generate_omnichannel(
    config: SyntheticConfig | None = None, *, transactions: bool = True, **overrides: Any
) -> SyntheticData:
    """Generate sales, transactions, inventory, SKU master and truth.

    ``generate_omnichannel(n_skus=100, seed=1)`` is the same as passing a `SyntheticConfig`.
    Same config, same output. ``transactions=False`` skips the (large) customer table.

    One long procedure on purpose: every draw comes from one seeded generator in a fixed
    order, read top to bottom as the story of the world (SKUs, series, daily intensity,
    tables), and a world of a given seed stays the same world across versions.
    """
    cfg = replace(config or SyntheticConfig(), **overrides)
    rng = np.random.default_rng(cfg.seed)
    n_days = cfg.n_days
    dates = pd.date_range(cfg.start, periods=n_days, freq="D")

    # --- SKUs ---------------------------------------------------------------------------
    names = [name for name, _ in cfg.mix]
    weights = np.array([w for _, w in cfg.mix], dtype=float)
    counts = np.floor(weights / weights.sum() * cfg.n_skus).astype(int)
    counts[np.argsort(-weights)[: cfg.n_skus - counts.sum()]] += 1
    sku_arch = rng.permutation(np.repeat(np.arange(len(names)), counts))
    arch_of = [ARCHETYPES[names[i]] for i in sku_arch]
    n_skus = cfg.n_skus
    sku_ids = np.array([f"{i + 1:0{cfg.id_width}d}" for i in range(n_skus)], dtype=object)
    launch = np.zeros(n_skus, dtype=int)
    launched_late = rng.random(n_skus) < cfg.launch_share
    launch[launched_late] = rng.integers(30, max(31, n_days // 2), launched_late.sum())
    base_price = np.exp(
        rng.uniform(*np.log([[a.price[0] for a in arch_of], [a.price[1] for a in arch_of]]))
    )
    elasticity = rng.uniform(1.0, 2.0, n_skus)
    wave_amp = rng.uniform(0.0, 0.12, n_skus)
    wave_phase = rng.uniform(0, 2 * np.pi, n_skus)
    is_dying = np.array([a.name == "dying" for a in arch_of])
    decay_start = rng.uniform(0.25, 0.55, n_skus) * n_days
    decay_tau = rng.uniform(15.0, 45.0, n_skus)
    lowfreq = np.array([a.stocking == "tiered" and a.name != "dying" for a in arch_of])
    overstocked = lowfreq & (rng.random(n_skus) < cfg.overstock_share)

    # --- series (SKU x channel) -----------------------------------------------------------
    n_ch = len(cfg.channels)
    sold_in = rng.random((n_skus, n_ch)) < np.array([[a.channel_prob] for a in arch_of])
    none = ~sold_in.any(axis=1)
    sold_in[none, rng.integers(0, n_ch, none.sum())] = True
    s_sku, s_ch = np.nonzero(sold_in)  # row-major: series sorted by SKU, then channel
    n_series = len(s_sku)
    ch_names = np.array(cfg.channels, dtype=object)
    ch_scale = np.array([CHANNEL_SCALE.get(c, 0.7) for c in cfg.channels])
    lo = np.array([arch_of[i].rate[0] for i in s_sku])
    hi = np.array([arch_of[i].rate[1] for i in s_sku])
    log_u = np.array([arch_of[i].log_uniform for i in s_sku])
    u = rng.random(n_series)
    base = np.where(log_u, np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))), lo + u * (hi - lo))
    clip_lo = np.array([arch_of[i].rate_clip[0] for i in s_sku])
    clip_hi = np.array([arch_of[i].rate_clip[1] for i in s_sku])
    base_rate = np.clip(base * ch_scale[s_ch], clip_lo, clip_hi)
    extra_m = np.array([arch_of[i].extra_mean for i in s_sku])
    extra_k = np.array([arch_of[i].extra_k for i in s_sku])

    # --- (series x day) intensity ---------------------------------------------------------
    t = np.arange(n_days)
    dow = np.array([DOW_PROFILE.get(c, DEFAULT_DOW) for c in cfg.channels])
    dow = dow / dow.mean(axis=1, keepdims=True)
    dow_mult = dow[s_ch][:, dates.dayofweek.to_numpy()]
    doy = dates.dayofyear.to_numpy()
    wave = 1.0 + wave_amp[s_sku, None] * np.sin(2 * np.pi * doy / 365.25 + wave_phase[s_sku, None])
    promo_rate = np.array([arch_of[i].promo_rate for i in s_sku])
    starts = rng.random((n_series, n_days)) < promo_rate[:, None]
    cs = np.cumsum(starts, axis=1)
    promo = (cs - np.pad(cs, ((0, 0), (7, 0)))[:, :n_days]) > 0  # a promotion lasts 7 days
    step_day = rng.integers(0, n_days, n_skus)
    step = np.where(t[None, :] >= step_day[:, None], rng.uniform(0.9, 1.1, n_skus)[:, None], 1.0)
    ch_price = np.where(ch_names == "marketplace", 0.95, 1.0)
    list_price = base_price[s_sku, None] * step[s_sku] * ch_price[s_ch, None]
    price = list_price * np.where(promo, 1.0 - cfg.promo_discount, 1.0)
    price_effect = (price / list_price) ** (-elasticity[s_sku, None])
    lam = base_rate[:, None] * dow_mult * wave * price_effect
    since = t[None, :] - decay_start[s_sku, None]
    decay = np.where(since > 0, np.exp(-np.maximum(since, 0) / decay_tau[s_sku, None]), 1.0)
    decay[since > 5 * decay_tau[s_sku, None]] = 0.0
    lam = np.where(is_dying[s_sku, None], lam * decay, lam)
    snap = n_days - 1 - cfg.holdout_days  # the inventory snapshot's day
    conf = Confounders(cfg, arch_of, s_sku, snap)
    launch = conf.launch_days(launch)
    lam = lam * conf.intensity(t)
    live = t[None, :] >= launch[s_sku, None]
    lam = np.where(live, lam, 0.0)

    orders = rng.poisson(lam)
    has = orders > 0
    k_tot = np.where(has, orders * extra_k[:, None], 1.0)
    p_nb = extra_k / (extra_k + extra_m)
    extra = np.where(
        has, rng.negative_binomial(k_tot, np.broadcast_to(p_nb[:, None], k_tot.shape)), 0
    )
    out_of_stock = conf.out_of_stock(t)
    if out_of_stock.any():  # nothing on the shelf: the demand is lost, not seen
        orders, extra = np.where(out_of_stock, 0, orders), np.where(out_of_stock, 0, extra)
    units = orders + extra

    # --- tables ----------------------------------------------------------------------------
    sku_col = sku_ids[s_sku]
    ch_col = ch_names[s_ch]
    price_obs = np.where(live, np.round(price, 2), np.nan)
    sales = pd.DataFrame(
        {
            "sku_id": np.repeat(sku_col, n_days),
            "channel": np.repeat(ch_col, n_days),
            "ds": np.tile(dates.to_numpy(), n_series),
            "y": units.ravel().astype("float64"),
            "price": price_obs.ravel(),
            "promo": (promo & live).ravel().astype("int8"),
        }
    )

    mean_units = lam * (1.0 + extra_m[:, None])  # expected units per day
    recent = mean_units[:, snap - 27 : snap + 1].mean(axis=1)
    peak = mean_units[:, : snap + 1].max(axis=1)
    cover_days = rng.uniform(14, 42, n_series)
    stock_mean = np.where(
        is_dying[s_sku], peak * rng.uniform(10, 30, n_series), recent * cover_days
    )
    excess_days = rng.uniform(2.0, 4.0, n_series) * cfg.excess_cover_weeks * 7
    stock_mean = np.where(overstocked[s_sku], np.maximum(recent, 0.05) * excess_days, stock_mean)
    stock_mean = conf.stock_mean(stock_mean, mean_units, base_rate * (1.0 + extra_m), t)
    on_hand = rng.poisson(stock_mean)
    on_hand = np.where(overstocked[s_sku] | is_dying[s_sku], np.maximum(on_hand, 3), on_hand)
    if conf.any:  # a daily stock history: end-of-day stock, 0 on out-of-stock days
        daily = np.ceil(mean_units * 14.0) + 1.0
        daily[:, snap] = on_hand
        sales["on_hand"] = np.where(out_of_stock, 0.0, daily).ravel()
    inventory = pd.DataFrame(
        {
            "sku_id": sku_col,
            "channel": ch_col,
            "ds": dates[snap],
            "on_hand": on_hand.astype("float64"),
        }
    )

    lead = np.array([rng.integers(a.lead_time[0], a.lead_time[1] + 1) for a in arch_of])
    skus = pd.DataFrame(
        {
            "sku_id": sku_ids,
            "category": [a.category[rng.integers(len(a.category))] for a in arch_of],
            "unit_cost": np.round(base_price * rng.uniform(0.45, 0.7, n_skus), 2),
            "lead_time_days": lead.astype("float64"),
        }
    )
    reason = np.where(is_dying, "decayed_demand", np.where(overstocked, "excess_cover", ""))
    reason = np.where(conf.kind == "seasonal_overstock", "excess_cover", reason)
    truth = pd.DataFrame(
        {
            "sku_id": sku_ids,
            "archetype": [a.name for a in arch_of],
            "demand_class": [a.demand_class for a in arch_of],
            "stocking": [a.stocking for a in arch_of],
            "slow_mover": is_dying | overstocked | (conf.kind == "seasonal_overstock"),
            "slow_mover_reason": reason.astype(object),
            # why a SKU that looks slow is not one
            "hold_reason": conf.hold_reason(),
            "loyal_share": [a.loyal_share for a in arch_of],
            "n_channels": sold_in.sum(axis=1),
            "launch": dates[launch],
        }
    )
    series_truth = pd.DataFrame(
        {
            "sku_id": sku_col,
            "channel": ch_col,
            "archetype": truth["archetype"].to_numpy()[s_sku],
            "base_rate": base_rate,
            "units_per_order": 1.0 + extra_m,
            "expected_units_last_28d": recent * 28,
        }
    )
    tx = (
        transactions_of(
            rng, cfg, orders, extra, s_sku, sku_col, ch_col, dates, price_obs, arch_of, lam
        )
        if transactions
        else None
    )
    return SyntheticData(cfg, sales, inventory, skus, truth, series_truth, tx)


def sales_example(
    freq: str = "D", periods: int = 60, n_skus: int = 2, seed: int = 0
) -> pd.DataFrame:
    """A small sales table at ``freq`` (D, W or M) from the generator: input examples, docs."""
    from forecasting.periods import period_start

    days = {"D": 1, "W": 7, "M": 31}[freq] * periods
    data = generate_omnichannel(
        n_skus=n_skus,
        n_days=max(days, 28),
        seed=seed,
        transactions=False,
        mix=(("consumable", 0.5), ("durable", 0.5)),
        launch_share=0.0,
    )
    sales = data.sales.assign(ds=period_start(data.sales["ds"], freq))
    out = sales.groupby(["sku_id", "channel", "ds"], as_index=False).agg(
        y=("y", "sum"), price=("price", "mean"), promo=("promo", "max")
    )
    return out.astype({"promo": "float64"})
