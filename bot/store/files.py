"""The bot's own copies of shared images, as files (bot.core.ports.ImageCopies): the web gallery
serves these, never a Discord CDN link (those expire).

Under one folder (GALLERY_FILES_DIR: by default ``gallery`` beside the SQLite file, so in the
Docker volume), each image in a subfolder named by the first two characters of its generation
id: ``ab/abcdef…​.thumb.webp`` and ``ab/abcdef…​.full.png``. Names come only from generation ids
(Oxen's) and a fixed set of extensions, never from anything a person typed; an id that is not
a plain one is refused. Every file is written to a temporary name, flushed to disk and renamed
over the final one, so a reader (or a crash) never sees half a file. All of it runs on a thread,
off the event loop. Several bot processes (on one PostgreSQL database) must share the folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from pathlib import Path
from typing import Literal

FULL_EXTENSIONS = ("png", "jpg", "webp", "gif")
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


class FileImageCopies:
    def __init__(self, root: Path) -> None:
        self.root = root

    async def save(
        self, generation_id: str, *, thumbnail: bytes, full: bytes, full_extension: str
    ) -> None:
        if full_extension not in FULL_EXTENSIONS:
            raise ValueError(f"not an image extension the gallery serves: {full_extension!r}")
        folder = self._folder(generation_id)
        await asyncio.to_thread(self._save, folder, generation_id, thumbnail, full, full_extension)

    async def delete(self, generation_id: str) -> None:
        folder = self._folder(generation_id)
        await asyncio.to_thread(self._delete, folder, generation_id)

    async def find(
        self, generation_id: str, which: Literal["thumb", "full"], full_extension: str = ""
    ) -> Path | None:
        if not _SAFE_ID.fullmatch(generation_id):
            return None
        if which == "thumb":
            name = f"{generation_id}.thumb.webp"
        elif full_extension in FULL_EXTENSIONS:
            name = f"{generation_id}.full.{full_extension}"
        else:
            return None
        path = self._folder(generation_id) / name
        return path if await asyncio.to_thread(path.is_file) else None

    def _folder(self, generation_id: str) -> Path:
        if not _SAFE_ID.fullmatch(generation_id):
            raise ValueError("not a generation id that can name a file")
        return self.root / generation_id[:2].lower()

    @staticmethod
    def _save(folder: Path, gid: str, thumbnail: bytes, full: bytes, extension: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(folder / f"{gid}.full.{extension}", full)
        _write_atomically(folder / f"{gid}.thumb.webp", thumbnail)

    @staticmethod
    def _delete(folder: Path, gid: str) -> None:
        for name in (f"{gid}.thumb.webp", *(f"{gid}.full.{ext}" for ext in FULL_EXTENSIONS)):
            (folder / name).unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
