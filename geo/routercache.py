"""A folder of pickled routers, so that a process need not rebuild its lookup grid.

Building a `Router` on the demo layers takes about two seconds, most of it the lookup grid;
loading one from a pickle takes milliseconds. `cached_router` keys a router by a hash of
everything that decides its answers: the layers' content (geometries as WKB, attribute
columns), the catalogue tables, the routing settings, `geo.routing.ROUTER_VERSION` and the
shapely/GEOS versions. A changed layer or setting gives another key, so a stale router is
never used; the newest few files are kept.

The cache folder must be private to the deployment (pickles run code when loaded). Files
are written atomically (a temporary file, then ``os.replace``); a file that cannot be read
is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geo.catalog import Catalog
from geo.layers import LayerSet
from geo.routing import ROUTER_VERSION, Router
from geo.settings import Settings

log = logging.getLogger(__name__)

# the settings that change a router's answers
ROUTING_SETTINGS = ("border_buffer_m", "snap_tolerance_m", "site_match_m", "grid_cell_m",
                    "timezone")
# the layers a router reads (teams and roads do not route)
ROUTING_LAYERS = ("townships", "units", "sites")
KEEP = 3  # cache files kept in a folder
STALE_TEMP_S = 3600.0  # temporary files older than this are left-overs of a failed write


def router_key(layers: LayerSet, catalog: Catalog | None, settings: Settings) -> str:
    """Hex digest (32 characters) of everything that decides a router's answers."""
    h = hashlib.sha256()
    _text(h, f"router {ROUTER_VERSION}; shapely {shapely.__version__}; "
             f"GEOS {shapely.geos_version_string}")
    for name in ROUTING_LAYERS:
        _frame(h, name, getattr(layers, name, None))
    for name in ("matters", "bodies", "empowerment"):
        _frame(h, name, None if catalog is None else getattr(catalog, name))
    for name in ROUTING_SETTINGS:
        _text(h, f"{name}={getattr(settings, name)!r}")
    return h.hexdigest()[:32]


def _text(h, text: str) -> None:
    data = text.encode()
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def _frame(h, name: str, frame: pd.DataFrame | None) -> None:
    """Feed a table into the hash: its name, columns, dtypes and values, in order."""
    if frame is None:
        _text(h, f"{name}: none")
        return
    _text(h, f"{name}: {len(frame)} rows; columns {list(map(str, frame.columns))}")
    geometry = getattr(frame, "_geometry_column_name", None)
    for column in frame.columns:
        values = frame[column]
        if column == geometry:
            crs = values.crs.to_string() if values.crs is not None else "none"
            _text(h, f"{column}: geometry, CRS {crs}")
            wkb = shapely.to_wkb(values.to_numpy(), byte_order=1, include_srid=False)
            h.update(np.array([len(w) if w is not None else -1 for w in wkb]).tobytes())
            h.update(b"".join(w for w in wkb if w is not None))
        else:
            _text(h, f"{column}: {values.dtype}")
            h.update(pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes())


def cached_router(layers: LayerSet, catalog: Catalog | None, settings: Settings,
                  folder: Path) -> Router:
    """The router for these layers, catalogue and settings, from ``folder`` if it holds
    one, else built and stored there as ``router-<key>.pkl``.

    A cache file that cannot be read (corrupt, truncated, from an incompatible version) is
    rebuilt; a folder that cannot be written only costs the next process a rebuild.
    """
    folder = Path(folder)
    key = router_key(layers, catalog, settings)
    path = folder / f"router-{key}.pkl"
    router = _load(path, key)
    if router is None:
        router = Router(layers, catalog, settings)
        _store(path, key, router)
    else:
        _touch(path)
    _prune(folder, keep=path)
    return router


def _load(path: Path, key: str) -> Router | None:
    try:
        with path.open("rb") as f:
            payload = pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception as exc:  # any unreadable cache file is rebuilt
        log.warning("router cache %s unreadable (%s: %s); rebuilding", path,
                    type(exc).__name__, exc)
        return None
    if not (isinstance(payload, dict) and payload.get("key") == key
            and isinstance(payload.get("router"), Router)):
        log.warning("router cache %s holds something else; rebuilding", path)
        return None
    return payload["router"]


def _store(path: Path, key: str, router: Router) -> None:
    """Write atomically: a temporary file in the same folder, then ``os.replace``."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.stem}-",
                                         suffix=".tmp", delete=False) as f:
            tmp = Path(f.name)
            pickle.dump({"key": key, "router": router}, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("router cache %s not written (%s)", path, exc)
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _touch(path: Path) -> None:
    """Mark a cache file as just used, so that pruning keeps it."""
    with contextlib.suppress(OSError):
        os.utime(path)


def _prune(folder: Path, keep: Path) -> None:
    """Keep the `KEEP` most recently used cache files (always ``keep``); remove
    temporary files left by failed writes."""
    try:
        files = sorted(folder.glob("router-*.pkl"), key=lambda p: p.stat().st_mtime,
                       reverse=True)
        for old in [p for p in files if p != keep][KEEP - 1:]:
            old.unlink(missing_ok=True)
        now = time.time()
        for tmp in folder.glob(".router-*.tmp"):
            if now - tmp.stat().st_mtime > STALE_TEMP_S:
                tmp.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("router cache %s not pruned (%s)", folder, exc)


def files_key(paths: list[Path], extra: str, catalog: Catalog | None, settings: Settings) -> str:
    """Hex digest of layer files' bytes (and ``extra``: the CRS assumed for them), the
    catalogue and the routing settings: a key known without reading the layers."""
    h = hashlib.sha256()
    _text(h, f"files; router {ROUTER_VERSION}; shapely {shapely.__version__}; "
             f"GEOS {shapely.geos_version_string}; {extra}")
    for path in sorted(paths):
        _text(h, path.name)
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    for name in ("matters", "bodies", "empowerment"):
        _frame(h, name, None if catalog is None else getattr(catalog, name))
    for name in ROUTING_SETTINGS:
        _text(h, f"{name}={getattr(settings, name)!r}")
    return "f" + h.hexdigest()[:31]


def layer_files(layers_path: Path) -> list[Path]:
    """The files a layer folder or GeoPackage is read from (see `geo.layers.load_layers`)."""
    layers_path = Path(layers_path)
    if layers_path.is_file():
        return [layers_path]
    return [p for p in layers_path.rglob("*") if p.is_file()]


def cached_router_for(key: str, build, folder: Path) -> Router:
    """The router stored under ``key`` in ``folder``, else ``build()`` stored there.

    For keys that stand for layers without reading them (`files_key`, or the import stamp
    of a database's layer set), so that a cache hit costs no layer loading at all.
    """
    path = Path(folder) / f"router-{key}.pkl"
    router = _load(path, key)
    if router is None:
        router = build()
        _store(path, key, router)
    else:
        _touch(path)
    _prune(Path(folder), keep=path)
    return router
