"""Tamper-evident identity: an HMAC-SHA256 of what the bureau put into a workbook.

Sheet protection and the hidden metadata stop accidents, not a person who edits the
XML: another unit's key, a budget ten times larger and metadata edited to match all
read as a genuine return. With a secret only the bureau holds, ``generate`` signs the
workbook's identity (template, version, spec hash, layout version, generation time,
roster key, prefilled values, targets) and ``validate``/``collect`` verify it.

The secret never enters a workbook: the signature names it by a short fingerprint
(the *key id*, the first 8 hex digits of its sha256) so that verification picks the
right one from a file that holds several (rotation: the first line signs, every line
verifies).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import SecretError
from .meta import SIGNATURE_KEY as META_SIGNATURE_KEY
from .meta import TARGETS_KEY as META_TARGETS_KEY

SCHEME = "hmac-sha256"
#: A shorter secret can be guessed; 16 bytes is the least, 32 random bytes (64 hex digits) the advice.
MIN_SECRET_BYTES = 16
#: Where a secret file is named when --secret-file is not given. The secret itself is never taken
#: from the environment: an ``export`` puts it in shell histories and every child process.
ENV_SECRET_FILE = "XLTEMPLATE_SECRET_FILE"
#: The metadata key (and ``xltemplate.signature`` property) that holds the signature; optional.
SIGNATURE_KEY = META_SIGNATURE_KEY


def key_id(secret: bytes) -> str:
    """The short public fingerprint that names a secret in a signature."""
    return hashlib.sha256(secret).hexdigest()[:8]


def identity(meta: Mapping[str, str]) -> dict[str, Any]:
    """What is signed, from the metadata as the workbook records it.

    Every value is the metadata's own text, so generation and verification build the same
    object; the prefilled values are the metadata's JSON, parsed so that the canonical form
    does not depend on how it was spaced.
    """
    return {
        "format": meta.get("format", ""),
        "template_id": meta.get("template_id", ""),
        "template_version": meta.get("template_version", ""),
        "spec_hash": meta.get("spec_hash", ""),
        "layout_version": meta.get("layout_version", ""),
        "generated_at": meta.get("generated_at", ""),
        "roster_key": meta.get("roster_key", ""),
        "prefill": _json(meta.get("prefill")),
        # The workbook's own targets (the national form's per-project indicators); a workbook without
        # them signs an empty mapping, as every workbook did before targets existed.
        "targets": _json(meta.get(META_TARGETS_KEY)) if meta.get(META_TARGETS_KEY) else {},
    }


def canonical(meta: Mapping[str, str]) -> bytes:
    """The signed bytes: the identity as JSON with sorted keys, no spaces, UTF-8."""
    return json.dumps(identity(meta), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json(text: str | None) -> Any:
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text  # a damaged record is signed as it stands: it cannot match a genuine signature


@dataclass(frozen=True)
class Keyring:
    """The bureau's secrets: the first signs, every one verifies. Never printed, never written."""

    source: str  # the file they came from, for messages
    secrets: tuple[bytes, ...] = field(repr=False)

    @property
    def signing_id(self) -> str:
        return key_id(self.secrets[0])

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id(s) for s in self.secrets)

    @property
    def fingerprint(self) -> str:
        """One fingerprint of every secret (in any order), for caches of verdicts made with them.

        Built from each secret's sha256 (whose first 8 hex digits every signature carries as its
        key id): it names the set of secrets without revealing one.
        """
        digests = sorted(hashlib.sha256(s).digest() for s in set(self.secrets))
        return hashlib.sha256(b"xltemplate-keyring\0" + b"".join(digests)).hexdigest()

    def sign(self, meta: Mapping[str, str]) -> str:
        """``hmac-sha256:<key id>:<hex>`` over :func:`canonical` with the first secret."""
        secret = self.secrets[0]
        digest = hmac.new(secret, canonical(meta), hashlib.sha256).hexdigest()
        return f"{SCHEME}:{key_id(secret)}:{digest}"

    def verify(self, meta: Mapping[str, str], signature: str) -> str | None:
        """None when ``signature`` is genuine for ``meta``; else why not, in Chinese."""
        parts = signature.strip().split(":")
        if len(parts) != 3 or parts[0] != SCHEME or len(parts[2]) != 64:
            return "签名格式不正确"
        kid, digest = parts[1], parts[2].lower()
        candidates = [s for s in self.secrets if key_id(s) == kid]
        if not candidates:
            return f"签名所用的密钥（编号 {kid}）不在本次提供的密钥中"
        data = canonical(meta)
        if any(hmac.compare_digest(hmac.new(s, data, hashlib.sha256).hexdigest(), digest) for s in candidates):
            return None
        return "签名与文件中的身份信息不符"


def load_keyring(path: str | os.PathLike[str]) -> Keyring:
    """Read a secret file: one secret a line (blank lines and lines starting with ``#`` ignored).

    Raises :class:`SecretError` (a Chinese message) for a file that cannot be read, holds no
    secret, or a secret shorter than :data:`MIN_SECRET_BYTES`.
    """
    path = Path(path)
    try:
        if not path.is_file():
            raise SecretError(f"密钥文件 {path} 不存在或不是普通文件；请检查 --secret-file 或环境变量 {ENV_SECRET_FILE}")
        data = path.read_bytes()
    except OSError as exc:
        raise SecretError(f"无法读取密钥文件 {path}（{exc.strerror or exc}）；请检查文件权限") from exc
    secrets: list[bytes] = []
    for n, line in enumerate(data.splitlines(), start=1):
        secret = line.strip()
        if not secret or secret.startswith(b"#"):
            continue
        if len(secret) < MIN_SECRET_BYTES:
            raise SecretError(f"密钥文件 {path} 第 {n} 行的密钥只有 {len(secret)} 个字节，至少需要 {MIN_SECRET_BYTES} 个；"
                              "请用随机生成的长密钥（例如 64 位十六进制数）")
        secrets.append(secret)
    if not secrets:
        raise SecretError(f"密钥文件 {path} 中没有密钥；每行写一个密钥（第一行用于签名）")
    return Keyring(str(path), tuple(secrets))


def resolve_keyring(path: str | os.PathLike[str] | None) -> Keyring | None:
    """The keyring named by ``path``, else by ``$XLTEMPLATE_SECRET_FILE``, else None (identity not verified)."""
    if path is None:
        env = os.environ.get(ENV_SECRET_FILE, "").strip()
        if not env:
            return None
        path = env
    return load_keyring(path)


def loosely_protected(keyring: Keyring) -> bool:
    """True when others than the owner may read the secret file (POSIX permissions only)."""
    try:
        mode = os.stat(keyring.source).st_mode
    except OSError:
        return False
    return os.name == "posix" and bool(mode & (stat.S_IRWXG | stat.S_IRWXO))
