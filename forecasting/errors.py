"""Named errors and warnings raised by `forecasting`."""

from __future__ import annotations


class ForecastingError(Exception):
    """Base class of the user errors `forecasting` raises (the CLI prints them in one line)."""


class DataContractError(ForecastingError, ValueError):
    """An input table breaks a contract of DESIGN.md.

    The message names the source (file), the column, the first offending rows and the fix.
    """

    def __init__(
        self,
        source: str,
        problem: str,
        fix: str,
        column: str | None = None,
        rows: str | None = None,
    ) -> None:
        self.source = source
        self.column = column
        self.problem = problem
        self.rows = rows
        self.fix = fix
        where = f"{source}: column '{column}'" if column else source
        text = f"{where}: {problem}"
        if rows:
            text += f" (first offending rows: {rows})"
        text += f". Fix: {fix}"
        super().__init__(text)


class ShortHistoryWarning(UserWarning):
    """A series or customer history is shorter than a method needs; a fallback is used."""


class FallbackWarning(UserWarning):
    """A model could not forecast some series and a stand-in was used; the message names the
    model and how many series (the counts are also logged with the run)."""


class LabelOverlapWarning(UserWarning):
    """Training cutoffs closer together than the label horizon: their label windows overlap
    each other (never the held-out window, which is kept a whole horizon away)."""


class NetworkWarning(UserWarning):
    """The data names a channel the policy's network does not list: it is stocked as one
    node (set it in the policy file's ``[network]`` table)."""


class IdWarning(UserWarning):
    """IDs arrived as numbers (a CSV read without ``dtype=str``): leading zeros may have been
    lost before the model saw them."""


class LinkageWarning(UserWarning):
    """Linked people who join more records than one person plausibly has: links chained
    through values several people share (a household e-mail, a shop's phone)."""


class NewSkuWarning(UserWarning):
    """SKUs without a purchase in the predictor's transactions (new since training, or sold
    only through sales rows): they get the population's repurchase rate and a ``new_sku``
    note in their reason."""
