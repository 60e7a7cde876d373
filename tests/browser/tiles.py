"""A local XYZ tile server standing in for Tianditu or AMap: there is no internet here.

It draws the gazetteer's streets of Suzhou and Nantong into 256-pixel Web Mercator PNG tiles, in
the coordinate system asked for (a GCJ-02 server shifts them as AMap's tiles are shifted), so a
screenshot shows streets and a test can see markers sit on them. PNGs are written with zlib alone.
"""
from __future__ import annotations

import math
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from parking_core.coords import from_wgs84
from parking_core.places import Gazetteer

SIZE = 256
LAND = (242, 239, 233)
CASING = (200, 196, 188)
ROAD = (255, 255, 255)
WATER = (170, 211, 223)


def png(pixels: bytearray, width: int = SIZE, height: int = SIZE) -> bytes:
    """RGB pixels (row-major, 3 bytes each) as a PNG file."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    stride = width * 3
    raw = b"".join(b"\x00" + bytes(pixels[r * stride:(r + 1) * stride]) for r in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def world_px(lat: float, lon: float, z: int) -> tuple[float, float]:
    """Web Mercator pixel coordinates at zoom z (the XYZ scheme Leaflet and every Chinese map use)."""
    n = SIZE * 2 ** z
    s = math.sin(math.radians(lat))
    return (lon + 180) / 360 * n, (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n


@lru_cache(maxsize=2)
def _features(coord: str) -> tuple[list[tuple[tuple[float, float], ...]], list[tuple[float, float]]]:
    g = Gazetteer.load()
    lines = [tuple(from_wgs84(a, b, coord) for a, b in p.line) for p in g.places if p.kind == "street"]
    lakes = [from_wgs84(p.lat, p.lon, coord) for p in g.places if p.name in ("金鸡湖", "独墅湖", "阳澄湖")]
    return lines, lakes


def _stamp(px: bytearray, x: float, y: float, half: int, colour: tuple[int, int, int]) -> None:
    xi, yi = int(x), int(y)
    x0, x1 = max(0, xi - half), min(SIZE, xi + half + 1)
    if x0 >= x1:
        return
    run = bytes(colour) * (x1 - x0)
    for yy in range(max(0, yi - half), min(SIZE, yi + half + 1)):
        row = yy * SIZE * 3
        px[row + x0 * 3:row + x1 * 3] = run


def tile(z: int, x: int, y: int, coord: str = "wgs84") -> bytes:
    """One tile: land, a few lakes, streets with a casing."""
    px = bytearray(bytes(LAND) * (SIZE * SIZE))
    ox, oy = x * SIZE, y * SIZE
    lines, lakes = _features(coord)
    metres_per_px = 156_543.03 * math.cos(math.radians(31.3)) / 2 ** z
    for lat, lon in lakes:
        cx, cy = world_px(lat, lon, z)
        r = 1_800 / metres_per_px
        if -r < cx - ox < SIZE + r and -r < cy - oy < SIZE + r:
            for yy in range(max(0, int(cy - oy - r)), min(SIZE, int(cy - oy + r) + 1)):
                w = math.sqrt(max(0.0, r * r - (yy - (cy - oy)) ** 2))
                x0, x1 = max(0, int(cx - ox - w)), min(SIZE, int(cx - ox + w) + 1)
                if x0 < x1:
                    px[(yy * SIZE + x0) * 3:(yy * SIZE + x1) * 3] = bytes(WATER) * (x1 - x0)
    width = 1 if z < 12 else 2 if z < 14 else 4
    for half, colour in ((width + 1, CASING), (width, ROAD)):
        for line in lines:
            pts = [world_px(lat, lon, z) for lat, lon in line]
            for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
                if max(x0, x1) < ox - 8 or min(x0, x1) > ox + SIZE + 8 or max(y0, y1) < oy - 8 or min(y0, y1) > oy + SIZE + 8:
                    continue
                steps = max(1, int(math.hypot(x1 - x0, y1 - y0)))
                for k in range(steps + 1):
                    t = k / steps
                    sx, sy = x0 + t * (x1 - x0) - ox, y0 + t * (y1 - y0) - oy
                    if -half <= sx < SIZE + half and -half <= sy < SIZE + half:
                        _stamp(px, sx, sy, half, colour)
    return png(px)


@contextmanager
def tile_server(coord: str = "wgs84") -> Iterator[tuple[str, list[str]]]:
    """Serve tiles on a free loopback port; yields (the XYZ template, the paths requested)."""
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            requested.append(self.path)
            try:
                z, x, y = (int(part) for part in self.path.split("?")[0].removesuffix(".png").strip("/").split("/"))
                body = tile(z, x, y, coord)
            except ValueError:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "max-age=3600")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="tiles", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{{z}}/{{x}}/{{y}}.png", requested
    finally:
        server.shutdown()
        server.server_close()
