"""A sample company seal for the demo: a red round seal marked 样章 (specimen), drawn at run
time so no image of a real seal is ever shipped. A company uploads its own seal."""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw, ImageFont

SEAL_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
RED = (204, 20, 20, 255)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in SEAL_FONTS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default()


def sample_seal_png(company: str = "北京子午数据科技有限公司", size: int = 480) -> bytes:
    """A transparent PNG: the company's name around the rim, a star, and 样章 below it."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    centre = size / 2
    rim = size * 0.47
    draw.ellipse(
        (centre - rim, centre - rim, centre + rim, centre + rim), outline=RED, width=size // 28
    )
    letter = _font(int(size * 0.1))
    spread = math.radians(240)
    for index, char in enumerate(company):
        angle = math.radians(150) + spread * index / max(len(company) - 1, 1)
        x = centre + rim * 0.76 * math.cos(angle)
        y = centre + rim * 0.76 * math.sin(angle)
        glyph = Image.new("RGBA", (int(size * 0.14), int(size * 0.14)), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text(
            (glyph.width / 2, glyph.height / 2), char, font=letter, fill=RED, anchor="mm"
        )
        rotated = glyph.rotate(-math.degrees(angle) - 90, resample=Image.Resampling.BICUBIC)
        image.alpha_composite(rotated, (int(x - rotated.width / 2), int(y - rotated.height / 2)))
    star = [
        (
            centre
            + (size * (0.13 if point % 2 == 0 else 0.052))
            * math.cos(math.radians(-90 + 36 * point)),
            centre
            + (size * (0.13 if point % 2 == 0 else 0.052))
            * math.sin(math.radians(-90 + 36 * point)),
        )
        for point in range(10)
    ]
    draw.polygon(star, fill=RED)
    draw.text(
        (centre, centre + size * 0.25), "样章", font=_font(int(size * 0.08)), fill=RED, anchor="mm"
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
