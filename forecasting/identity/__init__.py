"""Customers across channels: identity records normalised (`normalise`), linked into people
with Splink (`linkage`), scored against a truth when there is one (`metrics`), and
applied to transactions (`links`)."""

from forecasting.identity.linkage import CustomerLinker, LinkConfig
from forecasting.identity.links import apply_links, read_links
from forecasting.identity.normalise import FIELDS, normalise

__all__ = ["FIELDS", "CustomerLinker", "LinkConfig", "apply_links", "normalise", "read_links"]
