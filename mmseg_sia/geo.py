"""Georeferencing tiles from their footprints, and metric measures on lon/lat.

A tile's label file gives its footprint as four lon/lat corners (EPSG:4326)
in ``geometry``, in no reliable order. :func:`footprint_transform` assigns the
corners to the tile north-up (largest latitude on row 0, smallest longitude on
column 0) and fits an affine map from pixel coordinates to lon/lat.

Areas and lengths are geodesic, on the WGS84 ellipsoid, computed by
:class:`pyproj.Geod` (Karney's algorithms, as PROJ and GeographicLib):
areas by ``Geod.polygon_area_perimeter``, lengths by ``Geod.line_length``,
with every edge a geodesic.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from .labels import read_label_file

__all__ = [
    'FootprintError', 'GeoTransform', 'order_footprint_corners',
    'footprint_transform', 'read_footprint', 'ring_area_m2',
    'polygon_area_m2', 'ring_length_m', 'ring_lengths_m', 'WGS84_A',
    'WGS84_F'
]

#: WGS84 semi-major axis (m) and flattening.
WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563
_E2 = WGS84_F * (2 - WGS84_F)


class FootprintError(ValueError):
    """A footprint that cannot georeference a tile; names its source."""

    def __init__(self, source: Optional[str], reason: str) -> None:
        self.source = source
        self.reason = reason
        where = f'{source}: ' if source else ''
        super().__init__(f'{where}footprint {reason}')


def _radii(lat_deg: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Meridional (M) and prime-vertical (N) radii of curvature in metres."""
    s = np.sin(np.radians(lat_deg))
    w = np.sqrt(1 - _E2 * s * s)
    return WGS84_A * (1 - _E2) / w**3, WGS84_A / w


def order_footprint_corners(points: Sequence[Sequence[float]],
                            source: Optional[str] = None) -> np.ndarray:
    """Assign four lon/lat corners to a north-up tile.

    The corners are put in the tile's order top-left, top-right,
    bottom-right, bottom-left whatever their order in the file: the two of
    largest latitude are the top row (row 0), and of each row the smaller
    longitude is column 0.

    Args:
        points: Four ``(lon, lat)`` (or ``(lon, lat, z)``) points; a repeated
            closing point is dropped.
        source (str, optional): Where the points come from, for messages.

    Returns:
        np.ndarray: ``(4, 2)`` lon/lat of the top-left, top-right,
        bottom-right and bottom-left corners.

    Raises:
        FootprintError: When there are not four distinct finite points, or
            they do not make a quadrilateral with a north-up orientation.
    """
    try:
        pts = np.array([[float(p[0]), float(p[1])] for p in points],
                       dtype=np.float64)
    except (TypeError, ValueError, IndexError) as e:
        raise FootprintError(source, f'is not a list of (lon, lat) points '
                             f'({e})') from None
    if len(pts) == 5 and np.array_equal(pts[0], pts[-1]):
        pts = pts[:4]
    if len(pts) != 4:
        raise FootprintError(
            source, f'has {len(pts)} points; a tile footprint needs exactly '
            '4 corners')
    if not np.isfinite(pts).all():
        raise FootprintError(source, 'has a NaN or infinite coordinate')
    if (np.abs(pts[:, 1]) > 90).any() or (np.abs(pts[:, 0]) > 360).any():
        raise FootprintError(
            source, 'is not in lon/lat degrees (EPSG:4326): '
            f'{pts.tolist()}')
    if len(np.unique(pts, axis=0)) < 4:
        raise FootprintError(source, f'repeats a corner: {pts.tolist()}')
    by_lat = np.argsort(-pts[:, 1], kind='stable')
    top, bottom = pts[by_lat[:2]], pts[by_lat[2:]]
    top = top[np.argsort(top[:, 0], kind='stable')]
    bottom = bottom[np.argsort(bottom[:, 0], kind='stable')]
    corners = np.array([top[0], top[1], bottom[1], bottom[0]])
    # The ordered corners must go round the tile clockwise on a north-up map
    # (negative signed area in lon/lat), with every turn the same way; a
    # footprint rotated by 45 degrees or more, or a crossed one, fails here.
    edges = np.roll(corners, -1, axis=0) - corners
    turns = edges[:, 0] * np.roll(edges[:, 1], -1) - \
        edges[:, 1] * np.roll(edges[:, 0], -1)
    if not (turns < 0).all():
        raise FootprintError(
            source, 'corners do not form a north-up quadrilateral '
            f'(rotated by 45 degrees or more, or degenerate): {pts.tolist()}')
    return corners


@dataclass
class GeoTransform:
    """Affine map from pixel coordinates of a tile to lon/lat (EPSG:4326).

    ``lon = a x + b y + c`` and ``lat = d x + e y + f`` for a point ``(x, y)``
    on the tile's continuous plane (``[0, width] x [0, height]``, the pixel
    ``(r, c)`` has its centre at ``(c + 0.5, r + 0.5)``).

    Attributes:
        matrix (np.ndarray): ``(2, 3)`` rows ``(a, b, c)`` and ``(d, e, f)``.
        width (int): Tile width in pixels.
        height (int): Tile height in pixels.
        corners (np.ndarray): ``(4, 2)`` lon/lat of the corners as assigned
            (top-left, top-right, bottom-right, bottom-left).
        residual_m (float): Largest distance in metres between a footprint
            corner and where the affine map puts it (0 for a parallelogram).
        source (str, optional): Where the footprint came from.
    """
    matrix: np.ndarray
    width: int
    height: int
    corners: np.ndarray
    residual_m: float = 0.0
    source: Optional[str] = None

    def pixel_to_lonlat(self, points: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` pixel ``(x, y)`` points to ``(N, 2)`` lon/lat."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return pts @ self.matrix[:, :2].T + self.matrix[:, 2]

    def lonlat_to_pixel(self, points: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` lon/lat points to pixel ``(x, y)``."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        inv = np.linalg.inv(self.matrix[:, :2])
        return (pts - self.matrix[:, 2]) @ inv.T

    def metres_per_pixel(self, x: Optional[float] = None,
                         y: Optional[float] = None) -> np.ndarray:
        """Jacobian of pixel -> local east/north metres at a point.

        Args:
            x (float, optional): Pixel x; defaults to the tile centre.
            y (float, optional): Pixel y; defaults to the tile centre.

        Returns:
            np.ndarray: ``(2, 2)`` matrix; column 0 is the ground vector (east,
            north, in metres) of one pixel step along x, column 1 along y.
        """
        x = self.width / 2 if x is None else x
        y = self.height / 2 if y is None else y
        lat = float(self.pixel_to_lonlat([[x, y]])[0, 1])
        m, n = _radii(np.array(lat))
        scale = np.array([math.radians(1) * float(n) * math.cos(
            math.radians(lat)), math.radians(1) * float(m)])
        return self.matrix[:, :2] * scale[:, None]

    def pixel_area_m2(self) -> float:
        """Ground area of one pixel at the tile centre, in square metres."""
        return float(abs(np.linalg.det(self.metres_per_pixel())))

    def to_dict(self) -> dict:
        """A JSON-ready description (corners and affine coefficients)."""
        return dict(
            crs='EPSG:4326',
            affine=[float(v) for v in self.matrix.reshape(-1)],
            corners=self.corners.tolist(),
            residual_m=self.residual_m,
            source=self.source)


def footprint_transform(points: Sequence[Sequence[float]],
                        width: int,
                        height: int,
                        source: Optional[str] = None) -> GeoTransform:
    """Fit the pixel -> lon/lat affine map of a tile to its footprint.

    The footprint's corners are the corners of the tile's continuous plane:
    ``(0, 0)``, ``(width, 0)``, ``(width, height)``, ``(0, height)``,
    assigned north-up by :func:`order_footprint_corners`. Four corners
    over-determine the six affine coefficients; they are fitted by least
    squares and the largest misfit is kept as ``residual_m``.

    Args:
        points: The footprint's four lon/lat points, in any order.
        width (int): Tile width in pixels.
        height (int): Tile height in pixels.
        source (str, optional): Where the footprint comes from, for messages.

    Returns:
        GeoTransform: The fitted map.

    Raises:
        FootprintError: When the footprint is not four usable corners, or the
            tile size is not positive.
    """
    if width <= 0 or height <= 0:
        raise FootprintError(source,
                             f'cannot map a tile of size {width} x {height}')
    corners = order_footprint_corners(points, source)
    pixels = np.array([[0, 0], [width, 0], [width, height], [0, height]],
                      dtype=np.float64)
    design = np.hstack([pixels, np.ones((4, 1))])
    coef, *_ = np.linalg.lstsq(design, corners, rcond=None)
    matrix = coef.T.copy()
    fitted = design @ coef
    m, n = _radii(corners[:, 1])
    d_east = np.radians(fitted[:, 0] - corners[:, 0]) * n * np.cos(
        np.radians(corners[:, 1]))
    d_north = np.radians(fitted[:, 1] - corners[:, 1]) * m
    residual = float(np.hypot(d_east, d_north).max())
    pixel = GeoTransform(matrix, int(width), int(height), corners)
    gsd = math.sqrt(pixel.pixel_area_m2())
    if residual > gsd:
        warnings.warn(
            f'{source or "footprint"}: the four corners are not a '
            f'parallelogram; the affine fit is off by up to {residual:.2f} m '
            f'({residual / gsd:.1f} pixels) at a corner', stacklevel=2)
    return GeoTransform(matrix, int(width), int(height), corners, residual,
                        source)


def read_footprint(path: Union[str, os.PathLike]) -> Optional[np.ndarray]:
    """Read the footprint of a tile from one of its label files.

    Args:
        path: A label file (``FeatureCollection`` whose features carry the
            tile footprint as ``geometry``).

    Returns:
        np.ndarray | None: ``(4, 2)`` lon/lat points in file order, or None
        when no feature has a geometry.

    Raises:
        LabelFileError: When the file is not a label file.
        FootprintError: When the geometry is not four points (message names
            the file).
    """
    path = os.fspath(path)
    label = read_label_file(path, keys=(), warn=False)
    if label.footprint is None:
        return None
    if len(label.footprint) != 4:
        raise FootprintError(
            path, f'has {len(label.footprint)} points; a tile footprint '
            'needs exactly 4 corners')
    return label.footprint


def _geod():
    """The WGS84 ellipsoid of pyproj (created once, imported lazily)."""
    global _GEOD
    if _GEOD is None:
        from pyproj import Geod
        _GEOD = Geod(ellps='WGS84')
    return _GEOD


_GEOD = None


def ring_area_m2(ring: np.ndarray,
                 origin: Optional[Tuple[float, float]] = None) -> float:
    """Geodesic area of a lon/lat ring in square metres (unsigned).

    Args:
        ring (np.ndarray): ``(N, 2)`` lon/lat vertices (open or closed).
        origin (tuple, optional): Unused; kept for compatibility.

    Returns:
        float: The area enclosed by the ring (geodesic edges, WGS84).
    """
    ring = np.asarray(ring, dtype=np.float64)
    if len(ring) < 3:
        return 0.0
    area, _ = _geod().polygon_area_perimeter(ring[:, 0], ring[:, 1])
    return abs(float(area))


def polygon_area_m2(exterior: np.ndarray,
                    holes: Sequence[np.ndarray] = ()) -> float:
    """Geodesic area in square metres of a lon/lat polygon less its holes.

    The same figure as ``pyproj.Geod(ellps='WGS84').geometry_area_perimeter``
    of the shapely polygon (whatever the rings' orientation).

    Args:
        exterior (np.ndarray): ``(N, 2)`` lon/lat vertices.
        holes (Sequence[np.ndarray]): Hole rings.

    Returns:
        float: The area (never negative).
    """
    area = ring_area_m2(exterior) - sum(ring_area_m2(h) for h in holes)
    return max(area, 0.0)


def ring_lengths_m(rings: Sequence[np.ndarray],
                   closed: bool = True) -> List[float]:
    """:func:`ring_length_m` of each of many rings, from one call of
    pyproj (whose cost is mostly per call): the same floats, each ring's
    segment lengths summed in order from zero (a cumulative sum, as
    ``Geod.line_length`` adds them; not Python's ``sum``, which compensates
    its rounding from Python 3.12 on).

    Args:
        rings (Sequence[np.ndarray]): ``(N_i, 2)`` lon/lat vertices each.
        closed (bool): Count the edge from each ring's last vertex back to
            its first. Defaults to True.

    Returns:
        list[float]: The length of each ring (0 for fewer than 2 vertices).
    """
    parts = [np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in rings]
    if closed:
        parts = [np.vstack([p, p[:1]]) if len(p) >= 2 else p for p in parts]
    out = [0.0] * len(parts)
    if not parts:
        return out
    counts = [len(p) for p in parts]
    pts = np.concatenate(parts)
    if len(pts) < 2:
        return out
    # Segment k joins points k and k + 1; those from one ring to the next
    # are measured too, and not used.
    steps = _geod().line_lengths(pts[:, 0], pts[:, 1])
    start = 0
    for i, n in enumerate(counts):
        if n >= 2:
            out[i] = float(np.cumsum(steps[start:start + n - 1])[-1])
        start += n
    return out


def ring_length_m(ring: np.ndarray, closed: bool = True) -> float:
    """Geodesic length of a lon/lat ring (or line) in metres.

    Args:
        ring (np.ndarray): ``(N, 2)`` lon/lat vertices.
        closed (bool): Count the edge from the last vertex back to the first.
            Defaults to True.

    Returns:
        float: The length (geodesic edges, WGS84).
    """
    pts = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 2:
        return 0.0
    if closed:
        pts = np.vstack([pts, pts[:1]])
    return float(_geod().line_length(pts[:, 0], pts[:, 1]))
