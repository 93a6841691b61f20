"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"), fitted by
maximum likelihood.

Hand-written: the maintained alternative, pymc-marketing, brings PyMC and MCMC sampling for
what is a four-parameter likelihood, and ``lifetimes`` has not been released since 2020. The
likelihood and the conditional expectations below are equations (6), (10) and (13) of the
paper and its technical note on P(alive); everything is vectorised over customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import digamma, gammaln, hyp2f1

from forecasting.errors import ForecastingError


@dataclass(frozen=True)
class BGNBDParams:
    """r, alpha: gamma heterogeneity of purchase rates; a, b: beta heterogeneity of dropout."""

    r: float
    alpha: float
    a: float
    b: float


def rfm_summary(
    transactions: pd.DataFrame, cutoff: pd.Timestamp, unit_days: float = 1.0
) -> pd.DataFrame:
    """Per customer with a purchase up to ``cutoff``: ``x`` repeat purchase days, ``t_x`` the
    time of the last purchase and ``T`` the age at the cutoff, both since the first purchase,
    in units of ``unit_days``. Purchases on the same day count once; the cutoff day belongs
    to the history."""
    end = pd.Timestamp(cutoff).normalize()
    tx = transactions.loc[transactions["ts"] < end + pd.Timedelta(days=1), ["customer_id", "ts"]]
    days = tx.assign(day=tx["ts"].dt.normalize()).drop_duplicates(["customer_id", "day"])
    g = days.groupby("customer_id", sort=True)["day"]
    first, last, n = g.min(), g.max(), g.size()
    return pd.DataFrame(
        {
            "x": (n - 1).astype("float64"),
            "t_x": (last - first).dt.days / unit_days,
            "T": (end - first).dt.days / unit_days,
        }
    )


class BGNBD:
    """``BGNBD().fit(x, t_x, T)``; then `expected_purchases`, `p_alive`, `p_any_purchase`."""

    def __init__(self, penalizer: float = 0.0, seed: int = 0) -> None:
        self.penalizer = penalizer
        self.seed = seed

    def get_params(self, deep: bool = True) -> dict[str, float]:
        return {"penalizer": self.penalizer, "seed": self.seed}

    def fit(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BGNBD:
        x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
        if len(x) == 0:
            raise ForecastingError("BG/NBD needs at least one customer")
        if np.any(t_x > T) or np.any(x < 0):
            raise ForecastingError("BG/NBD needs 0 <= t_x <= T and x >= 0")
        scale = max(float(np.mean(T)), 1e-9)  # fit in scaled time for a well-conditioned start
        # customers with the same (x, t_x, T) share a likelihood: each distinct triple once,
        # weighted by its count
        triples, weight = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
        xs, txs, Ts = triples[:, 0], triples[:, 1] / scale, triples[:, 2] / scale

        def nll(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            p = np.exp(log_params)
            ll, grad = _log_likelihood_and_gradient(p[0], p[1], p[2], p[3], xs, txs, Ts)
            penalty = self.penalizer * np.sum(p**2)
            # d/d(log p) = p * d/dp
            jac = -(weight @ grad) * p + 2 * self.penalizer * p**2
            return float(-(weight @ ll) + penalty), jac

        rng = np.random.default_rng(self.seed)
        best = None
        for start in [np.zeros(4), *rng.normal(0.0, 0.5, (3, 4))]:
            res = minimize(nll, start, jac=True, method="L-BFGS-B", bounds=[(-10, 10)] * 4)
            if best is None or res.fun < best.fun:
                best = res
        assert best is not None
        r, alpha, a, b = np.exp(best.x)
        self.params_ = BGNBDParams(float(r), float(alpha * scale), float(a), float(b))
        self.log_likelihood_ = float(-best.fun)
        self.converged_ = bool(best.success)
        return self

    @classmethod
    def from_params(cls, params: BGNBDParams) -> BGNBD:
        model = cls()
        model.params_ = params
        return model

    def expected_purchases(
        self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T], equation (10) of the paper."""
        r, alpha, a, b = self._params()
        x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
            first = (a + b + x - 1) / (a - 1)
            second = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
        return np.asarray(first * second * self.p_alive(x, t_x, T))

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(the customer has not dropped out by T | x, t_x, T)."""
        r, alpha, a, b = self._params()
        x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        return np.where(x > 0, 1.0 / (1.0 + ratio), 1.0)

    def p_any_purchase(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(at least one purchase in (T, T + t]).

        Alive at T (an alive customer stays alive until the next purchase) times
        1 - E[exp(-lambda t)] under the posterior Gamma(r + x, alpha + T).
        """
        r, alpha, _, _ = self._params()
        x, T = np.asarray(x, dtype="float64"), np.asarray(T, dtype="float64")
        no_purchase = ((alpha + T) / (alpha + T + t)) ** (r + x)
        return np.asarray(self.p_alive(x, t_x, T) * (1.0 - no_purchase))

    def _params(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "params_"):
            raise ForecastingError("fit the BG/NBD model first")
        p = self.params_
        return p.r, p.alpha, p.a, p.b


def _log_likelihood(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer log-likelihood, equation (6) of the paper, in log space for stability."""
    a12, a3, a4 = _terms(r, alpha, a, b, x, t_x, T)
    return np.asarray(a12 + np.logaddexp(a3, a4))


def _log_likelihood_and_gradient(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`_log_likelihood` and its derivatives by (r, alpha, a, b), one row per customer: the
    optimiser's gradient in one pass instead of four more likelihoods by finite differences."""
    a12, a3, a4 = _terms(r, alpha, a, b, x, t_x, T)
    log_sum = np.logaddexp(a3, a4)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w3 = np.exp(a3 - log_sum)  # the two terms' shares of the sum (the second is 0 at x = 0)
        w4 = np.where(x > 0, np.exp(a4 - log_sum), 0.0)
        inv_bx = np.where(x > 0, 1.0 / np.maximum(b + x - 1, 1e-300), 0.0)
    d_r = (
        digamma(r + x) - digamma(r) + np.log(alpha)
        - w3 * np.log(alpha + T) - w4 * np.log(alpha + t_x)
    )  # fmt: skip
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    d_a = digamma(a + b) - digamma(a + b + x) + w4 / a
    d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - w4 * inv_bx
    return a12 + log_sum, np.column_stack([d_r, d_alpha, d_a, d_b])


def _terms(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The log-likelihood's terms: outside its log-sum, and the log-sum's two terms."""
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return a1 + a2, a3, a4


def simulate_bgnbd(params: BGNBDParams, n_customers: int, T: float, seed: int = 0) -> pd.DataFrame:
    """Customers drawn from a BG/NBD process observed for ``T`` time units each: ``x, t_x, T``.

    Each customer has a Poisson purchase rate lambda ~ Gamma(r, alpha) and, after each
    purchase, drops out with probability p ~ Beta(a, b).
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params.r, 1.0 / params.alpha, n_customers)
    p = rng.beta(params.a, params.b, n_customers)
    x = np.zeros(n_customers)
    t_x = np.zeros(n_customers)
    now = np.zeros(n_customers)
    active = np.ones(n_customers, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        wait = rng.exponential(1.0 / np.maximum(lam[idx], 1e-12))
        now[idx] += wait
        bought = now[idx] <= T
        ended = idx[~bought]
        active[ended] = False
        got = idx[bought]
        x[got] += 1
        t_x[got] = now[got]
        dropped = got[rng.random(len(got)) < p[got]]
        active[dropped] = False
    return pd.DataFrame({"x": x, "t_x": t_x, "T": np.full(n_customers, T)})
