"""Traffic simulator: production batches drawn from the stream pool, never the test set."""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from housing.config import FEATURES, TARGET
from housing.data.production import RECORD_ID, check_batch_name
from housing.features import stable_math
from housing.features.transformers import MAJOR_CITIES, haversine_km
from housing.io import write_parquet

logger = logging.getLogger(__name__)

SCENARIOS: dict[str, str] = {
    "none": "i.i.d. rows from the stream pool",
    "income_inflation": "covariate shift: richer districts over-represented",
    "geo_inland": "covariate shift: only districts far (> 80 km) from the major cities",
    "geo_coastal_south": "covariate shift: only southern coastal districts (LA and San Diego)",
    "age_old": "covariate shift: older housing over-represented",
    "concept_bay_area": "concept shift: Bay Area prices up 40%, features unchanged",
    # Data bugs: i.i.d. districts, then one feature arrives wrong.
    "bug_population_thousands": "data bug: Population sent in thousands",
    "bug_income_hundred_thousands": "data bug: MedInc sent in 100,000 USD (inside the "
                                    "schema's bounds)",
    "bug_income_dollars": "data bug: MedInc sent in USD",
    "bug_age_months": "data bug: HouseAge sent in months",
    "bug_rooms_total": "data bug: AveRooms sent as the district's total rooms",
    "bug_occupancy_total": "data bug: AveOccup sent as the district's total occupants "
                           "(inside the schema's bounds for most rows)",
    "bug_age_stuck": "data bug: HouseAge stuck at one value",
    "bug_income_missing": "data bug: MedInc missing in a third of the rows",
}
DATA_BUGS = tuple(name for name in SCENARIOS if name.startswith("bug_"))


def _km_to(frame: pd.DataFrame, names: tuple[str, ...]) -> np.ndarray:
    lat, lon = frame["Latitude"].to_numpy(), frame["Longitude"].to_numpy()
    return np.min([haversine_km(lat, lon, c_lat, c_lon)
                   for name, c_lat, c_lon in MAJOR_CITIES if name in names], axis=0)


def selection_weights(frame: pd.DataFrame, scenario: str) -> np.ndarray:
    """Each district's relative chance of being drawn under ``scenario``: uniform for
    i.i.d. rows, the concept shift and the data bugs (they change values, not selection)."""
    weights = np.ones(len(frame))
    if scenario == "income_inflation":
        z = (frame["MedInc"] - frame["MedInc"].mean()) / frame["MedInc"].std()
        weights = stable_math.exp(1.0 * z.to_numpy())
    elif scenario == "geo_inland":
        weights = (_km_to(frame, tuple(n for n, _, _ in MAJOR_CITIES)) > 80).astype(float)
    elif scenario == "age_old":
        z = (frame["HouseAge"] - frame["HouseAge"].mean()) / frame["HouseAge"].std()
        weights = stable_math.exp(1.0 * z.to_numpy())
    elif scenario == "geo_coastal_south":
        weights = ((_km_to(frame, ("los_angeles", "san_diego")) < 60)
                   & (frame["Longitude"].to_numpy() < -117.0)).astype(float)
    return weights


def simulate_batch(stream: pd.DataFrame, *, scenario: str, rows: int, seed: int,
                   batch: str) -> pd.DataFrame:
    """A batch of ``rows`` districts under ``scenario``: record_id, the 8 features, the label."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario '{scenario}'; choose from {', '.join(SCENARIOS)}")
    if rows < 1:
        raise ValueError(f"rows must be positive, got {rows}")
    if stream.empty:
        raise ValueError("the stream pool is empty: set prepare.stream_fraction > 0")
    rng = np.random.default_rng(seed)
    weights = selection_weights(stream, scenario)
    weights = weights / weights.sum()
    replace = rows > int((weights > 0).sum())
    picked = stream.iloc[rng.choice(len(stream), size=rows, replace=replace, p=weights)]
    out = picked[[*FEATURES, TARGET]].reset_index(drop=True)
    if scenario == "concept_bay_area":
        bay = _km_to(out, ("san_francisco", "san_jose")) < 80
        out.loc[bay, TARGET] = out.loc[bay, TARGET] * 1.4
    elif scenario in DATA_BUGS:
        out = _with_bug(out, scenario, rng)
    out.insert(0, RECORD_ID, [f"{batch}/{i}" for i in range(len(out))])
    return out


def _with_bug(out: pd.DataFrame, scenario: str, rng: np.random.Generator) -> pd.DataFrame:
    """``out`` with the data bug ``scenario`` applied to its features (labels stay right)."""
    out = out.copy()
    households = out["Population"] / out["AveOccup"]
    if scenario == "bug_population_thousands":
        out["Population"] = out["Population"] / 1000.0
    elif scenario == "bug_income_hundred_thousands":
        out["MedInc"] = out["MedInc"] / 10.0
    elif scenario == "bug_income_dollars":
        out["MedInc"] = out["MedInc"] * 10_000.0
    elif scenario == "bug_age_months":
        out["HouseAge"] = out["HouseAge"] * 12.0
    elif scenario == "bug_rooms_total":
        out["AveRooms"] = (out["AveRooms"] * households).round()
    elif scenario == "bug_occupancy_total":
        out["AveOccup"] = out["Population"]
    elif scenario == "bug_age_stuck":
        out["HouseAge"] = float(out["HouseAge"].iloc[0])
    elif scenario == "bug_income_missing":
        out.loc[rng.random(len(out)) < 1 / 3, "MedInc"] = np.nan
    return out


def write_batch(batch_frame: pd.DataFrame, production_dir: Path, batch: str, *,
                features: bool, labels: bool) -> None:
    """Features to batches/<batch>.parquet, labels (separately, as they come later) to
    labels/<batch>.parquet."""
    if features:
        write_parquet(batch_frame[[RECORD_ID, *FEATURES]], production_dir / "batches" /
                      f"{batch}.parquet")
    if labels:
        write_parquet(batch_frame[[RECORD_ID, TARGET]], production_dir / "labels" /
                      f"{batch}.parquet")


def send_batch(batch_frame: pd.DataFrame, url: str, batch: str, *, api_key: str | None = None,
               chunk: int = 1000, traffic: str = "test") -> int:
    """POST the rows to a running service's /predict, naming the batch and each chunk's
    first row in X-Housing-Batch (the service takes it from key holders only), so the
    record ids in its prediction log match this batch's (``<batch>/<row>``). The rows
    are marked as test traffic (left out of monitoring) unless ``traffic`` is
    "production"."""
    sent = 0
    for start in range(0, len(batch_frame), chunk):
        part = batch_frame.iloc[start:start + chunk]
        body = json.dumps(part[list(FEATURES)].to_dict(orient="records")).encode()
        headers = {"Content-Type": "application/json", "X-Housing-Batch": f"{batch}@{start}",
                   "X-Housing-Traffic": traffic}
        if api_key:
            headers["X-API-Key"] = api_key
        request = urllib.request.Request(url.rstrip("/") + "/predict", data=body,
                                         headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:
            if response.status != 200:
                raise RuntimeError(f"service answered {response.status}")
        sent += len(part)
    return sent


def run(*, stream_path: Path, production_dir: Path, scenario: str, rows: int, seed: int,
        batch: str = "", features: bool = True, labels: bool = False, url: str = "",
        api_key: str | None = None, traffic: str = "test") -> str:
    """Make one batch; write it, send it to a service, or both. Returns the batch name."""
    name = check_batch_name(batch or f"{scenario}-s{seed}")
    frame = simulate_batch(pd.read_parquet(stream_path), scenario=scenario, rows=rows,
                           seed=seed, batch=name)
    write_batch(frame, production_dir, name, features=features, labels=labels)
    if url:
        send_batch(frame, url, name, api_key=api_key, traffic=traffic)
    logger.info("batch %s: %d rows (%s)%s%s", name, len(frame), SCENARIOS[scenario],
                ", labels written" if labels else "", f", sent to {url}" if url else "")
    return name
