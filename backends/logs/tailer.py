"""Following one log file: by offset and inode, through rename and copytruncate rotation.

A `FileFollower` keeps the file open and remembers where it stopped. Each `read()` returns
only the complete lines written since the previous one. When the path now names another
file (renamed and recreated), the rest of the old file is read first; when the file got
shorter (copytruncate), reading restarts at its beginning. A file that does not exist yet
is waited for; an unreadable one is reported in plain words. Every byte read is counted.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1024 * 1024
MAX_LINE = 256 * 1024


@dataclass(frozen=True)
class Position:
    """Where reading stopped in which file: enough to resume in another process."""

    dev: int
    inode: int
    offset: int


def permission_message(path: str) -> str:
    return (f"permission denied: user {getpass.getuser()} cannot read {path} "
            "(give it read access, e.g. add it to the file's group, or run as the owner)")


class FileFollower:
    """Reads the new complete lines of one file on each call, surviving rotation."""

    def __init__(self, path: str, *, from_end: bool = True, chunk: int = CHUNK) -> None:
        self.path = path
        self.chunk = chunk
        self.status: str | None = None  # why nothing can be read right now, in plain words
        self.bytes_read = 0
        self.rotations = 0
        self._from_end = from_end
        self._file: BinaryIO | None = None
        self._ident: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._resume: Position | None = None
        self._back = 0
        self.resumed = False  # whether the first open continued from a remembered position

    # -- starting points ------------------------------------------------------------------
    def resume_at(self, position: Position) -> None:
        """Continue where another run stopped, if the path still names that file."""
        self._resume = position

    def start_with_tail(self, back: int) -> None:
        """On first open, also read the last `back` bytes (whole lines only)."""
        self._back = back

    @property
    def position(self) -> Position | None:
        """The offset after the last complete line returned, for the next run."""
        if self._ident is None:
            return None
        return Position(self._ident[0], self._ident[1], self._offset - len(self._partial))

    # -- reading --------------------------------------------------------------------------
    def read(self, limit: int | None = None) -> list[bytes]:
        """The complete lines written since the last call (at most about `limit` bytes)."""
        block = self.read_block(limit)
        return block.split(b"\n")[:-1] if block else []

    def read_block(self, limit: int | None = None) -> bytes:
        """Like `read`, as one bytes object of whole lines, each ending with a newline."""
        lines: list[bytes] = []
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            if self._file is not None:  # renamed away: what is left in it still counts
                lines += self._drain(None)
                self._close()
            self._from_end = False  # when it appears, every line of it is new
            self.status = f"waiting for file {self.path} (it does not exist yet)"
            return b"".join(lines)
        except PermissionError:
            self.status = permission_message(self.path)
            return b"".join(lines)
        if self._file is not None and self._ident != (current.st_dev, current.st_ino):
            lines += self._drain(None)
            self._close()
            self.rotations += 1
            self._from_end = False  # the new file is read from its first line
        if self._file is None and not self._open():
            return b"".join(lines)
        assert self._file is not None
        size = os.fstat(self._file.fileno()).st_size
        if size < self._offset:  # copytruncate: the same file, emptied
            self._offset = 0
            self._partial = b""
            self.rotations += 1
        lines += self._drain(limit)
        return b"".join(lines)

    def _open(self) -> bool:
        try:
            handle = open(self.path, "rb", buffering=0)  # kept open across reads
        except FileNotFoundError:
            self._from_end = False
            self.status = f"waiting for file {self.path} (it does not exist yet)"
            return False
        except PermissionError:
            self.status = permission_message(self.path)
            return False
        except IsADirectoryError:
            self.status = f"{self.path} is a directory, not a log file"
            return False
        info = os.fstat(handle.fileno())
        self._file = handle
        self._ident = (info.st_dev, info.st_ino)
        self._partial = b""
        self.status = None
        resume, self._resume = self._resume, None
        # a remembered offset far behind (the checks did not run for days) is not worth
        # catching up with: start from the tail as if nothing was remembered
        if resume is not None and (resume.dev, resume.inode) == self._ident \
                and resume.offset <= info.st_size \
                and (not self._back or info.st_size - resume.offset <= 4 * self._back):
            self._offset = resume.offset
            self.resumed = True
        elif self._from_end:
            self._offset = max(0, info.st_size - self._back)
            if self._offset > 0:  # started inside a line: skip to the next whole one
                self._skip_partial_line(info.st_size)
        else:
            self._offset = 0
        self._from_end = False
        return True

    def _skip_partial_line(self, size: int) -> None:
        assert self._file is not None
        self._file.seek(self._offset - 1)
        while self._offset < size:
            block = self._file.read(4096)  # a line start is usually near
            if not block:
                break
            self.bytes_read += len(block)
            newline = block.find(b"\n")
            if newline >= 0:
                self._offset += newline
                return
            self._offset += len(block)

    def _drain(self, limit: int | None) -> list[bytes]:
        """Blocks of whole lines from the offset to the end of the open file (or `limit`)."""
        assert self._file is not None
        blocks: list[bytes] = []
        self._file.seek(self._offset)
        taken = 0
        while limit is None or taken < limit:
            block = self._file.read(self.chunk if limit is None else min(self.chunk, limit - taken))
            if not block:
                break
            taken += len(block)
            self._offset += len(block)
            data = self._partial + block if self._partial else block
            end = data.rfind(b"\n") + 1
            self._partial = data[end:]
            if end:
                blocks.append(data[:end])
            if len(self._partial) > MAX_LINE:  # a runaway line: show it in pieces
                blocks.append(self._partial + b"\n")
                self._partial = b""
        self.bytes_read += taken
        return blocks

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._ident = None
        self._offset = 0
        self._partial = b""

    def close(self) -> None:
        self._close()
