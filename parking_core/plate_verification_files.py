"""Vehicle-licence evidence files: the type told by the first bytes (never the name or the header the client
sent), a size limit, and storage under the content's SHA-256 in a folder the web server never serves."""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from parking_core.errors import InvalidInput, ParkingError

# What a photo of a 行驶证 or a scan of it is; anything else (HTML, SVG, executables, archives) is refused.
MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"%PDF-", "application/pdf"))


class EvidenceTooLarge(ParkingError):
    code = "evidence_too_large"
    http_status = 413


class EvidenceGone(ParkingError):
    """The row is there, the file is not (removed, or changed on disk): nothing is served."""

    code = "evidence_gone"
    http_status = 410


@dataclass(frozen=True)
class StoredFile:
    content_type: str
    size: int
    sha256: str


def sniff(content: bytes, *, max_bytes: int) -> str:
    """The content type by magic bytes; 413 over the limit, 422 for an empty file or another type."""
    if len(content) > max_bytes:
        raise EvidenceTooLarge(f"evidence: {len(content)} bytes, at most {max_bytes}", field="evidence", value=len(content),
                               limit=max_bytes)
    for magic, content_type in MAGIC:
        if content.startswith(magic):
            return content_type
    raise InvalidInput("evidence: not a JPEG, PNG or PDF file (judged by its content)", field="evidence",
                       value=content[:8].hex())


def store(folder: Path, content: bytes, *, max_bytes: int) -> StoredFile:
    """Write the file once under its hash (atomically; the same file twice is one copy)."""
    content_type = sniff(content, max_bytes=max_bytes)
    digest = hashlib.sha256(content).hexdigest()
    path = path_of(folder, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, path)
    return StoredFile(content_type, len(content), digest)


def path_of(folder: Path, digest: str) -> Path:
    return folder / digest[:2] / digest


def load(folder: Path, digest: str) -> bytes:
    """The file's bytes, checked against its hash (a file changed on disk is refused, not served)."""
    try:
        content = path_of(folder, digest).read_bytes()
    except FileNotFoundError:
        raise EvidenceGone(f"evidence file {digest[:12]}… is missing from the evidence folder", field="evidence",
                           value=digest[:12]) from None
    if hashlib.sha256(content).hexdigest() != digest:
        raise EvidenceGone(f"evidence file {digest[:12]}… does not match its hash", field="evidence", value=digest[:12])
    return content


__all__ = ["EvidenceGone", "EvidenceTooLarge", "StoredFile", "load", "path_of", "sniff", "store"]
