"""One small pack per commit: Git's pack format v2 and its index (``.idx``) v2, written here.

Why a pack: a release commit makes five or six new objects. As loose objects they are five or six
files in as many fan-out directories, each to be flushed on its own (with its directory) before
the branch may point at them. As a pack they are two files in one directory: the ``.pack`` and
its ``.idx``, flushed together, then the directory once. Git and libgit2 read such packs like
any other, and a periodic geometric repack (``_maintenance``) folds them into fewer, larger ones.

The format, as Git documents it (``gitformat-pack``): a pack is ``PACK``, version 2 and the
object count, then each object as a type-and-size header followed by its zlib-compressed
content (no deltas here: the objects are small and new), then the SHA-1 of all that. Its index
is a magic number and version, a 256-entry fan-out table (how many ids start with a byte <= i),
the sorted ids, the CRC-32 of each object's bytes in the pack, their offsets, the pack's
checksum, and the SHA-1 of the index itself. The pair is named after the pack's checksum.

Both files are written under temporary names (``tmp_pack_*``, ``tmp_idx_*``, names Git's own
cleanup knows) and renamed into place only once their content is flushed: a reader never sees a
half-written pack, and a crash leaves at worst temporary files, never a named pack that is torn.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

from agentfsm.releases._objects import GitObject

_IDX_MAGIC = b"\xfftOc"
_MAX_OFFSET = 0x7FFFFFFF  # larger offsets need the index's 64-bit table; ours never get there


def _object_header(kind: int, size: int) -> bytes:
    """The type-and-size header: 3 bits of type, then the size 4 bits, then 7 bits at a time."""
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    out = bytearray()
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def encode_pack(objects: Sequence[GitObject]) -> tuple[bytes, bytes]:
    """The pack and index files holding ``objects`` (each id at most once).

    Returns:
        ``(pack, idx)``: the two files' contents. The pack's checksum is ``pack[-20:]``.

    Raises:
        ValueError: an id appears twice, or the pack would need 64-bit offsets.
    """
    parts = [b"PACK", struct.pack(">II", 2, len(objects))]
    offset = 12
    entries: list[tuple[bytes, int, int]] = []  # (id, crc32, offset)
    for obj in objects:
        # A small window and little memory: the objects are a few hundred bytes, and setting up
        # zlib's default 32 KiB window costs more than compressing them. Any zlib stream is
        # fine to Git's inflate.
        deflate = zlib.compressobj(1, zlib.DEFLATED, 12, 4)
        compressed = deflate.compress(obj.data) + deflate.flush()
        packed = _object_header(obj.kind, len(obj.data)) + compressed
        if offset > _MAX_OFFSET:
            raise ValueError("a single-commit pack larger than 2 GiB is not supported")
        entries.append((obj.id, zlib.crc32(packed), offset))
        parts.append(packed)
        offset += len(packed)
    body = b"".join(parts)
    checksum = hashlib.sha1(body).digest()
    pack = body + checksum

    entries.sort()
    ids = [e[0] for e in entries]
    if len(set(ids)) != len(ids):
        raise ValueError("an object appears twice in one pack")
    fanout = [0] * 256
    for oid in ids:
        fanout[oid[0]] += 1
    running = 0
    for i in range(256):
        running += fanout[i]
        fanout[i] = running
    n = len(entries)
    idx_body = b"".join(
        [
            _IDX_MAGIC,
            struct.pack(">I", 2),
            struct.pack(">256I", *fanout),
            *ids,
            struct.pack(f">{n}I", *(e[1] for e in entries)),
            struct.pack(f">{n}I", *(e[2] for e in entries)),
            checksum,
        ]
    )
    return pack, idx_body + hashlib.sha1(idx_body).digest()


def _write_new(path: Path, data: bytes) -> int:
    """Create ``path`` (it must not exist), write ``data``; return the open descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o444)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    return fd


class StagedPack:
    """A pack and its index written under temporary names, not yet flushed nor in place.

    Use: ``fds()`` to flush them, then ``install()``; or ``discard()``. Always ``close()``.
    """

    def __init__(self, pack_dir: Path, objects: Sequence[GitObject]) -> None:
        pack, idx = encode_pack(objects)
        name = f"pack-{pack[-20:].hex()}"
        token = os.urandom(6).hex()
        self.dir = pack_dir
        self.pack_path = pack_dir / f"{name}.pack"
        self.idx_path = pack_dir / f"{name}.idx"
        self._tmp_pack = pack_dir / f"tmp_pack_{token}"
        self._tmp_idx = pack_dir / f"tmp_idx_{token}"
        self._fds: list[int] = []
        self._installed = False
        try:
            self._fds.append(_write_new(self._tmp_pack, pack))
            self._fds.append(_write_new(self._tmp_idx, idx))
        except BaseException:
            self.discard()
            raise

    def fds(self) -> list[int]:
        """The open descriptors of the two temporary files (to flush)."""
        return list(self._fds)

    def install(self) -> None:
        """Move the pack, then its index, to their real names (readers look for the index)."""
        os.replace(self._tmp_pack, self.pack_path)
        os.replace(self._tmp_idx, self.idx_path)
        self._installed = True

    def discard(self) -> None:
        """Remove the temporary files (after a failure)."""
        self.close()
        if not self._installed:
            self._tmp_pack.unlink(missing_ok=True)
            self._tmp_idx.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the descriptors."""
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)
