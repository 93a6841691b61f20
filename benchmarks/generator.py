"""Speed and memory of the synthetic generator: 10,000 SKU x channel series over two years.

Run: python -m benchmarks.generator
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks.common import peak_rss_mib, timed, write_result
from forecasting.data.synthetic import generate_omnichannel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-skus", type=int, default=2950, help="about 10,000 series")
    parser.add_argument("--n-days", type=int, default=730)
    args = parser.parse_args()
    result: dict[str, Any] = {"n_skus": args.n_skus, "n_days": args.n_days}
    with timed(result, "seconds_sales_only"):
        data = generate_omnichannel(n_skus=args.n_skus, n_days=args.n_days, transactions=False)
    result["n_series"] = int(data.sales.groupby(["sku_id", "channel"]).ngroups)
    result["n_sales_rows"] = len(data.sales)
    result["peak_rss_mib_sales_only"] = peak_rss_mib()
    del data
    with timed(result, "seconds_with_transactions"):
        data = generate_omnichannel(n_skus=args.n_skus, n_days=args.n_days)
    assert data.transactions is not None
    result["n_transactions"] = len(data.transactions)
    result["peak_rss_mib"] = peak_rss_mib()
    path = write_result("generator", result)
    print(path.read_text())


if __name__ == "__main__":
    main()
