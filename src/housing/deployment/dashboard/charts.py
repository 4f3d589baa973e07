"""Server-side SVG charts for the dashboard: pure functions from numbers to markup.

Every text node and attribute value goes through markupsafe's escape, so a feature or
batch name can never break out of the SVG. No inline styles or scripts: the page's
Content-Security-Policy allows neither, and the stylesheet styles the classes used here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from markupsafe import Markup, escape

# A simplified outline of California (longitude, latitude), clockwise from the north-west
# corner: the 42nd parallel, the Nevada line to Lake Tahoe and down to the Colorado River,
# the river to the Mexican border, then the coast back north.
CALIFORNIA_OUTLINE: tuple[tuple[float, float], ...] = (
    (-124.21, 42.00), (-120.00, 42.00), (-120.00, 39.00), (-114.63, 35.00),
    (-114.57, 34.80), (-114.43, 34.30), (-114.13, 34.27), (-114.53, 33.93),
    (-114.50, 33.70), (-114.72, 33.40), (-114.72, 32.72), (-117.12, 32.53),
    (-117.25, 32.85), (-117.40, 33.20), (-117.78, 33.54), (-118.10, 33.75),
    (-118.41, 33.74), (-118.52, 34.03), (-118.95, 34.05), (-119.25, 34.16),
    (-119.60, 34.41), (-120.47, 34.45), (-120.64, 34.57), (-120.60, 34.90),
    (-120.87, 35.44), (-121.30, 35.80), (-121.90, 36.30), (-121.97, 36.58),
    (-121.80, 36.85), (-122.03, 36.96), (-122.41, 37.19), (-122.51, 37.60),
    (-122.52, 37.78), (-122.98, 38.01), (-123.03, 38.30), (-123.70, 38.93),
    (-123.83, 39.80), (-124.35, 40.27), (-124.11, 40.80), (-124.15, 41.42),
    (-124.21, 42.00),
)
MAP_BOUNDS = (-124.6, -114.0, 32.4, 42.2)  # lon min, lon max, lat min, lat max


def _attrs(**attrs) -> str:
    return " ".join(f'{k.rstrip("_").replace("_", "-")}="{escape(v)}"'
                    for k, v in attrs.items() if v is not None)


def _el(tag: str, body: str = "", **attrs) -> str:
    inner = str(body)
    return f"<{tag} {_attrs(**attrs)}>{inner}</{tag}>" if inner else f"<{tag} {_attrs(**attrs)}/>"


def _text(x: float, y: float, text: object, **attrs) -> str:
    return _el("text", str(escape(str(text))), x=f"{x:.1f}", y=f"{y:.1f}", **attrs)


def _svg(width: int, height: int, label: str, body: Iterable[str]) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(label)}"><title>{escape(label)}</title>')
    return Markup(head + "".join(body) + "</svg>")


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def drift_bars(statistics: Mapping[str, float], threshold: float, *,
               label: str = "Kolmogorov-Smirnov statistic per feature") -> Markup:
    """Horizontal bars, one per feature, with the drift threshold as a dashed line; bars
    above it carry the class ``alert``."""
    names = list(statistics)
    left, right, row, top = 110, 20, 24, 10
    width, height = 520, top + row * len(names) + 34
    top_value = nice_max(max([threshold, *statistics.values()]) * 1.1)
    scale = (width - left - right) / top_value
    body = [_el("line", x1=left, y1=top, x2=left, y2=top + row * len(names), class_="axis")]
    for i, name in enumerate(names):
        value = float(statistics[name])
        y = top + i * row
        alert = value > threshold
        body.append(_text(left - 6, y + row * 0.65, name, class_="label", text_anchor="end"))
        bar = _el("rect", _el("title", str(escape(f"{name}: {value:.4f}"))),
                  x=left, y=f"{y + 4}", width=f"{max(value * scale, 1):.1f}",
                  height=row - 8, class_="bar alert" if alert else "bar")
        body.append(bar)
        body.append(_text(left + value * scale + 4, y + row * 0.65, f"{value:.3f}",
                          class_="value"))
    x = left + threshold * scale
    bottom = top + row * len(names)
    body.append(_el("line", x1=f"{x:.1f}", y1=top - 4, x2=f"{x:.1f}", y2=bottom + 4,
                    class_="threshold"))
    body.append(_text(x, bottom + 18, f"threshold {threshold:g}", class_="value",
                      text_anchor="middle"))
    return _svg(width, height, label, body)


def rmse_chart(batches: Sequence[tuple[str, float, float | None]], reference: float,
               bar: float, *, label: str = "Estimated and realized RMSE per batch") -> Markup:
    """Per batch, the estimated RMSE (circle) and the realized one (square), against the
    reference RMSE and the alert bar (dashed lines)."""
    left, right, top, bottom = 50, 130, 12, 60
    slot = 150
    width = max(460, left + right + slot * max(1, len(batches)))
    height = 240
    values = [v for _, est, real in batches for v in (est, real) if v is not None]
    top_value = nice_max(max([reference, bar, *values]) * 1.1)
    plot_h = height - top - bottom

    def y(v: float) -> float:
        return top + plot_h * (1 - v / top_value)

    body = [_el("line", x1=left, y1=top, x2=left, y2=top + plot_h, class_="axis"),
            _el("line", x1=left, y1=top + plot_h, x2=width - right, y2=top + plot_h,
                class_="axis")]
    for tick in np.linspace(0, top_value, 5):
        body.append(_text(left - 6, y(tick) + 4, f"{tick:.2f}", class_="value",
                          text_anchor="end"))
    for value, name, css in ((reference, "reference", "reference"),
                             (bar, "alert bar", "threshold")):
        body.append(_el("line", x1=left, y1=f"{y(value):.1f}", x2=width - right,
                        y2=f"{y(value):.1f}", class_=css))
        body.append(_text(width - right + 6, y(value) + 4, f"{name} {value:.3f}",
                          class_="value"))
    for i, (name, estimated, realized) in enumerate(batches):
        x = left + (width - left - right) / len(batches) * (i + 0.5)
        body.append(_el("circle", _el("title", str(escape(
            f"{name}: estimated {estimated:.4f}"))), cx=f"{x - 8:.1f}", cy=f"{y(estimated):.1f}",
            r=6, class_="estimated alert" if estimated > bar else "estimated"))
        if realized is not None:
            body.append(_el("rect", _el("title", str(escape(
                f"{name}: realized {realized:.4f}"))), x=f"{x + 2:.1f}",
                y=f"{y(realized) - 6:.1f}", width=12, height=12,
                class_="realized alert" if realized > bar else "realized"))
        body.append(_text(x, top + plot_h + 16, name, class_="label", text_anchor="middle"))
    legend_y = height - 16
    body.append(_el("circle", cx=left + 6, cy=legend_y - 4, r=6, class_="estimated"))
    body.append(_text(left + 16, legend_y, "estimated (NannyML DLE)", class_="label"))
    body.append(_el("rect", x=left + 200, y=legend_y - 10, width=12, height=12,
                    class_="realized"))
    body.append(_text(left + 218, legend_y, "realized (labels)", class_="label"))
    return _svg(width, height, label, body)


def project(lon: np.ndarray, lat: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Equirectangular projection of MAP_BOUNDS at California's mean latitude: (x, y, height)."""
    lon_min, lon_max, lat_min, lat_max = MAP_BOUNDS
    aspect = (lat_max - lat_min) / ((lon_max - lon_min) * math.cos(math.radians(37.0)))
    height = round(width * aspect)
    x = (np.asarray(lon, dtype=float) - lon_min) / (lon_max - lon_min) * width
    y = (lat_max - np.asarray(lat, dtype=float)) / (lat_max - lat_min) * height
    return x, y, height


def density_cells(lon: np.ndarray, lat: np.ndarray,
                  cell: float = 0.2) -> list[tuple[float, float, int]]:
    """Counts of points per ``cell``-degree square: (lon of the west edge, lat of the north
    edge, count), sorted so the output does not depend on the input order."""
    if len(lon) == 0:
        return []
    keys = np.stack([np.floor(np.asarray(lon) / cell), np.floor(np.asarray(lat) / cell)], axis=1)
    unique, counts = np.unique(keys, axis=0, return_counts=True)
    return [(float(k[0] * cell), float((k[1] + 1) * cell), int(c))
            for k, c in zip(unique, counts)]


def california_map(reference: tuple[np.ndarray, np.ndarray],
                   batch: tuple[np.ndarray, np.ndarray], *, batch_name: str,
                   width: int = 420, max_points: int = 1500) -> Markup:
    """The state outline, the reference districts as density cells, and the batch's
    districts as dots (an even subsample if there are more than ``max_points``)."""
    lon_ref, lat_ref = (np.asarray(a, dtype=float) for a in reference)
    lon_b, lat_b = (np.asarray(a, dtype=float) for a in batch)
    _, _, height = project(np.zeros(1), np.zeros(1), width)
    ox, oy, _ = project(*np.array(CALIFORNIA_OUTLINE).T, width)
    body = [_el("polygon", points=" ".join(f"{a:.1f},{b:.1f}" for a, b in zip(ox, oy)),
                class_="state")]
    cells = density_cells(lon_ref, lat_ref)
    peak = max((c for *_, c in cells), default=1)
    cx, cy, _ = project(np.array([c[0] for c in cells]), np.array([c[1] for c in cells]), width)
    size_x = project(np.array([MAP_BOUNDS[0] + 0.2]), np.array([0.0]), width)[0][0]
    for (_, _, count), x, y in zip(cells, cx, cy):
        level = min(4, 1 + int(4 * count / (peak + 1)))
        body.append(_el("rect", x=f"{x:.1f}", y=f"{y:.1f}", width=f"{size_x:.1f}",
                        height=f"{size_x:.1f}", class_=f"ref d{level}"))
    if len(lon_b) > max_points:
        keep = np.linspace(0, len(lon_b) - 1, max_points).round().astype(int)
        lon_b, lat_b = lon_b[keep], lat_b[keep]
    bx, by, _ = project(lon_b, lat_b, width)
    body.extend(_el("circle", cx=f"{x:.1f}", cy=f"{y:.1f}", r=2, class_="point")
                for x, y in zip(bx, by))
    legend_x, legend_y = width * 0.55, height * 0.12  # Nevada: empty on the map
    body.append(_el("rect", x=f"{legend_x:.1f}", y=f"{legend_y - 9:.1f}", width=10, height=10,
                    class_="ref d3"))
    body.append(_text(legend_x + 16, legend_y, f"reference ({len(lon_ref):,})",
                      class_="label"))
    body.append(_el("circle", cx=f"{legend_x + 5:.1f}", cy=f"{legend_y + 14:.1f}", r=4,
                    class_="point"))
    body.append(_text(legend_x + 16, legend_y + 18, f"{batch_name} ({len(batch[0]):,})",
                      class_="label"))
    return _svg(width, height, f"Map of California: districts of batch {batch_name} "
                               f"against the reference", body)
