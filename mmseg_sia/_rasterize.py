"""Compiled inner loops of the polygon rasterizer of :mod:`mmseg_sia.labels`.

Written by hand because no maintained library draws polygons with the
pixel-centre rule exactly and fast enough for a data pipeline: GDAL's
rasterizer (through rasterio) took 7.8 ms for a land-cover tile where these
loops take well under 1 ms, and OpenCV's ``fillPoly`` rounds vertices to a
fixed-point grid and also paints the pixels its outline passes through.
numba compiles them (``cache=True``: once per installation, not per run).

The rule, for every function here: column ``c`` is crossed by an edge when
``min(x0, x1) <= c + 0.5 < max(x0, x1)``, at ``y = y0 + (c + 0.5 - x0) * dy
/ dx``, and the crossing starts or ends the runs of its column at row
``ceil(y - 0.5)`` (clipped to ``[0, height]``). Within one polygon the rows
of a column are paired in order (the even-odd rule); pixel ``r`` is inside a
pair ``(a, b)`` when ``a <= r < b``. The crossing height is rounded once,
after multiplying and dividing in that order (no fused multiply-add: numba
does not ask LLVM to contract), so a crossing on a pixel centre is decided
the same way whatever the machine.
"""
import numpy as np
from numba import njit


def _compiled(fn):
    """``fn`` compiled without the GIL, its machine code cached on disk
    (beside this file, else in the user's cache folder). Where neither can
    be written (a read-only installation run by a user without a home
    folder), numba refuses to cache: it is compiled in each process then.
    """
    try:
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(nogil=True)(fn)


# Above this magnitude ``(xc - x0) * (y1 - y0)`` could overflow: such edges
# (only reachable through the array API; the label readers stop at
# ``MAX_COORDINATE``) are intersected in a scaled form instead.
SAFE_MAGNITUDE = 1e150
# Rows of a column sorted by insertion up to this many, by np.sort above.
_INSERTION = 16


@_compiled
def _edge_rows(ax, ay, bx, by, c0, c1, height, out):
    """Rows at which edge ``(ax, ay) -> (bx, by)`` crosses columns
    ``c0 <= c < c1``, written to ``out[:c1 - c0]``."""
    at = 0
    if max(max(abs(ax), abs(bx)), max(abs(ay), abs(by))) <= SAFE_MAGNITUDE:
        dx = bx - ax
        dy = by - ay
        for c in range(c0, c1):
            y = ay + (c + 0.5 - ax) * dy / dx
            r = np.ceil(y - 0.5)
            out[at] = 0 if r < 0.0 else height if r > height else int(r)
            at += 1
        return
    # Scaled by 1/4 (exact, or off by less than 1e-307 px near underflow)
    # so no difference overflows, and parametrised by t = (xc - x0) /
    # (x1 - x0) in [0, 1] (rounding is monotonic), so y stays between the
    # scaled end points and y / s between the end points.
    s = 0.25
    for c in range(c0, c1):
        xc = c + 0.5
        t = (xc * s - ax * s) / (bx * s - ax * s)
        y = (ay * s + t * (by * s - ay * s)) / s
        r = np.ceil(y - 0.5)
        out[at] = 0 if r < 0.0 else height if r > height else int(r)
        at += 1


@_compiled
def open_rings(positions, ring_sizes, points, open_sizes):
    """Rings given one after another (``positions`` ``(N, k)``, k >= 2,
    ``ring_sizes`` per ring) copied to ``points`` as ``(x, y)``, a ring's
    last position left out where it repeats its first (x and y equal, so
    never for NaN); each ring's count then into ``open_sizes``. Returns the
    number of points written."""
    at = 0
    put = 0
    for r in range(len(ring_sizes)):
        n = ring_sizes[r]
        last = at + n - 1
        if n > 1 and positions[at, 0] == positions[last, 0] and \
                positions[at, 1] == positions[last, 1]:
            n -= 1
        for k in range(at, at + n):
            points[put, 0] = positions[k, 0]
            points[put, 1] = positions[k, 1]
            put += 1
        open_sizes[r] = n
        at += ring_sizes[r]
    return put


@_compiled
def edge_table(x0, y0, ring_sizes, width, x1, y1, col0, ncols, depth):
    """The edges of rings given one after another (vertices ``x0, y0``,
    ``ring_sizes`` of them per ring, each ring closing on its first vertex):
    their far ends ``x1, y1``, and the columns each crosses, ``col0 <= c <
    col0 + ncols`` with ``c`` in ``[0, width)``: ``col0 = ceil(min(x) -
    0.5)`` and ``col0 + ncols = ceil(max(x) - 0.5)``, both clipped to ``[0,
    width]``. ``depth`` (``width + 1`` zeros) gets the number of edges
    crossing each column. Returns the crossings in all and the most in one
    column. Coordinates are finite (checked by the caller).
    """
    at = 0
    total = 0
    for n in ring_sizes:
        end = at + n
        for k in range(at, end):
            j = k + 1 if k + 1 < end else at
            ax = x0[k]
            bx = x0[j]
            x1[k] = bx
            y1[k] = y0[j]
            lo = np.ceil(min(ax, bx) - 0.5)
            hi = np.ceil(max(ax, bx) - 0.5)
            c0 = 0 if lo < 0.0 else width if lo > width else int(lo)
            c1 = 0 if hi < 0.0 else width if hi > width else int(hi)
            col0[k] = c0
            ncols[k] = c1 - c0
            if c1 > c0:
                total += c1 - c0
                depth[c0] += 1
                depth[c1] -= 1
        at = end
    deepest = 0
    running = 0
    for c in range(width):
        running += depth[c]
        if running > deepest:
            deepest = running
    return total, deepest


@_compiled
def lane_steps(x0, y0, x1, y1, col0, ncols, poly_starts, poly_ends, height,
               chunk, steps, toggles, covered):
    """Draw the polygons of one lane (united; each even-odd).

    Args:
        x0, y0, x1, y1: Edge end points (float64, one array each).
        col0, ncols: First column and number of columns each edge crosses.
        poly_starts, poly_ends: Edge range of each polygon.
        height (int): Rows of the map.
        chunk (int): A polygon with more crossings than this is drawn as a
            parity plane (``toggles``, ``covered``) instead of through a
            row buffer, so working memory stays bounded.
        steps: ``(height + 1, width)`` unsigned plane: +1 where a run
            starts, -1 (wrapping) where it ends.
        toggles: ``(height + 1, width)`` uint8 scratch plane of zeros for
            this lane alone, or empty when no polygon has more than
            ``chunk`` crossings.
        covered: ``(height, width)`` uint8: set to 1 inside the polygons
            drawn as parity planes.
    """
    width = steps.shape[1]
    start = np.zeros(width + 1, np.int64)
    rows = np.empty(64, np.int32)
    cross = np.empty(64, np.int32)
    par = np.zeros(width, np.uint8)
    for p in range(len(poly_starts)):
        e0, e1 = poly_starts[p], poly_ends[p]
        total = 0
        cmin, cmax = width, 0
        for e in range(e0, e1):
            n = ncols[e]
            if n > 0:
                total += n
                cmin = min(cmin, col0[e])
                cmax = max(cmax, col0[e] + n)
        if total == 0:
            continue
        if total > chunk:
            # Parity plane: each crossing toggles its row and the rows
            # below it; a pixel is inside at an odd count.
            for e in range(e0, e1):
                n = ncols[e]
                if n == 0:
                    continue
                if n > rows.size:
                    rows = np.empty(max(n, 2 * rows.size), np.int32)
                c0 = col0[e]
                _edge_rows(x0[e], y0[e], x1[e], y1[e], c0, c0 + n, height,
                           rows)
                for k in range(n):
                    toggles[rows[k], c0 + k] ^= 1
            # The toggles of the lane's earlier parity polygons stay: they
            # only add those polygons' own pixels again (p1 or (p1 xor p2)
            # is p1 or p2). Row ``height`` (crossings at or below the map's
            # bottom) is never read.
            par[cmin:cmax] = 0
            for r in range(height):
                for c in range(cmin, cmax):
                    par[c] ^= toggles[r, c]
                    covered[r, c] |= par[c]
            continue
        # Crossings bucketed by column: start[c] is the first slot of
        # column c in ``rows`` (edges add 1 over their columns as a step
        # up and down; its running sum is the count per column, whose
        # running sum in turn gives the slots).
        for e in range(e0, e1):
            if ncols[e] > 0:
                start[col0[e]] += 1
                start[col0[e] + ncols[e]] -= 1
        at = 0
        count = 0
        for c in range(cmin, cmax):
            count += start[c]
            start[c] = at
            at += count
        start[cmax] = 0
        if total > rows.size:
            rows = np.empty(max(total, 2 * rows.size), np.int32)
        if total > cross.size:
            cross = np.empty(max(total, 2 * cross.size), np.int32)
        for e in range(e0, e1):
            n = ncols[e]
            if n == 0:
                continue
            c0 = col0[e]
            _edge_rows(x0[e], y0[e], x1[e], y1[e], c0, c0 + n, height, cross)
            for k in range(n):
                c = c0 + k
                rows[start[c]] = cross[k]
                start[c] += 1
        # start[c] is now the end of column c's slots.
        a = 0
        for c in range(cmin, cmax):
            b = start[c]
            start[c] = 0
            if b - a > _INSERTION:
                rows[a:b] = np.sort(rows[a:b])
            else:  # the common case: 2 or 4 rows
                for i in range(a + 1, b):
                    v = rows[i]
                    j = i - 1
                    while j >= a and rows[j] > v:
                        rows[j + 1] = rows[j]
                        j -= 1
                    rows[j + 1] = v
            for i in range(a, b, 2):
                ra, rb = rows[i], rows[i + 1]
                if ra < rb:
                    steps[ra, c] += 1
                    steps[rb, c] -= 1
            a = b


@_compiled
def assemble(steps, covered, classes, background, seg):
    """The class map: the last lane (highest priority) covering a pixel
    gives its class, else ``background``.

    Args:
        steps: ``(lanes, height + 1, width)`` planes of :func:`lane_steps`;
            their running sums down the columns are the coverage depths
            (exact in unsigned wrap-around when the type holds the depth).
        covered: ``(lanes, height, width)`` uint8 parity coverage, or an
            array with no lanes when no polygon needed one.
        classes: Class id of each lane (uint8).
        background (int): Class of pixels no lane covers.
        seg: ``(height, width)`` uint8 output.
    """
    nl = steps.shape[0]
    height, width = seg.shape
    depth = np.zeros((nl, width), steps.dtype)
    parity = covered.shape[0] > 0
    for r in range(height):
        row = seg[r]
        for c in range(width):
            row[c] = background
        for lane in range(nl):
            value = classes[lane]
            d = depth[lane]
            s = steps[lane, r]
            for c in range(width):
                d[c] += s[c]
                if d[c] != 0:
                    row[c] = value
            if parity:
                cov = covered[lane, r]
                for c in range(width):
                    if cov[c]:
                        row[c] = value
