"""Traffic simulator: production batches drawn from the stream pool, never the test set."""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from housing.config import FEATURES, TARGET
from housing.data.production import RECORD_ID
from housing.features import stable_math
from housing.features.transformers import MAJOR_CITIES, haversine_km
from housing.io import write_parquet

logger = logging.getLogger(__name__)

SCENARIOS: dict[str, str] = {
    "none": "i.i.d. rows from the stream pool",
    "income_inflation": "covariate shift: richer districts over-represented",
    "geo_inland": "covariate shift: only districts far (> 80 km) from the major cities",
    "geo_coastal_south": "covariate shift: only southern coastal districts (LA and San Diego)",
    "concept_bay_area": "concept shift: Bay Area prices up 40%, features unchanged",
}


def _km_to(frame: pd.DataFrame, names: tuple[str, ...]) -> np.ndarray:
    lat, lon = frame["Latitude"].to_numpy(), frame["Longitude"].to_numpy()
    return np.min([haversine_km(lat, lon, c_lat, c_lon)
                   for name, c_lat, c_lon in MAJOR_CITIES if name in names], axis=0)


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
    weights = np.ones(len(stream))
    if scenario == "income_inflation":
        z = (stream["MedInc"] - stream["MedInc"].mean()) / stream["MedInc"].std()
        weights = stable_math.exp(1.0 * z.to_numpy())
    elif scenario == "geo_inland":
        weights = (_km_to(stream, tuple(n for n, _, _ in MAJOR_CITIES)) > 80).astype(float)
    elif scenario == "geo_coastal_south":
        weights = ((_km_to(stream, ("los_angeles", "san_diego")) < 60)
                   & (stream["Longitude"].to_numpy() < -117.0)).astype(float)
    weights = weights / weights.sum()
    replace = rows > int((weights > 0).sum())
    picked = stream.iloc[rng.choice(len(stream), size=rows, replace=replace, p=weights)]
    out = picked[[*FEATURES, TARGET]].reset_index(drop=True)
    if scenario == "concept_bay_area":
        bay = _km_to(out, ("san_francisco", "san_jose")) < 80
        out.loc[bay, TARGET] = out.loc[bay, TARGET] * 1.4
    out.insert(0, RECORD_ID, [f"{batch}/{i}" for i in range(len(out))])
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
               chunk: int = 1000) -> int:
    """POST the rows to a running service's /predict; the request ids make the record ids
    in the service's prediction log match this batch's (``<batch>/<row>``)."""
    sent = 0
    for start in range(0, len(batch_frame), chunk):
        part = batch_frame.iloc[start:start + chunk]
        body = json.dumps(part[list(FEATURES)].to_dict(orient="records")).encode()
        headers = {"Content-Type": "application/json", "X-Request-ID": f"{batch}@{start}"}
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
        api_key: str | None = None) -> str:
    """Make one batch; write it, send it to a service, or both. Returns the batch name."""
    name = batch or f"{scenario}-s{seed}"
    frame = simulate_batch(pd.read_parquet(stream_path), scenario=scenario, rows=rows,
                           seed=seed, batch=name)
    write_batch(frame, production_dir, name, features=features, labels=labels)
    if url:
        send_batch(frame, url, name, api_key=api_key)
    logger.info("batch %s: %d rows (%s)%s%s", name, len(frame), SCENARIOS[scenario],
                ", labels written" if labels else "", f", sent to {url}" if url else "")
    return name
