"""The prediction log's objects, brought from the object store into the workspace.

Every replica ships its log as immutable objects (housing.log_store); the monitor keeps
a local copy of each under data/predictions/store/, downloaded once. The check for
anything new lists keys and ETags and downloads nothing when every key is here already;
an object whose ETag changed after it was read (objects are written once, so something
rewrote it) is reported and not read again. The copies are then read with the local log
(production.read_prediction_log), where each row counts once by its record id.
"""

from __future__ import annotations

import logging
from pathlib import Path

from housing.io import read_json, write_json
from housing.log_store import LogStore

logger = logging.getLogger(__name__)

STORE_COPIES = "store"  # data/predictions/store/
INDEX = "objects.json"  # {object name: ETag} of what is here


def sync(store: LogStore, folder: Path) -> dict[str, int]:
    """Download the objects not here yet; LogStoreError (naming the store) when it cannot
    be listed or read. Returns how many objects were listed, new, and changed."""
    client = store.client()
    listed = store.list_objects(client)
    index_path = folder / INDEX
    index: dict[str, str] = read_json(index_path, {})
    new = sorted(name for name in listed if name not in index)
    changed = sorted(name for name in listed if name in index and index[name] != listed[name])
    if changed:
        logger.error("prediction log store %s: %d objects changed after they were read "
                     "(first: %s); the copies read before stay", store.url, len(changed),
                     changed[0])
    try:
        for name in new:
            store.get_file(client, name, folder / name)
            index[name] = listed[name]
    finally:
        if new:
            write_json(index, index_path)
    logger.info("prediction log store %s: %d objects, %d new", store.url, len(listed), len(new))
    return {"listed": len(listed), "new": len(new), "changed": len(changed)}
