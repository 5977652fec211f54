#!/usr/bin/env python
"""Reading a scene strip by strip: GDAL's block cache, measured side by side.

``tools/infer.py`` reads a raster in strips of window rows that overlap
(512 rows every 384 by default). For each format below the benchmark writes
a ``--size``-square 4-band uint16 scene (``bench_geotiff_scene.py``'s
noise scene: random values, every block costs about the same to decode)
and reads all its strips three ways, in one run (``--scene`` adds rasters
of your own):

* **now**: :class:`mmseg_sia.apis.raster.RasterReader` as the scene runs use
  it: a row of blocks that reaches below a strip is decoded whole and its
  spare rows kept (8-bit) for the next strip, under
  :meth:`~mmseg_sia.apis.raster.RasterReader.gdal_env` (a cache of one chunk
  of a row of blocks, in bytes);
* **before**: the rows a strip needs only, with ``rasterio.Env(GDAL_CACHEMAX=
  <megabytes>)`` as the code had it. rasterio passes the value to
  ``GDALSetCacheMax64``, which counts bytes: the cache was a few hundred
  bytes, so every block shared by two strips was decoded twice (a JPEG
  2000 tile or a VRT's source block many times);
* **a row of blocks cached**: the rows a strip needs only, with the cache of
  one row of blocks that the code meant (in bytes this time).

"before" and "a row of blocks cached" read in the column chunks of 4,096
the code had then; ``--chunks`` adds "now" in other chunk widths.

Printed per format: CPU and wall seconds per megapixel, the growth of the
RSS while reading (each way in a fresh process: what the reading holds,
strips, spare rows, GDAL's cache) and the ratio of "before" to "now". The
strips of all the ways are compared byte for byte.

    python benchmarks/bench_raster_read.py --size 8192
    python benchmarks/bench_raster_read.py --size 4096 --chunks 4096
"""
from __future__ import annotations

import argparse
import hashlib
import os.path as osp
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'benchmarks'))
sys.path.insert(1, REPO)

from bench_geotiff_scene import write_scene as write_geotiff  # noqa: E402
from bench_scene_inference import rss_now_mb  # noqa: E402


def write_scene(path: str, fmt: str, size: int) -> None:
    """A 4-band uint16 scene with a nodata border, written block by block
    (never whole): ``bench_geotiff_scene.py``'s noise scene (a DEFLATE
    GeoTIFF in 512-pixel blocks), as it is, as a lossless JPEG 2000 in
    1,024-pixel tiles (copied by GDAL) or as a VRT mosaic of four
    GeoTIFFs."""
    import rasterio.shutil

    tif = path if fmt == 'gtiff' else path + '.src.tif'
    write_geotiff(tif, size, content='noise')
    if fmt == 'jp2':
        rasterio.shutil.copy(tif, path, driver='JP2OpenJPEG',
                             REVERSIBLE='YES', QUALITY='100',
                             BLOCKXSIZE='1024', BLOCKYSIZE='1024')
    elif fmt == 'vrt':
        write_mosaic(path, tif)


def write_mosaic(path: str, tif: str) -> None:
    """A VRT of the scene cut in 2 x 2 GeoTIFFs (512-pixel blocks), the
    way a product delivered in tiles is mosaicked (GDAL's VRT: blocks of
    128 rows whatever the sources')."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(tif) as ds:
        profile, size, t = ds.profile, ds.width, ds.transform
        half = [(0, size // 2), (size // 2, size - size // 2)]
        sources = {b: [] for b in range(1, 5)}
        for i, (y, h) in enumerate(half):
            for j, (x, w) in enumerate(half):
                win = Window(x, y, w, h)
                name = f'{osp.basename(path)}_{i}{j}.tif'
                part = dict(profile, width=w, height=h,
                            transform=ds.window_transform(win))
                with rasterio.open(osp.join(osp.dirname(path), name), 'w',
                                   **part) as out:
                    for r in range(0, h, 512):
                        rows = Window(x, y + r, w, min(512, h - r))
                        out.write(ds.read(window=rows), window=Window(
                            0, r, w, rows.height))
                for b in sources:
                    sources[b].append(
                        f'<ComplexSource><SourceFilename relativeToVRT="1">'
                        f'{name}</SourceFilename><SourceBand>{b}'
                        f'</SourceBand><SrcRect xOff="0" yOff="0" '
                        f'xSize="{w}" ySize="{h}"/><DstRect xOff="{x}" '
                        f'yOff="{y}" xSize="{w}" ySize="{h}"/><NODATA>0'
                        '</NODATA></ComplexSource>')
    bands = ''.join(
        f'<VRTRasterBand dataType="UInt16" band="{b}"><NoDataValue>0'
        f'</NoDataValue>{"".join(parts)}</VRTRasterBand>'
        for b, parts in sources.items())
    with open(path, 'w') as f:
        f.write(f'<VRTDataset rasterXSize="{size}" rasterYSize="{size}">'
                f'<SRS>EPSG:32652</SRS><GeoTransform>{t.c}, {t.a}, {t.b}, '
                f'{t.f}, {t.d}, {t.e}</GeoTransform>{bands}</VRTDataset>')


def read_all(path: str, way: str, window: int, stride: int,
             chunk: int) -> tuple:
    """CPU s, wall s, RSS growth (MiB: the process' peak while reading less
    its RSS before) and a digest of every strip, read in column chunks of
    ``chunk``. Run in a fresh process (:func:`measured`)."""
    import rasterio

    from mmseg_sia.apis import raster
    from mmseg_sia.apis.segment import window_grid

    digest = hashlib.sha1()
    raster.READ_CHUNK = chunk
    if way != 'now':  # the rows a strip needs only
        raster.WHOLE_BLOCK_ROWS = 0
    with raster.RasterReader(path) as reader:
        # Warm-up (GDAL's driver, numpy's functions): one pixel.
        from rasterio.windows import Window
        reader.to_uint8(reader.ds.read(reader.bands,
                                       window=Window(0, 0, 1, 1)))
        if way == 'now':
            env = reader.gdal_env()
        else:
            # A row of blocks and a chunk (the cache meant before).
            need = reader.cache_bytes
            env = rasterio.Env(GDAL_CACHEMAX=need >> 20 if
                               way == 'before' else need)
        base = peak = rss_now_mb()
        c0, t0 = time.process_time(), time.perf_counter()
        with env:
            strips = [(y, min(y + window, reader.height))
                      for y in window_grid(reader.height, window, stride)]
            # Column chunk after column chunk, strip after strip, as a
            # scene run reads them.
            for _, x0, _, bgr, ok in reader.read_strips(strips):
                peak = max(peak, rss_now_mb())
                # Digested 64 columns at a time, so that the digest does
                # not depend on the chunks' width (whole blocks: multiples
                # of 64 columns here).
                if x0 % 64:
                    raise ValueError(f'a chunk at column {x0}')
                for x in range(0, bgr.shape[1], 64):
                    digest.update(bgr[:, x:x + 64].tobytes())
                    digest.update(ok[:, x:x + 64].tobytes())
                del bgr, ok
        return (time.process_time() - c0, time.perf_counter() - t0,
                peak - base, digest.hexdigest())


def measured(*args) -> tuple:
    """:func:`read_all` in a process of its own (spawned): its memory is
    not the heap that earlier reads left behind."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context('spawn')) as pool:
        return pool.submit(read_all, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=8192)
    parser.add_argument('--formats', default='gtiff,jp2,vrt',
                        help='comma-separated: gtiff, jp2, vrt')
    parser.add_argument('--window', type=int, default=512)
    parser.add_argument('--stride', type=int, default=384)
    parser.add_argument('--chunks', default='',
                        help='more column chunks to read "now" with, '
                        'comma-separated (e.g. 2048,4096)')
    parser.add_argument('--keep', help='folder to keep the scenes in')
    parser.add_argument('--scene', action='append', default=[],
                        help='read this raster too (any GDAL format); '
                        'repeatable')
    args = parser.parse_args()
    import rasterio

    from mmseg_sia.apis import raster

    root = args.keep or tempfile.mkdtemp(prefix='bench_read_')
    # "before" and "a row of blocks cached" in the chunks of 4,096 columns
    # the code had then.
    ways = [('now', raster.READ_CHUNK)] + [
        ('now', int(c)) for c in args.chunks.split(',') if c] + [
            ('before', 4096), ('a row of blocks cached', 4096)]
    print(f'{args.size}^2 4-band uint16 scenes (or --scene), strips of '
          f'{args.window} rows every {args.stride}; "now" in column chunks of '
          f'{raster.READ_CHUNK} (READ_CHUNK) unless said; rasterio '
          f'{rasterio.__version__}, GDAL {rasterio.__gdal_version__}',
          flush=True)
    print(f'{"format":>7} {"way":>24} {"CPU s/MP":>9} {"wall s/MP":>10} '
          f'{"RSS growth MiB":>15}', flush=True)
    jobs = [(fmt, None) for fmt in args.formats.split(',') if fmt] + [
        (osp.basename(p), p) for p in args.scene]
    for fmt, path in jobs:
        if path is None:
            suffix = 'tif' if fmt == 'gtiff' else fmt
            path = osp.join(root, f'scene_{args.size}.{suffix}')
            if not osp.exists(path):
                write_scene(path, fmt, args.size)
        with rasterio.open(path) as ds:
            mp = ds.width * ds.height / 1e6
        got = {}
        for i, (way, chunk) in enumerate(ways):
            cpu, wall, grown, digest = measured(path, way, args.window,
                                                args.stride, chunk)
            name = way if i == 0 or way != 'now' else f'now, chunk {chunk}'
            got[name] = (cpu, wall, digest)
            print(f'{fmt[:24]:>7} {name:>24} {cpu / mp:>9.4f} '
                  f'{wall / mp:>10.4f} {grown:>15.0f}', flush=True)
        same = len({d for _, _, d in got.values()}) == 1
        before, now = got['before'], got['now']
        print(f'ratio {fmt} before / now: {before[0] / now[0]:.2f} (CPU), '
              f'{before[1] / now[1]:.2f} (wall); strips identical: '
              f'{"yes" if same else "NO"}', flush=True)


if __name__ == '__main__':
    main()
