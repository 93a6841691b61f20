"""The data commands: ``adapt``, ``validate``, ``sales-from-transactions`` and
``partition``."""

from __future__ import annotations

import argparse
from typing import Any

from forecasting.cli.common import date_parent
from forecasting.data.contracts import CONTRACTS, TRANSACTIONS


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "adapt",
        help="convert a public dataset of ../shared/data to the contracts",
        description="m5: the M5 subset folder -> sales; online-retail: the folder with both UCI "
        "files -> transactions; carparts: carparts_long.csv.gz -> monthly sales.",
    )
    p.add_argument("dataset", choices=["m5", "online-retail", "carparts"])
    p.add_argument("path", help="the dataset's folder (m5, online-retail) or file (carparts)")
    p.add_argument("--output", required=True, help="file to write (CSV or Parquet)")
    p.set_defaults(handler=_adapt, inputs=("path",), outputs=("output",))
    p = sub.add_parser(
        "validate",
        parents=[date_parent()],
        help="check a file against a data contract of DESIGN.md",
        description="Read a file as the given table and report the first contract violation.",
    )
    p.add_argument("--table", required=True, choices=sorted(CONTRACTS), help="which contract")
    p.add_argument("path", help="the file (CSV, .csv.gz or Parquet)")
    p.set_defaults(handler=_validate, inputs=("path",))
    p = sub.add_parser(
        "sales-from-transactions",
        parents=[date_parent()],
        help="sum transactions into sales at D, W or M",
        description="Sum quantity per sku, channel and period, zero periods filled from each "
        "series' first sale to the end of the data; weeks start on Monday, months on the 1st.",
    )
    p.add_argument("--transactions", required=True, help="transactions file")
    p.add_argument("--freq", required=True, choices=["D", "W", "M"])
    p.add_argument("--output", required=True, help="sales file to write (CSV or Parquet)")
    p.set_defaults(handler=_sales_from_transactions, inputs=("transactions",), outputs=("output",))
    p = sub.add_parser(
        "partition",
        parents=[date_parent()],
        help="lay a sales file out by SKU bucket for scoring without a shuffle",
        description="Write the sales as a Parquet dataset partitioned by crc32(sku_id) mod N "
        "(DIR/bucket=BBBBB/*.parquet and DIR/_layout.json; whole SKUs per bucket). score "
        "reads it a bucket per part (pandas) or per task (Spark).",
    )
    p.add_argument("--sales", required=True, help="sales file (CSV, .csv.gz or Parquet)")
    p.add_argument("--output", required=True, help="folder to create (must not exist)")
    p.add_argument(
        "--buckets",
        type=int,
        help="number of buckets (default: one per 2,000,000 rows; a few per worker)",
    )
    p.set_defaults(handler=_partition, inputs=("sales",), outputs=("output",), folders=("output",))


def _adapt(args: argparse.Namespace) -> int:
    from forecasting.data import adapters
    from forecasting.data.io import table_format, write_table

    table_format(args.output)
    if args.dataset == "m5":
        df, _ = adapters.load_m5(args.path)
    elif args.dataset == "online-retail":
        df = adapters.load_online_retail(args.path)
    else:
        df = adapters.load_carparts(args.path)
    write_table(df, args.output)
    print(f"{args.output}: {len(df)} rows")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from forecasting.data.io import read_table

    contract = CONTRACTS[args.table]
    df = read_table(args.path, contract, date_format=args.date_format)
    print(f"{args.path}: a valid {args.table} table, {len(df)} rows, columns {list(df.columns)}")
    for col in (c.name for c in contract.columns if c.kind in ("date", "datetime")):
        if col in df.columns and df[col].notna().any():  # so a misread format shows at once
            first, last = df[col].min(), df[col].max()
            print(f"  {col}: {first.isoformat(sep=' ')} .. {last.isoformat(sep=' ')}")
    return 0


def _sales_from_transactions(args: argparse.Namespace) -> int:
    from forecasting.data.aggregate import transactions_to_sales
    from forecasting.data.io import read_table, table_format, write_table

    table_format(args.output)  # a bad output name fails before any work
    tx = read_table(args.transactions, TRANSACTIONS, date_format=args.date_format)
    sales = transactions_to_sales(tx, args.freq)
    write_table(sales, args.output)
    print(
        f"{args.output}: {len(sales)} rows, {sales.groupby(['sku_id', 'channel']).ngroups} series"
    )
    return 0


def _partition(args: argparse.Namespace) -> int:
    from forecasting.data.layout import partition_sales

    done = partition_sales(args.sales, args.output, args.buckets, date_format=args.date_format)
    print(
        f"partition: {done['rows']:,} rows -> {args.output} ({done['buckets']} buckets, "
        f"{done['files']} files, {done['seconds']:.1f} s)"
    )
    return 0
