"""Real PNG bytes for tests, made with Pillow."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

RGB = tuple[int, int, int]

# Colour words a prompt may mention; the first one found wins.
COLOURS: dict[str, RGB] = {
    "red": (220, 20, 20),
    "green": (20, 200, 40),
    "blue": (20, 40, 220),
    "yellow": (235, 220, 30),
    "purple": (140, 40, 180),
    "orange": (240, 140, 20),
    "black": (10, 10, 10),
    "white": (245, 245, 245),
}


def colour_for_prompt(prompt: str) -> RGB:
    """A colour named in the prompt, else a stable colour derived from its hash."""
    lowered = prompt.lower()
    for word, rgb in COLOURS.items():
        if word in lowered:
            return rgb
    digest = hashlib.sha256(prompt.encode()).digest()
    return digest[0], digest[1], digest[2]


def make_png(
    colour: RGB = (128, 128, 128),
    size: tuple[int, int] = (64, 64),
    *,
    seed: str | None = None,
    fmt: str = "PNG",
) -> bytes:
    """A solid-colour image; ``seed`` paints a few pixels so bytes differ per seed."""
    image = Image.new("RGB", size, colour)
    if seed is not None:
        digest = hashlib.sha256(seed.encode()).digest()
        width = size[0]
        # One row of 8 pixels in the corner: "mostly <colour>" still holds.
        for i in range(min(8, width)):
            image.putpixel((i, 0), (digest[3 * i], digest[3 * i + 1], digest[3 * i + 2]))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def png_for_prompt(prompt: str, *, seed: str, size: tuple[int, int] = (64, 64)) -> bytes:
    return make_png(colour_for_prompt(prompt), size, seed=seed)


def dominant_colour(data: bytes) -> RGB:
    """Most common colour of an image (tests check "the red prompt made a red image")."""
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=rgb.width * rgb.height)
    assert colours is not None
    _count, colour = max(colours, key=lambda c: c[0])
    return colour  # type: ignore[return-value]


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def is_png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n")
