"""Data: contracts, loaders, transactions -> sales, group sums, real-data adapters, the
synthetic generator."""

from forecasting.data.aggregate import transactions_to_sales
from forecasting.data.contracts import INVENTORY, SALES, SKUS, TRANSACTIONS, validate
from forecasting.data.io import read_table, write_table
from forecasting.data.synthetic import SyntheticConfig, SyntheticData, generate_omnichannel

__all__ = [
    "INVENTORY",
    "SALES",
    "SKUS",
    "TRANSACTIONS",
    "SyntheticConfig",
    "SyntheticData",
    "generate_omnichannel",
    "read_table",
    "transactions_to_sales",
    "validate",
    "write_table",
]
