"""The lookup grid (geo/grid.py): named cell states, tables indexed by the cell value, and
every kind of cell giving the exact path's answer."""

import numpy as np
import pytest

from geo.catalog import load_catalog
from geo.grid import ANSWER, Cell, Grid, answer, dilate
from geo.layers import load_layers
from geo.routing import OUTSIDE, Router
from geo.settings import Settings


@pytest.fixture
def routers(small_dirs):
    layers, catalog = load_layers(small_dirs[0]), load_catalog(small_dirs[1])
    return (Router(layers, catalog, Settings()),
            Router(layers, catalog, Settings(), use_grid=False))


def test_tables_give_the_states_no_answer(small_router):
    g = small_router.grid
    assert ANSWER == len(Cell) == answer(0)
    assert list(g.township_of[:ANSWER]) == [-1, -1, -1]
    assert g.flags_of[Cell.NONE] == OUTSIDE and g.flags_of[Cell.EXACT] == 0
    assert g.others_of[:ANSWER] == [(), (), ()]
    assert list(g.unit_of[:ANSWER]) == [-1, -1, -1] and list(g.parent_of[:ANSWER]) == [-1] * 3
    # answer k of the units is unit k, in its township
    assert list(g.unit_of[ANSWER:]) == [0, 1, 2]
    assert list(g.parent_of[ANSWER:]) == list(small_router.u_township)
    # the first township answers are the townships themselves, unflagged
    assert list(g.township_of[answer(np.arange(2))]) == [0, 1]
    assert g.township.max() < len(g.township_of) and g.unit.max() < len(g.unit_of)


def test_every_state_occurs_and_each_gives_the_exact_answer(routers):
    """Points spread over cells of every state, townships' and units' alike (township B
    has units over its west half only: cells that no unit covers)."""
    fast, exact = routers
    g = fast.grid
    seen_t, seen_u = set(np.unique(g.township)), set(np.unique(g.unit))
    assert {Cell.NONE, Cell.EXACT, Cell.SNAP} <= seen_t and max(seen_t) >= ANSWER
    assert {Cell.NONE, Cell.EXACT} <= seen_u and max(seen_u) >= ANSWER
    rng = np.random.default_rng(5)
    lon, lat = [], []
    for values in (g.township, g.unit):
        for state in (Cell.NONE, Cell.EXACT, Cell.SNAP, None):
            cells = np.flatnonzero(values >= ANSWER if state is None else values == state)
            if not len(cells):
                continue
            pick = cells[rng.integers(len(cells), size=3000)]
            cx, cy = g.centres(pick)
            lon.append(cx + rng.uniform(-0.5, 0.5, len(pick)) * g.dx)
            lat.append(cy + rng.uniform(-0.5, 0.5, len(pick)) * g.dy)
    lon, lat = np.concatenate(lon), np.concatenate(lat)
    a, b = fast.route_many(lon, lat, sites=False), exact.route_many(lon, lat, sites=False)
    np.testing.assert_array_equal(a.township, b.township)
    np.testing.assert_array_equal(a.unit, b.unit)
    np.testing.assert_array_equal(a.flags, b.flags)
    for i in range(0, len(lon), 97):
        assert fast.route(lon[i], lat[i]) == exact.route(lon[i], lat[i])
    # inside township B but in no unit: no unit, without an exact test being needed
    b_east = (a.township == 1) & (g.unit[g.cells(lon, lat)[0]] == Cell.NONE)
    assert b_east.sum() > 100 and (a.unit[b_east] == -1).all()


def test_cell_values_beyond_the_tables_are_refused():
    g = Grid(0.0, 0.0, 1.0, 1.0, 2, 1)
    with pytest.raises(ValueError, match=r"township cell values must lie in 0\.\.3"):
        g.set_townships(np.array([0, answer(1)]), [(0, 0, ())], OUTSIDE)
    g.set_townships(np.array([Cell.SNAP, answer(0)]), [(0, 0, ())], OUTSIDE)
    assert g.township.dtype == np.uint16


def test_dilate_is_a_square_running_maximum():
    mask = np.zeros((7, 9), dtype=bool)
    mask[3, 4] = True
    out = dilate(mask, 2)
    assert out.sum() == 25 and out[1:6, 2:7].all()
    assert dilate(mask, 0) is mask
