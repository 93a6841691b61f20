"""The one way outputs are written: to a temporary name beside the target, then renamed, so
a reader never sees half a file and a failed or killed job leaves the old output (or
nothing) in place."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it replaces ``path``
    (a file, or with ``folder=True`` a folder that the writer creates), on failure it is
    removed. The parent folder is created if needed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    else:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        # mkstemp makes the file private (0600); an output gets the usual permissions, as
        # open() would give it, so other users and downstream jobs can read it
        os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        if folder and target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_outputs(
    outputs: dict[str, str | os.PathLike[str] | None],
    inputs: dict[str, str | os.PathLike[str] | None],
    folders: tuple[str, ...] = (),
    either: bool = False,
) -> None:
    """Before any work: every output can be written and none is (or holds, or sits in) an
    input. ``outputs`` / ``inputs``: option name -> path (None: not given); ``folders``:
    the outputs that are folders; ``either``: outputs may be files or folders (Spark's
    Parquet datasets replace either). Raises `ForecastingError` naming the option and path.
    """
    from forecasting.errors import ForecastingError

    given = {flag: Path(p).expanduser().resolve() for flag, p in inputs.items() if p}
    for flag, raw in outputs.items():
        if not raw:
            continue
        target = Path(raw).expanduser().resolve()
        for in_flag, source in given.items():
            if target == source or source.is_relative_to(target) or target.is_relative_to(source):
                raise ForecastingError(
                    f"{flag} {raw} would overwrite the input {in_flag} {inputs[in_flag]}: "
                    "write the output elsewhere (nothing was touched)"
                )
        if target.is_dir() and flag not in folders and not either:
            raise ForecastingError(f"{flag} {raw} is a folder: give a file name")
        if target.exists() and not target.is_dir() and flag in folders and not either:
            raise ForecastingError(f"{flag} {raw} is a file: give a folder")
        parent = target.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise ForecastingError(f"{flag} {raw}: {parent} is a file, not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ForecastingError(f"{flag} {raw}: cannot write in {parent} (permission denied)")
