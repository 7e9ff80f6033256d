"""Inline SVG charts, drawn here (no script, no third-party asset): what people would rather look at."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM = 720, 160, 44, 20


def throughput(minutes: Sequence[tuple[datetime.datetime, int, int]], *, label: str) -> Markup:
    """Bars of rows finished per minute (failed ones in red on top), with a y axis and hour ticks."""
    peak = max([done for _, done, _ in minutes] + [1])
    plot_w, plot_h = WIDTH - PAD_LEFT, HEIGHT - PAD_BOTTOM
    bar_w = plot_w / max(len(minutes), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{plot_h}" x2="{WIDTH}" y2="{plot_h}" class="axis"/>',
        f'<text x="{PAD_LEFT - 4}" y="10" class="tick" text-anchor="end">{peak:,}</text>',
        f'<text x="{PAD_LEFT - 4}" y="{plot_h}" class="tick" text-anchor="end">0</text>',
    ]
    for index, (minute, done, failed) in enumerate(minutes):
        x = PAD_LEFT + index * bar_w
        if done:
            h = done / peak * (plot_h - 2)
            bad_h = failed / peak * (plot_h - 2)
            tip = escape(f"{minute:%H:%M} UTC: {done:,} finished, {failed:,} failed")
            parts.append(
                f'<rect x="{x:.1f}" y="{plot_h - h:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" '
                f'class="done"><title>{tip}</title></rect>'
            )
            if failed:
                parts.append(
                    f'<rect x="{x:.1f}" y="{plot_h - bad_h:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                    f'height="{bad_h:.1f}" class="failed"><title>{tip}</title></rect>'
                )
        if minute.minute == 0 or index == 0:
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 4}" class="tick">{minute:%H:%M}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 -- every interpolated text is escaped above


def meter(fraction: float | None, *, label: str) -> Markup:
    """A horizontal bar for a share (the failure rate): green to red."""
    share = 0.0 if fraction is None else max(0.0, min(1.0, fraction))
    cls = "ok" if share < 0.01 else "warn" if share < 0.1 else "bad"
    return Markup(  # noqa: S704 -- numbers and a fixed class only, the label escaped
        f'<svg class="meter" viewBox="0 0 200 12" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg"><rect width="200" height="12" class="track"/>'
        f'<rect width="{share * 200:.1f}" height="12" class="{cls}"/></svg>'
    )
