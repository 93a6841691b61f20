"""Customers seen through channel silos, with the truth (issue #19).

A world's customers buy under one ID each (`forecasting.data.synthetic`). A retailer sees
them otherwise: each channel (store, app, mini-program, marketplace) has its own customer
IDs and its own record of the person, typed by different people and systems.
`silo_customers` gives both sides: the transactions with channel-local IDs and an
identities table (DESIGN.md) with one record per customer and channel used, carrying the
true person in ``true_person_id``, so linkage and its effect on repurchase propensity can
be measured against the truth.

Names are built from syllables with Zipf-like frequencies, so common names collide as
they do in real populations. The noise per record (`IdentityNoise`): typos, missing
fields, swapped first and last names, phone numbers written in different formats, moved
addresses, e-mails at another provider.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SYLLABLES = (
    "an", "bel", "car", "da", "el", "fa", "gio", "han", "is", "jo", "ka", "li", "ma", "na",
    "or", "pe", "qi", "ro", "sa", "ta", "ul", "vi", "wen", "xi", "ya", "zo", "lin", "mei",
    "ton", "ric", "son", "ber", "wang", "chen", "zhou", "liu", "hu", "sun", "lee", "kim",
)  # fmt: skip
STREETS = ("high st", "station rd", "park ave", "church ln", "main st", "river rd", "oak dr")
CHANNEL_FIELDS = {  # what each kind of channel asks for; others record everything
    "marketplace": ("first_name", "last_name", "phone", "address", "city", "postcode"),
    "mini_program": ("first_name", "phone", "birth_date", "city"),
}
FIELDS = (
    "first_name", "last_name", "birth_date", "email", "phone", "address", "city",
    "postcode", "state", "member_id",
)  # fmt: skip


@dataclass(frozen=True)
class IdentityNoise:
    """How each channel's record departs from the person (probabilities per record)."""

    typo: float = 0.08  # one letter changed, dropped or doubled in a name
    missing: float = 0.08  # a field left empty (each field on its own)
    swapped_names: float = 0.02  # first and last name in each other's place
    moved: float = 0.08  # another address, city and postcode
    other_email: float = 0.15  # an e-mail at another provider
    member: float = 0.6  # share of people with a loyalty member ID


@dataclass(frozen=True)
class SiloedCustomers:
    """``transactions`` with channel-local ``customer_id``; ``identities`` one record per
    customer and channel, ``true_person_id`` the world's customer ID."""

    transactions: pd.DataFrame
    identities: pd.DataFrame


def _names(rng: np.random.Generator, n: int, pool: int, parts: int) -> np.ndarray:
    """``n`` names drawn Zipf-like from ``pool`` syllable names of ``parts`` syllables."""
    combos = rng.integers(0, len(SYLLABLES), size=(pool, parts))
    names = np.array(["".join(SYLLABLES[i] for i in row).title() for row in combos])
    weights = 1.0 / np.arange(1, pool + 1) ** 0.9
    return names[rng.choice(pool, size=n, p=weights / weights.sum())]


def people(n: int, seed: int = 0, member_share: float = 0.6) -> pd.DataFrame:
    """``n`` people's true identifying fields (index 0..n-1); ``member_share`` of them
    hold a loyalty member ID."""
    rng = np.random.default_rng(seed)
    first = _names(rng, n, 600, 2)
    last = _names(rng, n, 1500, 2)
    birth = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 365 * 55, n), "D")
    city_no = rng.integers(0, 60, n)
    first_s, last_s = pd.Series(first), pd.Series(last)
    providers = pd.Series(["mail.com", "post.cn", "inbox.net", "web.org"])
    # one address per person, as mailboxes are: a number no one else with the name has
    # (two digits per name collided by the thousand among 300,000 people)
    email = (
        first_s.str.lower() + "." + last_s.str.lower()
        + pd.Series(rng.permutation(n) + 1).astype(str) + "@"
        + providers.iloc[rng.integers(0, 4, n)].reset_index(drop=True)
    )  # fmt: skip
    streets = pd.Series(STREETS).iloc[rng.integers(0, len(STREETS), n)].reset_index(drop=True)
    city = pd.Series(city_no).astype(str).str.zfill(2)
    members = "M" + pd.Series(rng.permutation(n)).astype(str).str.zfill(8)
    return pd.DataFrame(
        {
            "first_name": first,
            "last_name": last,
            "birth_date": birth.strftime("%Y-%m-%d"),
            "email": email,
            "phone": "1" + pd.Series(rng.integers(0, 10**9, n)).astype(str).str.zfill(9),
            "address": pd.Series(rng.integers(1, 400, n)).astype(str) + " " + streets,
            "city": "City " + city,
            "postcode": city + pd.Series(rng.integers(0, 10**4, n)).astype(str).str.zfill(4),
            "state": "S" + pd.Series(city_no // 10).astype(str),
            "member_id": members.mask(rng.random(n) >= member_share),
        }
    )


def _typo(rng: np.random.Generator, word: str) -> str:
    if len(word) < 3:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(0, 3))
    if kind == 0:  # a letter changed
        return word[:i] + "aeiourstn"[int(rng.integers(0, 9))] + word[i + 1 :]
    if kind == 1:  # a letter dropped
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]  # a letter doubled


def _phone_format(rng: np.random.Generator, digits: str) -> str:
    style = int(rng.integers(0, 4))
    if style == 0:
        return digits
    if style == 1:
        return f"+86 {digits[:3]} {digits[3:6]} {digits[6:]}"
    if style == 2:
        return f"0{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return f"({digits[:3]}) {digits[3:6]} {digits[6:]}"


def records(
    pairs: pd.DataFrame, persons: pd.DataFrame, seed: int = 0, noise: IdentityNoise | None = None
) -> pd.DataFrame:
    """One identity record per row of ``pairs`` (``person``: an index of ``persons``,
    ``channel``), each with its own noise."""
    noise = noise or IdentityNoise()
    rng = np.random.default_rng(seed + 1)
    n = len(pairs)
    rows = persons.iloc[pairs["person"].to_numpy()].reset_index(drop=True).copy()
    movers = rng.random(n) < noise.moved
    if movers.any():
        others = persons.iloc[rng.integers(0, len(persons), int(movers.sum()))]
        for col in ("address", "city", "postcode", "state"):
            rows.loc[movers, col] = others[col].to_numpy()
    other_mail = rng.random(n) < noise.other_email
    rows.loc[other_mail, "email"] = rows.loc[other_mail, "email"].str.replace(
        r"@.*$", "@shop.example", regex=True
    )
    for col in ("first_name", "last_name"):
        hit = np.flatnonzero(rng.random(n) < noise.typo)
        values = rows[col].to_numpy(dtype=object)
        values[hit] = [_typo(rng, values[i]) for i in hit]
        rows[col] = values
    swap = rng.random(n) < noise.swapped_names
    rows.loc[swap, ["first_name", "last_name"]] = rows.loc[
        swap, ["last_name", "first_name"]
    ].to_numpy()
    for col in ("phone", "email"):  # a digit or letter mistyped
        hit = np.flatnonzero(rng.random(n) < noise.typo / 2)
        values = rows[col].to_numpy(dtype=object)
        values[hit] = [_typo(rng, values[i]) for i in hit]
        rows[col] = values
    born = np.flatnonzero(rng.random(n) < noise.typo / 2)  # day and month swapped, or a
    dates = pd.to_datetime(rows["birth_date"].iloc[born])  # day off by one
    day_first = dates.dt.day <= 12
    rows.loc[rows.index[born], "birth_date"] = np.where(
        day_first,
        dates.dt.strftime("%Y-%d-%m"),
        (dates + pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d"),
    )
    rows["phone"] = [_phone_format(rng, p) for p in rows["phone"]]
    styled = rng.random(n)
    upper = styled < 0.2
    rows.loc[upper, "last_name"] = rows.loc[upper, "last_name"].str.upper()
    channels = pairs["channel"].astype(str).to_numpy()
    for col in FIELDS:
        empty = rng.random(n) < noise.missing
        for channel, kept in CHANNEL_FIELDS.items():
            if col not in kept:
                empty |= channels == channel
        rows.loc[empty, col] = None
    return rows


def silo_customers(
    transactions: pd.DataFrame, seed: int = 0, noise: IdentityNoise | None = None
) -> SiloedCustomers:
    """The world's ``transactions`` as channel silos see them, and the identities table."""
    pairs = (
        transactions[["customer_id", "channel"]]
        .drop_duplicates()
        .sort_values(["customer_id", "channel"], kind="stable")
        .reset_index(drop=True)
    )
    person_ids = pd.Index(pairs["customer_id"].unique())
    pairs["person"] = person_ids.get_indexer(pd.Index(pairs["customer_id"]))
    rng = np.random.default_rng(seed)
    local = np.empty(len(pairs), dtype=object)
    for channel, idx in pairs.groupby("channel", observed=True).indices.items():
        numbers = rng.permutation(len(idx)) + 1
        width = len(str(len(idx))) + 2
        local[idx] = [f"{str(channel)[:2].upper()}{k:0{width}d}" for k in numbers]
    pairs["local_id"] = local
    noise = noise or IdentityNoise()
    identities = records(pairs, people(len(person_ids), seed, noise.member), seed, noise)
    identities.insert(0, "record_id", [f"r{i:08d}" for i in range(len(pairs))])
    identities.insert(1, "channel", pairs["channel"].to_numpy())
    identities.insert(2, "customer_id", local)
    identities["true_person_id"] = pairs["customer_id"].to_numpy()
    mapping = pairs.set_index(["customer_id", "channel"])["local_id"]
    keys = pd.MultiIndex.from_frame(transactions[["customer_id", "channel"]].astype(object))
    siloed = transactions.assign(customer_id=mapping.reindex(keys).to_numpy())
    return SiloedCustomers(transactions=siloed, identities=identities)
