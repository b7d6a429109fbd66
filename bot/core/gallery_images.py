"""Pictures for the gallery, with Pillow (run on ``ImageWorker``, never on the event loop): a small
thumbnail kept with each share, and a grid of them for /gallery answers and the weekly post."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image

from bot.core.images import inspect_image
from bot.core.limits import THUMBNAIL_PIXELS, WEB_THUMBNAIL_PIXELS

GRID_COLUMNS = 5
GRID_GAP = 4
GRID_BACKGROUND = (30, 31, 34)  # Discord's dark theme, so the gaps disappear


def thumbnail(data: bytes) -> bytes:
    """A JPEG at most THUMBNAIL_PIXELS on its longer side. Raises NotAnImage."""
    inspect_image(data)
    with Image.open(io.BytesIO(data)) as original:
        image = original.convert("RGB")
    image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def grid(thumbnails: list[bytes]) -> bytes:
    """Thumbnails side by side, in rows of GRID_COLUMNS, in the order given, as a PNG."""
    if not thumbnails:
        raise ValueError("no thumbnails")
    cell = THUMBNAIL_PIXELS
    columns = min(GRID_COLUMNS, len(thumbnails))
    rows = math.ceil(len(thumbnails) / columns)
    size = (columns * cell + (columns - 1) * GRID_GAP, rows * cell + (rows - 1) * GRID_GAP)
    canvas = Image.new("RGB", size, GRID_BACKGROUND)
    for index, data in enumerate(thumbnails):
        with Image.open(io.BytesIO(data)) as thumb:
            tile = thumb.convert("RGB")
        x = (index % columns) * (cell + GRID_GAP) + (cell - tile.width) // 2
        y = (index // columns) * (cell + GRID_GAP) + (cell - tile.height) // 2
        canvas.paste(tile, (x, y))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# The formats the web gallery serves as they are; anything else is stored as PNG.
WEB_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}


@dataclass(frozen=True)
class WebCopy:
    thumbnail: bytes  # WebP, at most WEB_THUMBNAIL_PIXELS on its longer side
    full: bytes
    full_extension: str  # png, jpg, webp or gif: from what the bytes are, never from a name


def web_copy(data: bytes) -> WebCopy:
    """The web gallery's copies of a shared image. Raises NotAnImage."""
    info = inspect_image(data)
    with Image.open(io.BytesIO(data)) as original:
        has_alpha = original.mode in ("RGBA", "LA", "PA") or "transparency" in original.info
        image = original.convert("RGBA" if has_alpha else "RGB")  # a GIF: its first frame
    full, extension = data, WEB_FORMATS.get(info.format)
    if extension is None:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        full, extension = buffer.getvalue(), "png"
    image.thumbnail((WEB_THUMBNAIL_PIXELS, WEB_THUMBNAIL_PIXELS), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=80, method=4)
    return WebCopy(buffer.getvalue(), full, extension)
