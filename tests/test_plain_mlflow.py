"""The registered models from plain MLflow and pandas, as a consumer who knows nothing of
this package uses them: CSVs of integer units, IDs with leading zeros, `--policy` files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from forecasting.data.synthetic import generate_omnichannel
from forecasting.errors import IdWarning
from forecasting.serving import load_predictor
from forecasting.serving.signatures import PREDICTOR_PARAMS

pytestmark = pytest.mark.integration

PREDICTOR = "models:/elastic-sku-predictor@champion"
#: A value per param that differs from the trained one (0 wherever 0 is allowed).
PARAM_VALUES: dict[str, Any] = {
    "horizon": 7,
    "service_level": 0.5,
    "holding_rate": 0,
    "upstream_holding_factor": 0,
    "margin_rate": 0,
    "store_lead_days": 0,
    "central_lead_days": 0,
    "transfer_cost_rate": 0,
    "transfer_cost_fixed": 0,
    "wait_loss_frequent": 0,
    "wait_loss_rare": 0.5,
    "channel_correlation": 1.0,
    "showroom_share": 0,
    "display_units": 0,
    "regional_share": 0,
    "max_weeks_of_cover": 0,
    "decay_ratio": 1.0,
}
POLICY = """\
service_level = 0.9

[network]
store = 400
app = 3
mini_program = 3
"""


def cli(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forecasting.cli", *args, "--tracking-uri", uri],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Files with integer units and zero-padded IDs, a predictor built from them with a
    policy file of 400 stores (no marketplace line), and `forecasting score`'s decisions."""
    folder = tmp_path_factory.mktemp("plain")
    world = generate_omnichannel(n_skus=30, n_days=200, seed=41)
    assert world.transactions is not None
    last = world.sales.groupby(["sku_id", "channel"])["ds"].transform("max") == world.sales["ds"]
    stock = world.inventory.set_index(["sku_id", "channel"])["on_hand"]
    sales = world.sales.assign(y=world.sales["y"].round().astype("int64"))
    keys = pd.MultiIndex.from_frame(sales[["sku_id", "channel"]])
    on_hand = stock.reindex(keys).round().to_numpy()
    sales["on_hand"] = pd.array(np.where(last, on_hand, np.nan)).astype("Int64")
    tx = world.transactions.assign(quantity=world.transactions["quantity"].astype("int64"))
    paths = {
        "sales": folder / "sales.csv",
        "tx": folder / "tx.csv",
        "skus": folder / "skus.csv",
        "policy": folder / "policy.toml",
        "decisions": folder / "decisions.csv",
    }
    sales.to_csv(paths["sales"], index=False)
    tx.to_csv(paths["tx"], index=False)
    skus = world.skus.copy()
    skus.loc[skus.index % 3 == 0, "lead_time_days"] = np.nan  # these take the policy's
    skus.to_csv(paths["skus"], index=False)
    paths["policy"].write_text(POLICY)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    built = cli(
        uri, "build-predictor", "--transactions", str(paths["tx"]), "--sales",
        str(paths["sales"]), "--skus", str(paths["skus"]), "--horizon", "14",
        "--policy", str(paths["policy"]),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    scored = cli(
        uri, "score", "--model", PREDICTOR, "--sales", str(paths["sales"]),
        "--output", str(paths["decisions"]),
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr[-3000:]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)  # an earlier test's registry must not answer
        yield {**paths, "uri": uri, "build_stderr": built.stderr}


CODES = {"slow_mover_reason": "", "hold_reason": ""}  # empty codes: empty cells in a CSV


def decisions_of_score(shop: dict[str, Any]) -> pd.DataFrame:
    text = {"sku_id": str, **{c: str for c in CODES}}
    return pd.read_csv(shop["decisions"], dtype=text)


def same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got.sort_values("sku_id").reset_index(drop=True).fillna(CODES),
        expected.sort_values("sku_id").reset_index(drop=True).fillna(CODES),
        check_dtype=False,
        check_exact=False,
        rtol=1e-9,
    )


def test_a_consumer_with_integer_units_gets_the_decisions_of_score(shop: dict[str, Any]) -> None:
    # the README's lines, as a consumer writes them
    model = mlflow.pyfunc.load_model("models:/elastic-sku-predictor@champion")
    sales = pd.read_csv(shop["sales"], dtype={"sku_id": str})
    decisions = model.predict(sales)

    assert sales["y"].dtype == "int64" and sales["sku_id"].str.startswith("000").all()
    same(decisions, decisions_of_score(shop))
    assert decisions["weeks_of_cover"].notna().all()  # the integer on_hand was read


def test_the_registered_predictor_says_what_to_install_to_load_it(shop: dict[str, Any]) -> None:
    # what `mlflow models serve --env-manager virtualenv` installs: every library the model
    # imports (lightgbm included), pinned as here, and not this package, which no index
    # serves (its code travels inside the model)
    from importlib.metadata import version

    path = mlflow.pyfunc.get_model_dependencies(PREDICTOR)
    pins = dict(line.split("==") for line in Path(path).read_text().split())
    for lib in ("lightgbm", "statsforecast", "pandas", "scikit-learn", "mlflow"):
        assert pins.get(lib) == version(lib), (lib, pins)
    assert "forecasting" not in pins and "pyspark" not in pins, pins


def test_ids_read_as_numbers_get_their_leading_zeros_back_with_a_warning(
    shop: dict[str, Any],
) -> None:
    model = mlflow.pyfunc.load_model(PREDICTOR)
    sales = pd.read_csv(shop["sales"])  # pandas' defaults: 00042 -> 42
    assert sales["sku_id"].dtype == "int64"
    with pytest.warns(IdWarning, match=r"30 IDs were restored .*, 0 are unknown"):
        decisions = model.predict(sales)
    same(decisions, decisions_of_score(shop))


def test_mlflow_models_predict_takes_the_csv_as_it_is(shop: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "predicted.json"
    proc = subprocess.run(
        [
            sys.executable, "-m", "mlflow", "models", "predict", "-m", PREDICTOR,
            "-i", str(shop["sales"]), "-t", "csv", "-o", str(out), "--env-manager", "local",
        ],
        capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "MLFLOW_TRACKING_URI": shop["uri"]},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = pd.DataFrame(json.loads(out.read_text())["predictions"])
    same(got, decisions_of_score(shop))


def _problem(message: str) -> str:
    """A contract error without its source and row labels: what and how to fix."""
    message = message.strip().removeprefix("forecasting score: error: ")
    message = re.sub(r"^.*?: column", "column", message)
    return re.sub(r" \(first offending rows: .*?\)\)?\. Fix", ". Fix", message)


@pytest.mark.parametrize("mistake", ["duplicate", "negative"])
def test_the_registered_predictor_refuses_bad_rows_as_the_command_line_does(
    shop: dict[str, Any], tmp_path: Path, mistake: str
) -> None:
    sales = pd.read_csv(shop["sales"], dtype={"sku_id": str})
    if mistake == "duplicate":
        bad = pd.concat([sales, sales.iloc[[5]]], ignore_index=True)
    else:
        bad = sales.copy()
        bad.loc[7, "y"] = -3
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    command = cli(shop["uri"], "score", "--model", PREDICTOR, "--sales", str(path),
                  "--output", str(tmp_path / "never.csv"))  # fmt: skip
    assert command.returncode == 1 and len(command.stderr.strip().splitlines()) == 1
    with pytest.raises(Exception) as err:
        mlflow.pyfunc.load_model(PREDICTOR).predict(bad)
    assert _problem(str(err.value)) == _problem(command.stderr)
    assert ("repeat the key" if mistake == "duplicate" else "are not >= 0") in str(err.value)


@pytest.fixture(scope="module")
def as_trained(shop: dict[str, Any]) -> dict[str, Any]:
    """The sales, the pyfunc model, the predictor in memory and its default decisions."""
    sales = pd.read_csv(shop["sales"], dtype={"sku_id": str})
    model = mlflow.pyfunc.load_model(PREDICTOR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = model.predict(sales)
    return {"sales": sales, "model": model, "predictor": load_predictor(PREDICTOR),
            "default": default}  # fmt: skip


@pytest.mark.parametrize("param", ["horizon", *PREDICTOR_PARAMS])
def test_every_param_takes_effect_zero_included(as_trained: dict[str, Any], param: str) -> None:
    sales, predictor, value = as_trained["sales"], as_trained["predictor"], PARAM_VALUES[param]
    got = as_trained["model"].predict(sales, params={param: value})
    if param == "horizon":
        expected = predictor.predict(sales, horizon=value)
    else:
        expected = predictor.with_policy(**{param: value}).predict(sales)
    same(got, expected)
    assert not got.equals(as_trained["default"]), f"{param}={value} changed nothing"


def test_a_param_out_of_range_is_one_line_naming_it(as_trained: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"service_level = 1.5: must be in \[0.5, 1\)"):
        as_trained["model"].predict(as_trained["sales"], params={"service_level": 1.5})
    with pytest.raises(Exception, match="param horizon=0"):
        as_trained["model"].predict(as_trained["sales"], params={"horizon": 0})


def test_the_policy_file_is_the_models_policy_and_400_stores_move_skus_to_tiered(
    shop: dict[str, Any],
) -> None:
    predictor = load_predictor(PREDICTOR)
    policy = predictor.config.policy
    assert policy.network == {"store": 400, "app": 3, "mini_program": 3}
    assert policy.service_level == 0.9
    # the channel the network leaves out is said, once, with what was assumed
    warned = [line for line in shop["build_stderr"].splitlines() if "NetworkWarning" in line]
    assert warned and "'marketplace'" in warned[0] and "1 node" in warned[0]
    sales = pd.read_csv(shop["sales"], dtype={"sku_id": str})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stores_400 = predictor.predict(sales)
        stores_50 = predictor.with_policy(
            nodes_per_channel=(("store", 50), ("app", 3), ("mini_program", 3), ("marketplace", 2))
        ).predict(sales)
    tiered_400 = (stores_400["stocking"] == "tiered").sum()
    assert tiered_400 > (stores_50["stocking"] == "tiered").sum()
    # the file is logged with the run, and the model carries the whole policy as a file
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias("elastic-sku-predictor", "champion")
    run_id = version.run_id
    assert run_id is not None
    logged = mlflow.artifacts.load_text(f"runs:/{run_id}/policy_file.toml")
    assert logged == POLICY
    model_dir = Path(mlflow.artifacts.download_artifacts(f"{PREDICTOR}"))
    stored = next(model_dir.rglob("policy.toml")).read_text()
    assert "store = 400" in stored and "service_level = 0.9" in stored


def test_an_unknown_policy_key_fails_in_one_line_before_any_work(
    shop: dict[str, Any], tmp_path: Path
) -> None:
    policy = tmp_path / "typo.toml"
    policy.write_text("servce_level = 0.9\n")
    proc = cli(shop["uri"], "build-predictor", "--transactions", str(shop["tx"]),
               "--policy", str(policy))  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"forecasting build-predictor: error: {policy}: unknown key 'servce_level' (did you "
        "mean 'service_level'?); the keys are the fields of PolicyConfig (docs/predictor.md) "
        "and a [network] table"
    ]


def test_demand_and_propensity_models_take_integer_units_and_refuse_duplicates(
    shop: dict[str, Any], tmp_path: Path
) -> None:
    uri = shop["uri"]
    proc = cli(uri, "train-demand", "--sales", str(shop["sales"]), "--freq", "D",
               "--horizon", "7", "--n-windows", "1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    tx = pd.read_csv(shop["tx"], dtype={"customer_id": str, "sku_id": str})
    cutoff = str((pd.Timestamp(tx["ts"].max()) - pd.Timedelta(days=30)).date())
    proc = cli(uri, "train-propensity", "--transactions", str(shop["tx"]), "--cutoff", cutoff,
               "--horizon-days", "30", "--n-train-cutoffs", "1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]

    sales = pd.read_csv(shop["sales"], dtype={"sku_id": str})
    demand = mlflow.pyfunc.load_model("models:/demand-forecaster/1")
    forecast = demand.predict(sales, params={"horizon": 7})
    assert forecast["sku_id"].str.startswith("000").all() and forecast["forecast"].notna().all()
    assert forecast.groupby(["sku_id", "channel"]).size().eq(7).all()
    with pytest.raises(Exception, match="repeat the key"):
        demand.predict(pd.concat([sales, sales.iloc[[3]]]))

    assert tx["quantity"].dtype == "int64"
    propensity = mlflow.pyfunc.load_model("models:/repurchase-propensity/1")
    scores = propensity.predict(tx, params={"cutoff": cutoff})
    assert scores["score"].between(0, 1).all() and scores["customer_id"].is_unique
    with pytest.raises(Exception, match="are not > 0"):
        propensity.predict(tx.assign(quantity=tx["quantity"] * 0))
