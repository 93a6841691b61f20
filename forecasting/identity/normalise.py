"""Identity fields in one canonical form before they are compared: the same person typed
``"  Anna-Maria  O'Neil"`` in a store and ``"anna maria oneil"`` in the app should agree.

Vectorised pandas string operations over the whole table, no per-row Python. Empty text
and text that normalises to nothing are null, so a missing field is never a match.
"""

from __future__ import annotations

import pandas as pd

#: The identifying fields of DESIGN.md's identities table, in the order they are compared.
FIELDS = (
    "first_name",
    "last_name",
    "birth_date",
    "email",
    "phone",
    "address",
    "city",
    "postcode",
    "state",
    "member_id",
)

#: Digits of a phone number that are compared: the last ten, which drops a country code
#: (``+86``, ``0044``) or a trunk ``0`` and keeps the national number.
PHONE_DIGITS = 10


def _ascii_lower(s: pd.Series) -> pd.Series:
    """Lower case, accents removed (``é`` -> ``e``), anything but letters, digits and
    spaces dropped, runs of spaces collapsed."""
    text = s.astype("string").str.normalize("NFKD")
    text = text.str.encode("ascii", errors="ignore").str.decode("ascii").astype("string")
    text = text.str.lower().str.replace(r"[^a-z0-9 ]+", " ", regex=True)
    text = text.str.replace(r"\s+", " ", regex=True).str.strip()
    return text.mask(text == "")


def name(s: pd.Series) -> pd.Series:
    """A name: hyphens and apostrophes are spaces (``o'neil`` and ``o neil`` agree)."""
    return _ascii_lower(s.astype("string").str.replace(r"['’`]", "", regex=True))


def email(s: pd.Series) -> pd.Series:
    """Lower case, no spaces; a value without ``@`` is not an email (null)."""
    text = s.astype("string").str.strip().str.lower().str.replace(r"\s+", "", regex=True)
    return text.mask(~text.str.contains("@", regex=False, na=False))


def phone(s: pd.Series) -> pd.Series:
    """Digits only, the last `PHONE_DIGITS` of them; fewer than 7 digits is no number."""
    digits = s.astype("string").str.replace(r"\D+", "", regex=True)
    digits = digits.str.slice(-PHONE_DIGITS)
    return digits.mask(digits.str.len() < 7)


def postcode(s: pd.Series) -> pd.Series:
    """Upper case, no spaces or dashes (``sw1a 1aa`` and ``SW1A1AA`` agree)."""
    text = s.astype("string").str.upper().str.replace(r"[^0-9A-Z]+", "", regex=True)
    return text.mask(text == "")


def member_id(s: pd.Series) -> pd.Series:
    """As written, spaces trimmed (an ID's leading zeros are kept)."""
    text = s.astype("string").str.strip()
    return text.mask(text == "")


def birth_date(s: pd.Series) -> pd.Series:
    """ISO text ``YYYY-MM-DD`` of the dates the contract parsed (in ``--date-format``)."""
    return pd.to_datetime(s).dt.strftime("%Y-%m-%d").astype("string")


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of the validated identities ``df`` (`forecasting.data.contracts.IDENTITIES`)
    with every identifying field present in canonical form (`FIELDS`; absent fields stay
    absent)."""
    out = df.copy()
    for col in ("first_name", "last_name"):
        if col in out:
            out[col] = name(out[col])
    for col in ("address", "city", "state"):
        if col in out:
            out[col] = _ascii_lower(out[col])
    steps = {"email": email, "phone": phone, "postcode": postcode, "member_id": member_id}
    for col, step in steps.items():
        if col in out:
            out[col] = step(out[col])
    if "birth_date" in out:
        out["birth_date"] = birth_date(out["birth_date"])
    return out
