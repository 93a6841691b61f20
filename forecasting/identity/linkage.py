"""`CustomerLinker`: one person behind the records of several channels, by probabilistic
record linkage (Fellegi-Sunter, with Splink).

Splink learns, without labels, how much each kind of agreement says: ``u`` (how often two
different people agree, from random pairs), the prior (from near-certain rules) and ``m``
(how often the same person agrees, by expectation maximisation on blocked pairs). Pairs
that share a blocking key are scored; records linked at ``threshold`` or above are joined
into people (connected components).

The comparisons and blocking rules are chosen from the identifying fields the table has
(a field with no value is left out), so a channel that only records a phone and a first
name is still linked on what it has.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from forecasting.errors import ForecastingError
from forecasting.identity.normalise import FIELDS

#: Fields tried, in this order, as the second EM blocking rule and in the default
#: blocking of predictions (a person rarely changes them between channels).
STRONG = ("birth_date", "phone", "email", "member_id", "postcode")
#: The prior kept when no near-certain pair exists to estimate it (Splink's default).
PRIOR_WITHOUT_EVIDENCE = 1e-4


@dataclass(frozen=True)
class LinkConfig:
    """How records are linked; every field is logged with the run."""

    threshold: float = 0.9  # match probability at which two records are one person
    recall: float = 0.7  # share of true matches the near-certain rules are assumed to find
    u_max_pairs: float = 2e6  # random pairs sampled to estimate u
    max_iterations: int = 25
    seed: int = 0
    # more records than this in one person is said (`LinkageWarning`): a person has about
    # one record per channel, and a cluster far larger is links chained through shared values
    max_person_records: int = 20
    # the most pairs one blocking rule may compare (a rule over it is narrowed by one more
    # field, else left out, and said): common names make name-only blocks quadratic
    max_block_pairs: float = 2e7

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {self.threshold}")
        if not 0.0 < self.recall <= 1.0:
            raise ValueError(f"recall must be in (0, 1], got {self.recall}")
        if not self.max_block_pairs >= 1:
            raise ValueError(f"max_block_pairs must be >= 1, got {self.max_block_pairs}")
        if self.max_person_records < 1:
            raise ValueError(f"max_person_records must be >= 1, got {self.max_person_records}")


def present_fields(df: pd.DataFrame) -> list[str]:
    """The identifying fields with at least one value."""
    return [f for f in FIELDS if f in df.columns and df[f].notna().any()]


#: How each SQL backend writes the birth dates' format (normalised to ISO text).
DATE_FORMATS = {"duckdb": "%Y-%m-%d", "spark": "yyyy-MM-dd"}


def comparisons(fields: list[str], dialect: str = "duckdb") -> list[Any]:
    """Splink comparisons for the ``fields`` present, on the SQL ``dialect``."""
    import splink.comparison_library as cl

    out: list[Any] = []
    names = [f for f in ("first_name", "last_name") if f in fields]
    if len(names) == 2:  # swapped first and last names score as a level of their own
        out.append(cl.ForenameSurnameComparison("first_name", "last_name"))
    out += [cl.NameComparison(f) for f in names if len(names) == 1]
    builders: dict[str, Any] = {
        "birth_date": lambda: cl.DateOfBirthComparison(
            "birth_date", input_is_string=True, datetime_format=DATE_FORMATS[dialect]
        ),
        "email": lambda: cl.EmailComparison("email"),
        "phone": lambda: cl.LevenshteinAtThresholds("phone", [1, 2]),
        "address": lambda: cl.JaroWinklerAtThresholds("address", [0.95, 0.88]),
        "city": lambda: cl.ExactMatch("city").configure(term_frequency_adjustments=True),
        "postcode": lambda: cl.LevenshteinAtThresholds("postcode", [1]),
        "state": lambda: cl.ExactMatch("state"),
        "member_id": lambda: cl.ExactMatch("member_id"),
    }
    out += [builders[f]() for f in fields if f in builders]
    if not out:
        raise ForecastingError(
            "no identifying field has a value: give at least one of " + ", ".join(FIELDS)
        )
    return out


def blocking_keys(fields: list[str]) -> list[tuple[str, ...]]:
    """Pairs scored: records that share every field of one of these keys."""
    keys: list[tuple[str, ...]] = [(f,) for f in ("email", "phone", "member_id") if f in fields]
    pairs = [
        ("first_name", "last_name"),
        ("last_name", "birth_date"),
        ("first_name", "birth_date"),
        ("first_name", "postcode"),
        ("last_name", "postcode"),
        ("first_name", "city"),
        # both names mistyped or swapped: where a person is born and lives
        ("birth_date", "postcode"),
        ("birth_date", "address"),
    ]
    keys += [p for p in pairs if all(f in fields for f in p)]
    return keys or [(f,) for f in fields[:2]]


#: Fields that narrow a blocking key which would compare too many pairs, in this order.
NARROWING = ("birth_date", "postcode", "city", "state", "last_name", "first_name")


def block_pairs(table: pd.DataFrame, key: tuple[str, ...]) -> int:
    """Comparisons a blocking rule on ``key`` makes: n(n-1)/2 per group of records that
    share every field of it (an empty field matches nothing). Counted on the table the
    linker holds, whatever the engine (Splink's own counter runs a query per rule on it)."""
    sizes = table.dropna(subset=list(key)).groupby(list(key), sort=False).size()
    n = sizes.to_numpy(dtype="float64")
    return int((n * (n - 1) / 2).sum())


def within_budget(
    keys: list[tuple[str, ...]],
    table: pd.DataFrame,
    fields: list[str],
    budget: float,
    notes: list[str],
    *,
    separate: bool = False,
) -> list[tuple[str, ...]]:
    """``keys`` whose rules compare at most ``budget`` pairs: a key over it is narrowed by
    the first field of `NARROWING` that brings it under, else left out; each change is
    noted. ``separate`` (EM sessions): a key is never narrowed by a field another key
    blocks on, so every comparison is still learned in some session."""
    out: list[tuple[str, ...]] = []
    for i, key in enumerate(keys):
        n = block_pairs(table, key)
        if n <= budget:
            out.append(key)
            continue
        others = {f for k in [*out, *keys[i + 1 :]] for f in k} if separate else set()
        for extra in (f for f in NARROWING if f in fields and f not in key and f not in others):
            m = block_pairs(table, (*key, extra))
            if m <= budget:
                out.append((*key, extra))
                notes.append(
                    f"blocking on {'+'.join(key)} would compare {n:,} pairs (over "
                    f"max_block_pairs={budget:,.0f}): narrowed to {'+'.join(out[-1])} ({m:,})"
                )
                break
        else:
            notes.append(
                f"blocking on {'+'.join(key)} would compare {n:,} pairs (over "
                f"max_block_pairs={budget:,.0f}) and no field narrows it enough: left out"
            )
    return out


def _deterministic(fields: list[str], fallback: list[tuple[str, ...]]) -> list[Any]:
    """Near-certain rules for the prior (two random records being one person)."""
    from splink import block_on

    rules = [
        r
        for r in (
            ("email",),
            ("member_id",),
            ("first_name", "last_name", "birth_date"),
            ("first_name", "phone"),
            ("first_name", "last_name", "postcode"),
        )
        if all(f in fields for f in r)
    ]
    return [block_on(*r) for r in (rules or fallback[:1])]


def _em_rules(fields: list[str]) -> list[tuple[str, ...]]:
    """Two EM sessions blocked on different fields, so every comparison is learned in one
    of them; a session whose blocking covers every comparison has nothing to learn and is
    left out."""
    strong = [f for f in STRONG if f in fields]
    if "first_name" in fields and "last_name" in fields:
        first: tuple[str, ...] = ("first_name", "last_name")
    elif strong:
        first = (strong.pop(0),)
    else:
        first = (fields[0],)
    second = strong[0] if strong else next((f for f in fields if f not in first), None)
    rules = [first] + ([(second,)] if second else [])
    return [r for r in rules if _left_to_learn(r, fields)]


def _left_to_learn(rule: tuple[str, ...], fields: list[str]) -> bool:
    """Whether a session blocked on ``rule`` leaves a comparison to learn (first and last
    name are one comparison)."""
    used = set(rule) | (
        {"first_name", "last_name"} if set(rule) & {"first_name", "last_name"} else set()
    )
    return any(f not in used for f in fields)


class CustomerLinker(BaseEstimator):
    """Links the records of a normalised identities table (`forecasting.identity.normalise`).

    ``fit(identities)`` trains the model and links; ``links_`` is one row per record:
    ``record_id, channel, customer_id, person_id, match_probability``. ``person_id`` is
    the lowest ``record_id`` of the person's records; ``match_probability`` is that of the
    strongest link that joined the record to them (null for a record on its own).
    ``parameters_``: ``m`` and ``u`` per comparison level; ``model_``: Splink's model as a
    dict (JSON); ``pairs_``: the scored pairs at or above the threshold, with each
    comparison's Bayes factor (for waterfall charts).
    """

    def __init__(self, config: LinkConfig | None = None) -> None:
        self.config = config or LinkConfig()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """``{"config": ...}``; with ``deep`` also every config field as ``config__name``,
        ready for ``mlflow.log_params``."""
        params: dict[str, Any] = {"config": self.config}
        if deep:
            params.update({f"config__{k}": v for k, v in asdict(self.config).items()})
        return params

    def fit(self, identities: pd.DataFrame, db_api: Any = None) -> CustomerLinker:
        """Train on ``identities`` and link them. ``db_api``: a Splink database API (default
        DuckDB in memory; a ``SparkAPI`` for Spark). Returns ``self``."""
        if identities["record_id"].duplicated().any():
            raise ForecastingError("record_id repeats: give each identity record its own ID")
        self.fields_ = present_fields(identities)
        if not self.fields_:
            comparisons([])  # raises the one-line error
        keep = ["record_id", "channel", *self.fields_]
        table = identities[keep].astype({c: "string" for c in keep})
        return self._fit(identities, table, db_api)

    def _fit(self, identities: pd.DataFrame, table: pd.DataFrame, db_api: Any) -> CustomerLinker:
        import logging

        from splink import DuckDBAPI, Linker, SettingsCreator, block_on

        cfg = self.config
        self.blocking_notes_: list[str] = []
        budget, notes = cfg.max_block_pairs, self.blocking_notes_
        self.blocking_ = within_budget(
            blocking_keys(self.fields_), table, self.fields_, budget, notes
        )
        if not self.blocking_:
            raise ForecastingError(
                f"every blocking rule would compare more than max_block_pairs={budget:,.0f} "
                f"pairs ({'; '.join(notes)}): raise it, or give more identifying fields"
            )
        self.em_blocking_ = within_budget(
            _em_rules(self.fields_), table, self.fields_, budget, notes, separate=True
        )
        if db_api is None:
            import duckdb

            connection = duckdb.connect()
            connection.execute("SET enable_progress_bar = false")  # no bars on stdout
            db_api = DuckDBAPI(connection=connection)
        settings = SettingsCreator(
            link_type="dedupe_only",
            unique_id_column_name="record_id",
            comparisons=comparisons(self.fields_, db_api.sql_dialect.sql_dialect_str),
            blocking_rules_to_generate_predictions=[block_on(*k) for k in self.blocking_],
            retain_intermediate_calculation_columns=True,
            max_iterations=cfg.max_iterations,
            additional_columns_to_retain=["channel"],
        )
        # a pandas table is accepted, though the annotation names only table names
        linker = Linker(table, settings, db_api=db_api, set_up_basic_logging=False)  # type: ignore[arg-type]
        splink_log = logging.getLogger("splink")
        level = splink_log.level
        splink_log.setLevel(logging.ERROR)  # its training log; what matters is in the run
        try:
            self._train_and_link(linker, identities)
        finally:
            splink_log.setLevel(level)
        return self

    def _train_and_link(self, linker: Any, identities: pd.DataFrame) -> None:
        from splink import block_on
        from splink.internals.exceptions import EMTrainingException

        cfg = self.config
        self.training_skipped_: list[str] = []
        if len(identities) > 1:
            try:
                linker.training.estimate_probability_two_random_records_match(
                    _deterministic(self.fields_, self.blocking_), recall=cfg.recall
                )
            except Exception as exc:  # no near-certain pair: Splink's default prior stays
                self.training_skipped_.append(f"prior: {str(exc).splitlines()[0]}")
            settings = linker._settings_obj
            if not settings._probability_two_random_records_match > 0:
                # no near-certain pair at all: a prior of 0 would rule every link out (and
                # Splink's SQL breaks on it); its default stays, said with the run
                settings._probability_two_random_records_match = PRIOR_WITHOUT_EVIDENCE
                self.training_skipped_.append("prior: no near-certain pair, default kept")
            linker.training.estimate_u_using_random_sampling(
                max_pairs=cfg.u_max_pairs, seed=cfg.seed
            )
            for rule in self.em_blocking_:
                try:
                    linker.training.estimate_parameters_using_expectation_maximisation(
                        block_on(*rule)
                    )
                except EMTrainingException:  # no pair shares the key: nothing to learn from
                    self.training_skipped_.append(f"EM blocked on {' and '.join(rule)}: no pairs")
        try:
            predictions = linker.inference.predict(threshold_match_probability=cfg.threshold)
        except Exception as exc:  # Splink's SQL on a model with nothing learned
            raise ForecastingError(
                f"no linkage model could be learned from {len(identities)} records with the "
                f"fields {self.fields_} ({'; '.join(self.training_skipped_) or 'see Splink'}): "
                "give more records, or more identifying fields per record"
            ) from exc
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=cfg.threshold
        )
        pairs = predictions.as_pandas_dataframe()
        people = clusters.as_pandas_dataframe()[["record_id", "cluster_id"]]
        self.model_ = linker.misc.save_model_to_json()
        self.pairs_ = pairs
        self.parameters_ = parameters(self.model_)
        self.links_ = _links(identities, people, pairs)


def _links(identities: pd.DataFrame, people: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per record: its person and the probability of its strongest link. Records
    of one channel with one ``customer_id`` are one customer by definition: they join the
    same person even where Splink did not link them (connected components over both)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ids = identities["record_id"].astype("string").reset_index(drop=True)
    n = len(ids)
    position = pd.Series(np.arange(n), index=pd.Index(ids))
    cluster = people.astype({"record_id": "string", "cluster_id": "string"})
    edges = [
        (position[cluster["record_id"]].to_numpy(), position[cluster["cluster_id"]].to_numpy())
    ]
    if "customer_id" in identities:
        key = (
            identities["channel"].astype("string")
            + "\x1f"
            + identities["customer_id"].astype("string")
        )
        first = pd.Series(np.arange(n)).groupby(key.to_numpy(), dropna=True).transform("min")
        known = key.notna().to_numpy()
        edges.append((np.arange(n)[known], first.to_numpy()[known].astype("int64")))
    rows = np.concatenate([e[0] for e in edges])
    cols = np.concatenate([e[1] for e in edges])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    # the person: the lowest record_id of the component
    person = ids.groupby(component).transform("min")
    best = pd.concat(
        [
            pairs[["record_id_l", "match_probability"]].set_axis(["record_id", "p"], axis=1),
            pairs[["record_id_r", "match_probability"]].set_axis(["record_id", "p"], axis=1),
        ]
    )
    strongest = best.astype({"record_id": "string"}).groupby("record_id")["p"].max()
    return pd.DataFrame(
        {
            "record_id": identities["record_id"].to_numpy(),
            "channel": identities["channel"].to_numpy(),
            "customer_id": identities["customer_id"].to_numpy()
            if "customer_id" in identities
            else None,
            "person_id": person.to_numpy(dtype=object),
            "match_probability": strongest.reindex(ids).to_numpy(dtype="float64"),
        }
    )


def parameters(model: dict[str, Any]) -> pd.DataFrame:
    """``comparison, level, m, u, match_weight`` (log2 m/u) per comparison level of a Splink
    model (`CustomerLinker.model_`); the null level has none."""
    rows = []
    for comp in model.get("comparisons", []):
        for level in comp.get("comparison_levels", []):
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            weight = math.log2(m / u) if m and u else np.nan
            rows.append(
                {
                    "comparison": comp.get("output_column_name"),
                    "level": level.get("label_for_charts") or level.get("sql_condition"),
                    "m": m,
                    "u": u,
                    "match_weight": weight,
                }
            )
    return pd.DataFrame(rows, columns=["comparison", "level", "m", "u", "match_weight"])
