"""A local SVG badge ("milestones 2/5") and its shields.io endpoint JSON. No network."""

from __future__ import annotations

from html import escape
from pathlib import Path

from pytest_tinytorch.plugin.state import write_json_atomically, write_text_atomically


def badge_color(done: int, total: int) -> str:
    """Red with nothing complete, then orange, yellow, yellowgreen, green when all are."""
    if total <= 0 or done <= 0:
        return "#e05d44"
    if done >= total:
        return "#4c1"
    share = done / total
    return "#fe7d37" if share < 0.4 else "#dfb317" if share < 0.7 else "#a4a61d"


SHIELDS_COLORS = {"#e05d44": "red", "#fe7d37": "orange", "#dfb317": "yellow",
                  "#a4a61d": "yellowgreen", "#4c1": "brightgreen"}


def _text_width(text: str) -> int:
    return 7 * len(text) + 10  # Verdana 11px averages about 7 px per character


def render_svg(label: str, message: str, color: str) -> str:
    left, right = _text_width(label), _text_width(message)
    width = left + right
    label, message = escape(label), escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{label}: {message}"><title>{label}: {message}</title>'
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{color}"/>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,sans-serif" font-size="11">'
        f'<text x="{left / 2:.1f}" y="14">{label}</text>'
        f'<text x="{left + right / 2:.1f}" y="14">{message}</text></g></svg>\n'
    )


def write_badge(path, done: int, total: int, label: str = "milestones") -> tuple[Path, Path]:
    """Write ``path`` (SVG) and ``path`` with suffix ``.json`` (shields.io endpoint)."""
    path = Path(path)
    color = badge_color(done, total)
    message = f"{done}/{total}"
    write_text_atomically(path, render_svg(label, message, color))
    endpoint = path.with_suffix(".json")
    write_json_atomically(endpoint, {"schemaVersion": 1, "label": label, "message": message,
                                     "color": SHIELDS_COLORS[color]})
    return path, endpoint
