"""Writing files so that nothing is lost: atomically, never overwriting
unless asked."""
from __future__ import annotations

import errno
import os
import os.path as osp
import tempfile
from typing import Iterable, Optional, Union

__all__ = ['atomic_write_bytes', 'atomic_write_text']

_UMASK: Optional[int] = None


def _file_mode() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return 0o666 & ~_UMASK


def _exists_error(path: str) -> FileExistsError:
    return FileExistsError(
        errno.EEXIST, 'already exists (pass overwrite=True, or --overwrite '
        'on the command line, to replace it)', path)


def atomic_write_bytes(path: str, data: Union[bytes, Iterable[bytes]],
                       overwrite: bool = False) -> None:
    """Write a file atomically: a temporary file in the same folder, renamed.

    Readers see either the old file or the complete new one, never a partial
    write; an interrupted write leaves no output file behind. Without
    ``overwrite`` an existing file is never replaced, even when it appears
    while the data is being written (the new file is hard-linked into place,
    which fails when the name exists).

    Args:
        path (str): The file to write; its folder is created if needed.
        data (bytes | Iterable[bytes]): The content, or an iterable of
            chunks written one after the other (so a large file can be
            produced without holding it in memory).
        overwrite (bool): Replace an existing file. Defaults to False.

    Raises:
        FileExistsError: When ``path`` exists and ``overwrite`` is False.
    """
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if not overwrite and osp.lexists(path):
        raise _exists_error(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            elif isinstance(data, str):
                raise TypeError(f'{path}: data must be bytes, not str')
            else:
                for chunk in data:
                    f.write(chunk)
        os.chmod(tmp, _file_mode())
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise _exists_error(path) from None
        except OSError:
            # No hard links on this file system: check, then rename.
            if osp.lexists(path):
                raise _exists_error(path) from None
            os.replace(tmp, path)
    finally:
        if osp.lexists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str, text: str, overwrite: bool = False) -> None:
    """Write UTF-8 text atomically; see :func:`atomic_write_bytes`.

    Args:
        path (str): The file to write.
        text (str): The content.
        overwrite (bool): Replace an existing file. Defaults to False.

    Raises:
        FileExistsError: When ``path`` exists and ``overwrite`` is False.
    """
    atomic_write_bytes(path, text.encode('utf-8'), overwrite=overwrite)
