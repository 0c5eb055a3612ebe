"""Atomic file writes: write a temporary file next to the target, then rename it over the target."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from .._shared import UnpickInputError

logger = logging.getLogger(__name__)

#: Suffix of in-progress files; no data glob (``*.mrc``, ``*.csv``) matches it, so a killed write
#: never looks like a finished output. Leftovers from killed runs can be removed by this pattern.
TEMP_SUFFIX = ".unpick-tmp"
#: Errors of the destination, not of the program: a full disk or quota, a read-only or forbidden folder.
UNWRITABLE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the directory of ``path``; rename it over ``path`` on success.

    The caller writes the complete file to the yielded path (which does not exist yet). When the
    ``with`` block ends normally, the file is moved over ``path`` with :func:`os.replace` (atomic on
    POSIX and Windows within one filesystem); if the block raises, the temporary file is removed and
    ``path`` is left as it was. Readers therefore see either the old file or the complete new one.

    Parameters
    ----------
    path : str or os.PathLike
        Final location of the file. Its directory must exist.

    Yields
    ------
    pathlib.Path
        Temporary path ``.<name>.<random>.unpick-tmp`` in the same directory.

    Raises
    ------
    UnpickInputError
        If the directory of ``path`` does not exist or ``path`` is a directory, or the write fails
        because the disk is full or the folder is read-only (one line naming ``path``).
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise UnpickInputError(
            f"{target}: output directory {target.parent} does not exist; create it first"
        )
    if target.is_dir():
        raise UnpickInputError(f"{target}: is a directory, expected a file path to write")
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}{TEMP_SUFFIX}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"atomic_write: nothing was written to the temporary file {tmp}")
        os.replace(tmp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):  # the cleanup must never hide the error that stopped the write
            tmp.unlink()
        if isinstance(err, OSError) and err.errno in UNWRITABLE_ERRNOS:
            raise UnpickInputError(
                f"{target}: cannot write ({os.strerror(err.errno)}); free disk space or choose a writable "
                "output folder, then run again (finished outputs are kept)"
            ) from err
        raise
    logger.debug("wrote %s", target)
