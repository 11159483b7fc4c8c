"""The record of ``host.offset``: how far the host read a session's request log, with a
checksum (docs/protocol.md, "The journal"). The worker reads it too, to know which retired
generations of its request log the host no longer needs."""

from __future__ import annotations

import zlib
from typing import Optional

__all__ = ["RECORD_WIDTH", "decode_record", "encode_record"]

RECORD_WIDTH = 51  # "%020d %020d %08x\n"


def encode_record(claimed: int, done: int) -> bytes:
    body = b"%020d %020d" % (claimed, done)
    return body + b" %08x\n" % zlib.crc32(body)


def decode_record(raw: bytes) -> Optional[tuple[int, int]]:
    """(claimed, done) of a record, or None when it is not one (a checksum that fails too)."""
    parts = raw.split()
    if len(parts) == 2 and raw == b"%020d %020d\n" % _ints(parts):
        claimed, done = _ints(parts)  # written before records had a checksum
        return max(claimed, done), done
    if len(parts) != 3 or len(parts[2]) != 8:
        return None
    try:
        claimed, done, check = int(parts[0]), int(parts[1]), int(parts[2], 16)
    except ValueError:
        return None
    body = b"%020d %020d" % (claimed, done)
    if zlib.crc32(body) != check or claimed < 0 or done < 0 or parts[0] + b" " + parts[1] != body:
        return None
    return max(claimed, done), done


def _ints(parts: list[bytes]) -> tuple[int, int]:
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return -1, -1
