"""Writing a file so that it is complete or absent, never half-written.

The bytes go to a temporary file in the destination's folder, are flushed to disk,
and the file is renamed (or hard-linked, when an existing file must not be replaced)
onto the destination: an interrupted or failing write (a full disk, Ctrl-C) leaves
the destination as it was and no temporary file behind. Every problem is a
`WriteError` whose message is one line starting with "tfnq: ".
"""

import os
import secrets

__all__ = ["WriteError", "write_bytes_atomic"]


class WriteError(ValueError):
    """An output that cannot be written; the message is one line starting with "tfnq: "."""


def _describe_os_error(error):
    """The human-readable part of an `OSError`, without the repeated file name."""
    if error.strerror:
        return error.strerror.lower() if error.strerror[:1].isupper() else error.strerror
    return " ".join(str(error).split()) or type(error).__name__


def _fsync_directory(directory):
    """Flushes a directory entry to disk where the platform supports it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temp_file(directory, basename):
    """Creates a new, empty temporary file next to the destination.

    The file is created with `O_EXCL` and mode 0o666 (minus the umask), so the
    final output gets the same permissions as an ordinarily created file.

    Returns:
        A tuple (file descriptor, temporary path).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temp_path = os.path.join(directory, f".{basename}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temp_path, flags, 0o666), temp_path
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")


def _write(path, data, force):
    """Writes `data` to `path` atomically.

    The bytes go to a temporary file in the destination directory, which is
    fsync'ed and then renamed onto `path`. On any failure (including
    `KeyboardInterrupt`) the temporary file is removed and `path` is left
    untouched.

    Args:
        path: Destination path (str or path-like).
        data: The bytes to write.
        force: Whether an existing `path` may be replaced.

    Raises:
        WriteError: If `path` exists and `force` is false, or on any OS error.
    """
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise WriteError("tfnq: empty output path")
    if os.path.isdir(path):
        raise WriteError(f"tfnq: {path} is a directory")
    if not force and os.path.lexists(path):
        raise WriteError(f"tfnq: {path} exists (use --force to overwrite)")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise WriteError(f"tfnq: cannot write {path}: directory {directory} does not exist")

    temp_path = None
    try:
        fd, temp_path = _create_temp_file(directory, os.path.basename(path))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(temp_path, path)
        else:
            # Hard-linking fails if `path` has appeared in the meantime, which
            # makes the no-overwrite check race-free where links are supported.
            try:
                os.link(temp_path, path)
            except FileExistsError:
                raise WriteError(f"tfnq: {path} exists (use --force to overwrite)") from None
            except OSError:
                if os.path.lexists(path):
                    raise WriteError(
                        f"tfnq: {path} exists (use --force to overwrite)") from None
                os.replace(temp_path, path)
            else:
                os.unlink(temp_path)
        temp_path = None
        _fsync_directory(directory)
    except OSError as e:
        raise WriteError(f"tfnq: cannot write {path}: {_describe_os_error(e)}") from None
    finally:
        if temp_path is not None:
            try:
                os.unlink(temp_path)
            except OSError:
                pass




def write_bytes_atomic(path, data, force=False):
    """Writes bytes to a file atomically (e.g. a compressed bit stream).

    Args:
        path: Destination path (str or path-like).
        data: A bytes-like object.
        force: Whether an existing file at `path` may be overwritten.

    Raises:
        WriteError: If `path` exists and `force` is false, or if the file cannot
            be written. No partial output or temporary file is left behind on
            failure.
        TypeError: If `data` is not bytes-like.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes-like, got {type(data).__name__}")
    _write(path, bytes(data), force)
