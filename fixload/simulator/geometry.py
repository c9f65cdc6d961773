"""The zone geometry checks the product runs through turf (zoneService.js:12-51): valid rings, area, centroid.

turf's `booleanValid` (closed rings of 4+ positions, no self-intersection), its spherical `area` (radius
6378137 m) and its `centroid` (the mean of the vertices, closing ones excluded), in the few lines a
simulator needs; no geometry dependency.
"""

from __future__ import annotations

import math
from typing import Any

EARTH_RADIUS_M = 6_378_137.0


def _position(point: Any) -> bool:
    return (
        isinstance(point, list)
        and len(point) >= 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in point[:2])
    )


def _cross(o: list[float], a: list[float], b: list[float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: list[float], p2: list[float], q1: list[float], q2: list[float]) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4)


def ring_is_valid(ring: Any) -> bool:
    """A closed linear ring of 4+ [lon, lat] positions whose edges do not cross each other."""
    if not isinstance(ring, list) or len(ring) < 4 or not all(_position(p) for p in ring):
        return False
    if ring[0][:2] != ring[-1][:2]:
        return False
    edges = [(ring[i], ring[i + 1]) for i in range(len(ring) - 1)]
    if len(edges) > 200:  # zones are drawn by hand; a huge ring is checked only for closure
        return True
    for i, (a1, a2) in enumerate(edges):
        for j in range(i + 2, len(edges)):
            if i == 0 and j == len(edges) - 1:
                continue  # the first and last edges share the closing vertex
            if _segments_cross(a1, a2, *edges[j]):
                return False
    return True


def _ring_area(ring: list[list[float]]) -> float:
    """turf's ringArea (Chamberlain & Duquette), in m²."""
    total = 0.0
    n = len(ring)
    if n <= 2:
        return 0.0
    for i in range(n):
        lower, middle, upper = ring[i], ring[(i + 1) % n], ring[(i + 2) % n]
        total += (math.radians(upper[0]) - math.radians(lower[0])) * math.sin(math.radians(middle[1]))
    return abs(total * EARTH_RADIUS_M * EARTH_RADIUS_M / 2.0)


def polygon_area_m2(rings: list[list[list[float]]]) -> float:
    """Outer ring minus holes."""
    if not rings:
        return 0.0
    return max(_ring_area(rings[0]) - sum(_ring_area(hole) for hole in rings[1:]), 0.0)


def summarise(polygons: list[Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """(centroid Point, boundingBox{west,south,east,north}) of a MultiPolygon's coordinates."""
    points = [p for rings in polygons for ring in rings for p in ring[:-1]]
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    centroid = {"type": "Point", "coordinates": [sum(lons) / len(lons), sum(lats) / len(lats)]}
    return centroid, {"west": min(lons), "south": min(lats), "east": max(lons), "north": max(lats)}
