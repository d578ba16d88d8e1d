"""The lead funnel as a PNG, drawn with Pillow (a small, well-kept imaging library; matplotlib
would bring numpy and a font cache for three bars). The total funnel on top (leads → first
booking → first completed session, centred bars), then one line per first-touch source and
campaign. Labels are ASCII (UTM values are), in Pillow's own default font."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

from PIL import Image, ImageDraw, ImageFont

from cabinet.domain.leads import FunnelRow

WIDTH = 900
STAGE_COLOURS = ("#4C78A8", "#F58518", "#54A24B")
STAGES = ("Leads", "First booking", "First session (converted)")


def render_png(
    rows: Sequence[FunnelRow], total: FunnelRow, since: datetime, until: datetime
) -> bytes:
    """The funnel chart (PNG bytes)."""
    lines = rows[:20]
    height = 80 + 3 * 56 + 40 + max(1, len(lines)) * 34 + 30
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    title = ImageFont.load_default(size=20)
    font = ImageFont.load_default(size=14)
    draw.text(
        (20, 16),
        f"Lead funnel {since:%Y-%m-%d} .. {until:%Y-%m-%d}",
        fill="black",
        font=title,
    )
    counts = (total.leads, total.booked, total.converted)
    widest = WIDTH - 360
    top = 60
    for stage, count, colour in zip(STAGES, counts, STAGE_COLOURS, strict=True):
        bar = 0 if total.leads == 0 else round(widest * count / total.leads)
        left = 200 + (widest - bar) // 2
        draw.rectangle((left, top, left + max(bar, 2), top + 40), fill=colour)
        share = f"{count / total.leads:.0%}" if total.leads else "-"
        draw.text((20, top + 12), stage, fill="black", font=font)
        draw.text((WIDTH - 140, top + 12), f"{count} ({share})", fill="black", font=font)
        top += 56
    top += 20
    draw.text((20, top), "By first touch (source / campaign)", fill="black", font=font)
    top += 26
    biggest = max((r.leads for r in lines), default=1) or 1
    for row in lines:
        draw.text((20, top + 6), f"{row.source} / {row.campaign}"[:34], fill="black", font=font)
        for count, colour, offset in zip(
            (row.leads, row.booked, row.converted), STAGE_COLOURS, (0, 9, 18), strict=True
        ):
            length = round((WIDTH - 420) * count / biggest)
            draw.rectangle((300, top + offset, 300 + max(length, 1), top + offset + 7), fill=colour)
        draw.text(
            (WIDTH - 140, top + 6),
            f"{row.leads}/{row.booked}/{row.converted}",
            fill="black",
            font=font,
        )
        top += 34
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
