"""Writing files so that nothing is lost: atomically, never overwriting
unless asked."""
from __future__ import annotations

import contextlib
import errno
import os
import os.path as osp
import shutil
import tempfile
from typing import Iterable, Iterator, Optional, Union

__all__ = ['atomic_output', 'atomic_write_bytes', 'atomic_write_text']

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


def _publish(tmp: str, path: str, overwrite: bool) -> None:
    """Move the finished ``tmp`` to ``path``; without ``overwrite`` the name
    is claimed with a hard link, which fails when it exists (no window
    between checking and renaming)."""
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


@contextlib.contextmanager
def atomic_output(path: Union[str, os.PathLike],
                  overwrite: bool = False) -> Iterator[str]:
    """A temporary path to write ``path`` through, published on success.

    For writers that need a file name rather than bytes (GDAL, pyogrio):
    the body writes the temporary path, which lies in a private folder next
    to ``path`` (same file system, same extension, so drivers chosen by
    extension work); when the body ends without an error the file is moved
    into place as :func:`atomic_write_bytes` does, and on any error nothing
    is left behind.

    Args:
        path (str | PathLike): The file to produce; its folder is created.
        overwrite (bool): Replace an existing file. Defaults to False.

    Yields:
        str: The temporary path to write.

    Raises:
        FileExistsError: When ``path`` exists (before or after the body)
            and ``overwrite`` is False.
    """
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if not overwrite and osp.lexists(path):
        raise _exists_error(path)
    scratch = tempfile.mkdtemp(prefix=f'.{osp.basename(path)}.', dir=folder)
    try:
        tmp = osp.join(scratch, osp.basename(path))
        yield tmp
        if not osp.exists(tmp):
            raise FileNotFoundError(
                errno.ENOENT, 'the writer produced no file', tmp)
        os.chmod(tmp, _file_mode())
        _publish(tmp, path, overwrite)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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
        _publish(tmp, path, overwrite)
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


class SpillFile:
    """An unnamed temporary file (``tempfile``'s folder: ``TMPDIR``) that
    holds arrays between the moments they are made and used, at offsets
    the caller chooses, so that the process does not hold them in memory
    (the system may keep the pages in its cache, which it can reclaim).
    The bytes come back as written.

    Args:
        what (str): What the file holds, for error messages.
        folder (str, optional): Where the file is made (unnamed: nothing is
            left there, even after a crash). Defaults to ``tempfile``'s
            folder (``TMPDIR``).
    """

    def __init__(self, what: str, folder: Optional[str] = None) -> None:
        self.what, self.folder = what, folder
        try:
            self.folder = folder or tempfile.gettempdir()
            self.file = tempfile.TemporaryFile(prefix='.sia-spill-',
                                               dir=self.folder)
        except OSError as e:
            where = f' in {self.folder}' if self.folder else ''
            raise OSError(e.errno, f'could not make a temporary file{where} '
                          f'for {what} (set TMPDIR to a writable folder): '
                          f'{e.strerror or e}') from e

    def _error(self, e: OSError, doing: str) -> OSError:
        return OSError(e.errno, f'could not {doing} {self.what} in a '
                       f'temporary file in {self.folder}: {e.strerror}')

    def _move(self, offset: int, array, call, doing: str, short: str
              ) -> None:
        # Until every byte of the array is moved: a call may move fewer.
        if not array.nbytes:
            return
        view = memoryview(array).cast('B')
        try:
            while len(view):
                done = call(self.file.fileno(), view, offset)
                if done <= 0:
                    raise OSError(errno.EIO, short)
                view, offset = view[done:], offset + done
        except OSError as e:
            raise self._error(e, doing) from e

    def write(self, offset: int, array) -> None:
        """Write the bytes of a C-contiguous ``array`` at ``offset``."""
        self._move(offset, array, os.pwrite, 'keep', 'nothing was written')

    def read_into(self, offset: int, array) -> None:
        """Fill the C-contiguous ``array`` from the bytes at ``offset``."""
        self._move(offset, array,
                   lambda fd, view, at: os.preadv(fd, [view], at),
                   'read back', 'the file ended early')

    @property
    def size(self) -> int:
        """Bytes in the file."""
        return os.fstat(self.file.fileno()).st_size

    def close(self) -> None:
        self.file.close()
