"""The image copies on disk: named by generation id only, written atomically, deleted at once."""

from __future__ import annotations

import os

import pytest

from bot.store.files import FileImageCopies

GID = "7c1d0e7e-5b7a-4c1e-9b0a-2f3d4e5f6a7b"


async def test_saved_found_and_deleted(tmp_path):
    copies = FileImageCopies(tmp_path / "gallery")
    await copies.save(GID, thumbnail=b"thumb", full=b"full", full_extension="png")
    thumb = await copies.find(GID, "thumb")
    full = await copies.find(GID, "full", "png")
    assert thumb == tmp_path / "gallery" / "7c" / f"{GID}.thumb.webp"
    assert full is not None and full.read_bytes() == b"full" and thumb.read_bytes() == b"thumb"
    assert await copies.find(GID, "full", "jpg") is None
    assert [p.name for p in (tmp_path / "gallery" / "7c").iterdir() if p.name.startswith(".")] == []
    await copies.delete(GID)
    assert await copies.find(GID, "thumb") is None and await copies.find(GID, "full", "png") is None
    await copies.delete(GID)  # nothing left to delete: fine


async def test_a_second_save_replaces_the_files_whole(tmp_path):
    copies = FileImageCopies(tmp_path)
    await copies.save(GID, thumbnail=b"a" * 1000, full=b"b" * 1000, full_extension="webp")
    await copies.save(GID, thumbnail=b"c", full=b"d", full_extension="webp")
    full = await copies.find(GID, "full", "webp")
    assert full is not None and full.read_bytes() == b"d"


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "", ".hidden", "x" * 200, "a b", "é"])
async def test_only_plain_generation_ids_name_files(tmp_path, bad):
    copies = FileImageCopies(tmp_path)
    with pytest.raises(ValueError):
        await copies.save(bad, thumbnail=b"t", full=b"f", full_extension="png")
    assert await copies.find(bad, "thumb") is None
    assert list(tmp_path.iterdir()) == []


async def test_only_image_extensions(tmp_path):
    copies = FileImageCopies(tmp_path)
    with pytest.raises(ValueError):
        await copies.save(GID, thumbnail=b"t", full=b"f", full_extension="html")
    assert await copies.find(GID, "full", "html") is None


async def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    copies = FileImageCopies(tmp_path)

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        await copies.save(GID, thumbnail=b"t", full=b"f", full_extension="png")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
