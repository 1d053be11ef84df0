"""The file store behind ``/files/``: artifacts, models and debug images the SDK uploads.

Files live under one root directory (``<data_dir>/files`` or ``SKIFF_FILES_DIR``), in one area
per company (``<root>/<company id>/``), named by the relative paths of ``skiff.domain.files``.
Every operation resolves symlinks and refuses a target whose real location is outside the
caller's area (so neither ``..`` nor a symlink reaches the root, another company or beyond). Writes go to a temporary file in the target directory and
are renamed into place, so readers see the old file or the new one, never a partial one.

    FileStoreError            carries an HTTP status for the files endpoint
      UnsafePathError 400     the path leaves the company's area (.., symlink escape) or is malformed
      FileMissing 404         no such file
      FileConflict 409        a directory is in the way, or a file where a directory must be
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from skiff.domain.files import UnsafePath, company_area, join_parts

_TMP_PREFIX = ".skiff-upload-"


class FileStoreError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsafePathError(FileStoreError):
    status = 400


class FileMissing(FileStoreError):
    status = 404


class FileConflict(FileStoreError):
    status = 409


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # path resolution ------------------------------------------------------------------------------
    def _inside(self, real_root: str, path: Path) -> bool:
        real = os.path.realpath(path)
        return real == real_root or real.startswith(real_root + os.sep)

    def _target(self, company: str, parts: tuple[str, ...]) -> tuple[str, Path]:
        """(the real path of ``company``'s area, the target path inside it)."""
        if not parts:
            raise UnsafePathError("a file path is required")
        try:
            area = self.root / company_area(company)
        except UnsafePath as exc:
            raise unsafe(exc) from None
        area.mkdir(parents=True, exist_ok=True)
        real_area = os.path.realpath(area)
        target = area.joinpath(*parts)
        # realpath resolves every symlink that exists on the way; the rest stays lexical
        if not self._inside(real_area, target.parent) or not self._inside(real_area, target):
            raise UnsafePathError("the path leaves the files area")
        return real_area, target

    # use cases -------------------------------------------------------------------------------------
    def save(self, company: str, parts: tuple[str, ...], source: BinaryIO) -> str:
        """Store ``source`` (read from its current position) at ``parts`` in ``company``'s area;
        overwrite an old file."""
        real_root, target = self._target(company, parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise FileConflict("a file is in the way of the target directory") from None
        if not self._inside(real_root, target.parent):  # a symlink appeared while creating
            raise UnsafePathError("the path leaves the files area")
        if target.is_dir() and not target.is_symlink():
            raise FileConflict("a directory exists at the target path")
        temp = target.parent / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            with open(temp, "xb") as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
            os.replace(temp, target)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise FileStoreError(f"cannot store the file: {exc.strerror or type(exc).__name__}") from None
        return join_parts(parts)

    def locate(self, company: str, parts: tuple[str, ...]) -> Path:
        """The existing regular file at ``parts`` in ``company``'s area."""
        _, target = self._target(company, parts)
        if not target.is_file() or parts[-1].startswith(_TMP_PREFIX):
            raise FileMissing(f"file not found: {join_parts(parts)}")
        return target

    def delete(self, company: str, parts: tuple[str, ...]) -> str:
        target = self.locate(company, parts)
        try:
            target.unlink()
        except FileNotFoundError:
            raise FileMissing(f"file not found: {join_parts(parts)}") from None
        return join_parts(parts)


    # installs from before per-company areas ------------------------------------------------------
    def adopt_legacy(self, company: str, companies: set[str]) -> list[str]:
        """Move the top-level entries of a root laid out before per-company areas (anything that
        is not the area of one of ``companies``) into ``company``'s area; an entry whose name is
        already taken there stays where it is. Returns the names moved."""
        if not self.root.is_dir():
            return []
        areas = {company_area(c) for c in companies if c}
        legacy = [e for e in sorted(os.listdir(self.root)) if e not in areas and not e.startswith(_TMP_PREFIX)]
        if not legacy:
            return []
        area = self.root / company_area(company)
        area.mkdir(parents=True, exist_ok=True)
        moved = []
        for name in legacy:
            if not os.path.lexists(area / name):
                os.rename(self.root / name, area / name)
                moved.append(name)
        return moved


def unsafe(exc: UnsafePath) -> UnsafePathError:
    return UnsafePathError(str(exc))
