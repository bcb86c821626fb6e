"""The lookup grid of `geo.routing.Router`: per cell, the answer every point shares, or the
test that decides it.

A `Grid` is a row-major raster of cells over the district in WGS84 degrees (about
``grid_cell_m`` metres on a side). It holds two cell values per cell, one for townships and
one for units. A value is either a `Cell` state or an answer, a row of the grid's tables:

- townships: `Cell.NONE` (no township within the snap tolerance of any point of the cell:
  no township, flag ``outside``), `Cell.EXACT` (a boundary or a buffer distance may cross
  the cell: the exact tests decide), `Cell.SNAP` (outside every township, but one may lie
  within the snap tolerance: the snap test decides), or an answer: township, flag bits
  and other townships (``township_of``, ``flags_of``, ``others_of``) valid for every
  point of the cell;
- units: `Cell.NONE` (no unit covers any point of the cell), `Cell.EXACT` (a unit boundary
  crosses the cell), or an answer: the unit (``unit_of``) and its township
  (``parent_of``); a point whose township is another one takes the exact test.

The tables are indexed by the cell value itself, their first rows standing for the states
(no township, no unit), so that a lookup is one gather per table. Building the grid (which
cells are settled, and how) is the Router's (`geo.routing.Router._build_grid`): it needs
the routing rule's distances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class Cell(IntEnum):
    """What a cell of the lookup grid holds when it is not a settled answer (see module)."""

    NONE = 0
    EXACT = 1
    SNAP = 2


# Cell values from ANSWER up are settled answers: row ``ANSWER + k`` of a grid's tables is
# answer ``k`` (`answer`).
ANSWER = len(Cell)


def answer(k):
    """The cell value of answer ``k`` (an int or an integer array): ``ANSWER + k``."""
    return ANSWER + k


@dataclass
class Raster:
    """A row-major raster of ``nx`` x ``ny`` cells of ``dx`` x ``dy`` degrees (WGS84) from
    (``x0``, ``y0``)."""

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int

    def cells(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat cell index per WGS84 point and whether the point lies on the raster."""
        fx = (lon - self.x0) / self.dx
        fy = (lat - self.y0) / self.dy
        inside = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        flat = np.where(inside, fy.astype(np.int64) * self.nx + fx.astype(np.int64), 0)
        return flat, inside

    def centres(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 lon/lat (degrees) of the centres of the cells ``flat``."""
        return (self.x0 + (flat % self.nx + 0.5) * self.dx,
                self.y0 + (flat // self.nx + 0.5) * self.dy)


@dataclass
class Grid(Raster):
    """The lookup grid: cell values per cell (flat, row-major) and the tables they index.

    ``township`` (uint16, or uint32 past 65,535 answers) and ``unit`` (int32) hold a `Cell`
    state or an answer per cell. ``township_of`` (int32, -1: none), ``flags_of`` (uint8
    flag bits of `geo.routing`) and ``others_of`` (tuples of township indexes) map a
    township cell value to its answer; ``unit_of`` (int32, -1: none) and ``parent_of``
    (int32: the unit's township, -1 for the states) a unit cell value. Made by
    `set_townships` and `set_units`.
    """

    township: np.ndarray | None = None
    unit: np.ndarray | None = None
    township_of: np.ndarray | None = None
    flags_of: np.ndarray | None = None
    others_of: list[tuple[int, ...]] = field(default_factory=list)
    unit_of: np.ndarray | None = None
    parent_of: np.ndarray | None = None

    def set_townships(self, values: np.ndarray, answers: list[tuple[int, int, tuple]],
                      outside: int) -> None:
        """Store the township cell values (flat) and the ``answers`` they name.

        ``answers[k]`` is (township index, flag bits, other township indexes) of cell value
        ``answer(k)``; ``outside`` is the flag bit of a point with no township (`Cell.NONE`).
        """
        rows = ANSWER + len(answers)
        if len(values) and (values.min() < 0 or values.max() >= rows):
            raise ValueError(f"township cell values must lie in 0..{rows - 1}")
        dtype = np.uint16 if rows <= np.iinfo(np.uint16).max + 1 else np.uint32
        self.township = values.astype(dtype)
        states = [(-1, outside if c is Cell.NONE else 0, ()) for c in Cell]
        rows_ = [*states, *answers]
        self.township_of = np.array([r[0] for r in rows_], dtype=np.int32)
        self.flags_of = np.array([r[1] for r in rows_], dtype=np.uint8)
        self.others_of = [r[2] for r in rows_]

    def set_units(self, values: np.ndarray | None, unit_township: np.ndarray) -> None:
        """Store the unit cell values (flat; None: no units) and their tables.

        ``unit_township`` is the township index of each unit (answer ``k`` is unit ``k``).
        """
        if values is None:
            values = np.full(self.nx * self.ny, Cell.NONE, dtype=np.int32)
        self.unit = values.astype(np.int32)
        n = len(unit_township)
        none = np.full(len(Cell), -1, dtype=np.int32)
        self.unit_of = np.concatenate([none, np.arange(n, dtype=np.int32)])
        self.parent_of = np.concatenate([none, np.asarray(unit_township, dtype=np.int32)])

    def lookup(self, lon: np.ndarray, lat: np.ndarray):
        """Cell values of WGS84 points, clamped to the grid: (township values, township,
        flags, unit values, unit) as the tables give them (`Cell` states: -1 and the
        state's flags)."""
        ix = np.clip((lon - self.x0) / self.dx, 0, self.nx - 1).astype(np.int32)
        iy = np.clip((lat - self.y0) / self.dy, 0, self.ny - 1).astype(np.int32)
        flat = iy * np.int32(self.nx) + ix
        value = self.township[flat]
        uvalue = self.unit[flat]
        return (value, self.township_of[value], self.flags_of[value], uvalue,
                self.unit_of[uvalue])


def dilate(mask: np.ndarray, k: int) -> np.ndarray:
    """Square dilation of a boolean raster by ``k`` cells (separable running maximum)."""
    if k <= 0:
        return mask
    out = mask
    for axis in (0, 1):
        c = np.cumsum(out, axis=axis, dtype=np.int32)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
        n = out.shape[axis]
        hi = np.minimum(np.arange(n) + k + 1, n)
        lo = np.maximum(np.arange(n) - k, 0)
        out = (np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)) > 0
    return out
