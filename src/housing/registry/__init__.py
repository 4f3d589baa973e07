"""The one place that talks to MLflow: tracking runs, registered versions, aliases, the
release history, and loading a version's model, reference and ranges.

- ``lookup``: answers the always-run stages need on every ``dvc repro`` (which version an
  alias names, whether a fingerprint is registered) without importing MLflow.
- ``store``: everything else, through MLflow's client.
- ``events``: the release history, recorded as model-version tags.
- ``serialization``: the skops format of a registered model and its allow-list.
"""
