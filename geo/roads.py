"""Road graph for travel times: built once from a line layer, queried per case.

Nodes are line vertices (merged where lines share them, to the centimetre), edges are the
segments between them weighted by travel time at the road's speed. Coordinates are metres
in the router's metric CRS; times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse import bmat, coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

SPEED_KMH = {"motorway": 80.0, "primary": 60.0, "secondary": 50.0, "tertiary": 40.0,
             "residential": 30.0, "service": 20.0, "track": 15.0}
DEFAULT_SPEED_KMH = 30.0
ACCESS_SPEED_KMH = 10.0
NODE_SPACING_M = 100.0  # from a point to the nearest road node (on foot or slowly)


@dataclass
class RoadGraph:
    """Undirected road graph with a nearest-node index."""

    xy: np.ndarray          # (n, 2) node coordinates, metres
    matrix: csr_matrix      # edge travel times, seconds
    tree: cKDTree

    @property
    def n_edges(self) -> int:
        return int(self.matrix.nnz // 2)

    @classmethod
    def from_lines(cls, roads: gpd.GeoDataFrame, metric: str) -> RoadGraph:
        """Build from a validated roads layer (WGS84) projected to ``metric``."""
        lines = roads.to_crs(metric)
        by_class = lines["road_class"].map(SPEED_KMH).fillna(DEFAULT_SPEED_KMH).to_numpy(float)
        given = (lines["speed_kmh"].to_numpy(dtype=float) if "speed_kmh" in lines.columns
                 else np.full(len(lines), np.nan))
        speed = np.where(np.isfinite(given) & (given > 0), given, by_class)
        parts, owner = shapely.get_parts(lines.geometry.to_numpy(), return_index=True)
        # nodes every 100 m at most, so that a point snaps close to the road itself
        parts = shapely.segmentize(parts, NODE_SPACING_M)
        coords, line_idx = shapely.get_coordinates(parts, return_index=True)
        same = line_idx[1:] == line_idx[:-1]
        keys = np.round(coords, 2)
        nodes, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        a, b = inverse[:-1][same], inverse[1:][same]
        length = np.hypot(*(coords[1:][same] - coords[:-1][same]).T)
        seconds = length / (speed[owner[line_idx[:-1][same]]] / 3.6)
        keep = a != b
        a, b, seconds = a[keep], b[keep], np.maximum(seconds[keep], 1e-3)
        n = len(nodes)
        matrix = csr_matrix((np.r_[seconds, seconds], (np.r_[a, b], np.r_[b, a])), shape=(n, n))
        return cls(nodes, matrix, cKDTree(nodes))

    def times_from(self, x: float, y: float) -> np.ndarray:
        """Travel time in seconds from a point to every node (inf where unreachable),
        including the access from the point to its nearest node."""
        access, node = self.tree.query([x, y])
        times = dijkstra(self.matrix, directed=False, indices=int(node))
        return times + access / (ACCESS_SPEED_KMH / 3.6)

    def travel(self, x: float, y: float, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
        """Seconds from (x, y) to each target point by road (targets snap to their
        nearest node, with access time)."""
        times = self.times_from(x, y)
        access, nodes = self.tree.query(np.column_stack([tx, ty]))
        return times[nodes] + access / (ACCESS_SPEED_KMH / 3.6)

    def reach(self, xs: np.ndarray, ys: np.ndarray, minutes: float,
              max_access_m: float = 500.0) -> shapely.Geometry:
        """Area (metres) reachable within ``minutes`` from any of the points (team bases):
        each road node reached in time, buffered by the distance still coverable at access
        speed (at most ``max_access_m``). One Dijkstra from a virtual source joined to every
        base's nearest node by its access time."""
        access, nodes = self.tree.query(np.column_stack([xs, ys]))
        n = len(self.xy)
        source = coo_matrix((access / (ACCESS_SPEED_KMH / 3.6) + 1e-6,
                             (np.zeros(len(nodes), dtype=int), nodes)), shape=(1, n))
        graph = bmat([[self.matrix, coo_matrix((n, 1))], [source, coo_matrix((1, 1))]],
                     format="csr")
        times = dijkstra(graph, directed=True, indices=n)[:n]
        left = minutes * 60.0 - times
        ok = left > 0
        radius = np.minimum(left[ok] * ACCESS_SPEED_KMH / 3.6, max_access_m)
        return shapely.union_all(shapely.buffer(shapely.points(self.xy[ok]), radius,
                                                quad_segs=4))
