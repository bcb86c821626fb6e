import os
import time

import numpy as np
import shapely

from geo.layers import load_layers
from geo.routercache import KEEP, cached_router, router_key
from geo.settings import Settings
from tests.conftest import X0, Y0, to_wgs


def test_cached_router_answers_like_a_fresh_one(demo_layers, demo_catalog, demo_router,
                                                tmp_path):
    first = cached_router(demo_layers, demo_catalog, Settings(), tmp_path)
    files = list(tmp_path.glob("router-*.pkl"))
    assert len(files) == 1
    loaded = cached_router(demo_layers, demo_catalog, Settings(), tmp_path)
    assert loaded is not first  # read back from the file
    rng = np.random.default_rng(21)
    x0, y0, x1, y1 = shapely.total_bounds(demo_router.t_geom)
    lon, lat = rng.uniform(x0 - 0.02, x1 + 0.02, 20_000), rng.uniform(y0 - 0.02, y1 + 0.02,
                                                                        20_000)
    kw = {"matter": "M003", "at": "2024-06-01"}
    assert loaded.route_many(lon, lat, **kw).to_frame().equals(
        demo_router.route_many(lon, lat, **kw).to_frame())
    assert loaded.route(lon[0], lat[0], "M001") == demo_router.route(lon[0], lat[0], "M001")


def test_key_follows_layers_catalogue_and_settings(small_dirs):
    from geo.catalog import load_catalog

    layers, catalog = load_layers(small_dirs[0]), load_catalog(small_dirs[1])
    key = router_key(layers, catalog, Settings())
    assert router_key(load_layers(small_dirs[0]), catalog, Settings()) == key
    moved = layers.townships.copy()
    moved.loc[1, "geometry"] = shapely.affinity.translate(moved.geometry[1], 1e-6, 0)
    assert router_key(type(layers)(moved, layers.units, layers.sites), catalog,
                      Settings()) != key
    renamed = layers.units.copy()
    renamed.loc[0, "name"] = "别的单元"
    assert router_key(type(layers)(layers.townships, renamed, layers.sites), catalog,
                      Settings()) != key
    assert router_key(layers, None, Settings()) != key
    assert router_key(layers, catalog, Settings(site_match_m=99.0)) != key
    assert router_key(layers, catalog, Settings(refresh_s=3.0)) == key  # not a routing one


def test_corrupt_cache_file_is_rebuilt(small_dirs, tmp_path):
    from geo.catalog import load_catalog

    layers, catalog = load_layers(small_dirs[0]), load_catalog(small_dirs[1])
    folder = tmp_path / "cache"
    cached_router(layers, catalog, Settings(), folder)
    (path,) = folder.glob("router-*.pkl")
    for junk in (b"", b"not a pickle", path.read_bytes()[:1000]):
        path.write_bytes(junk)
        router = cached_router(layers, catalog, Settings(), folder)
        lon, lat = to_wgs(X0 + 500, Y0 + 1500)
        assert router.route(float(lon[0]), float(lat[0])).township_name == "甲镇"
        assert path.stat().st_size > 1000  # written again


def test_only_the_newest_files_are_kept(small_dirs, tmp_path):
    from geo.catalog import load_catalog

    layers, catalog = load_layers(small_dirs[0]), load_catalog(small_dirs[1])
    folder = tmp_path / "cache"
    for i in range(KEEP + 2):
        cached_router(layers, catalog, Settings(border_buffer_m=10.0 + i), folder)
        newest = max(folder.glob("router-*.pkl"), key=lambda p: p.stat().st_mtime)
        os.utime(newest, (time.time() + i, time.time() + i))  # mtimes apart on any clock
    assert len(list(folder.glob("router-*.pkl"))) == KEEP
    assert not list(folder.glob(".*.tmp"))
