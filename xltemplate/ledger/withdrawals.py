"""The clerk's withdrawals (``round withdraw KEY FILE``), and finding the file the clerk means.

A withdrawal takes one unit's return out of the count from the next run on; the
file stays in the ledger and the archive, and the row stays too when the
withdrawal is undone (``reinstated_at``), so the record shows both.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

from . import queries, schema
from .archive import hash_file, path_of, path_text
from ..errors import LedgerError
from .model import Withdrawal


def withdraw(conn: sqlite3.Connection, ledger: Path, key: str, sha256: str, reason: str, stamp: str) -> Withdrawal:
    with schema.transaction(conn):
        _check_owner(conn, ledger, key, sha256)
        if _active(conn, key, sha256) is not None:
            raise LedgerError(f"{ledger}：单位 {key} 的文件 {sha256[:12]} 已经撤回过，无需再撤回。")
        conn.execute("INSERT INTO withdrawals(unit_key, sha256, withdrawn_at, reason) VALUES (?, ?, ?, ?)",
                     (key, sha256, stamp, reason))
    found = _active(conn, key, sha256)
    assert found is not None
    return found


def reinstate(conn: sqlite3.Connection, ledger: Path, key: str, sha256: str, reason: str, stamp: str) -> Withdrawal:
    with schema.transaction(conn):
        active = _active(conn, key, sha256)
        if active is None:
            raise LedgerError(f"{ledger}：单位 {key} 的文件 {sha256[:12]} 没有被撤回，无需恢复。")
        conn.execute("UPDATE withdrawals SET reinstated_at = ?, reinstate_reason = ? WHERE id = ?",
                     (stamp, reason, active.id))
    return next(w for w in queries.withdrawals(conn) if w.id == active.id)


def _active(conn: sqlite3.Connection, key: str, sha256: str) -> Withdrawal | None:
    return next((w for w in queries.withdrawals(conn)
                 if w.unit_key == key and w.sha256 == sha256 and w.reinstated_at is None), None)


def _check_owner(conn: sqlite3.Connection, ledger: Path, key: str, sha256: str) -> None:
    """The file must be in the ledger and, once validated, carry that unit's key."""
    if conn.execute("SELECT 1 FROM files WHERE sha256 = ?", (sha256,)).fetchone() is None:
        raise LedgerError(f"{ledger}：台账中没有 sha256 为 {sha256} 的文件。请检查文件。")
    keys = {k for (k,) in conn.execute("SELECT DISTINCT unit_key FROM reports WHERE sha256 = ?", (sha256,))}
    if keys and key not in keys:
        owners = "、".join(sorted(k or "（无编号）" for k in keys))
        raise LedgerError(f"{ledger}：文件 {sha256[:12]} 属于单位 {owners}，不是 {key}。请检查单位编号。")


def resolve_file(conn: sqlite3.Connection, ledger: Path, ref: str) -> str:
    """A path (present, hashed; or once seen), a file name seen in some run, or a sha256 prefix → the sha256."""
    if os.path.isfile(ref):
        sha = hash_file(Path(ref))
        if conn.execute("SELECT 1 FROM files WHERE sha256 = ?", (sha,)).fetchone() is None:
            raise LedgerError(f"{ref}：这个文件不在台账 {ledger} 中（汇总时从未读到过）。请先运行汇总，或检查文件。")
        return sha
    if re.fullmatch(r"[0-9a-fA-F]{6,64}", ref):
        found = [(sha, "") for (sha,) in conn.execute(
            "SELECT sha256 FROM files WHERE sha256 LIKE ? ORDER BY id", (ref.lower() + "%",))]
    else:
        found = [(sha, path_of(p)) for sha, p in conn.execute(
            "SELECT DISTINCT sha256, path FROM sightings WHERE path = ? ORDER BY run_id", (path_text(os.path.abspath(ref)),))]
        if not found:
            name = os.path.basename(ref)
            found = [(sha, path_of(p)) for sha, p in conn.execute("SELECT DISTINCT sha256, path FROM sightings ORDER BY run_id")
                     if os.path.basename(path_of(p)) == name]
    shas: list[str] = list(dict.fromkeys(str(sha) for sha, _ in found))
    if not shas:
        raise LedgerError(f"{ref}：台账 {ledger} 中找不到这个文件。请给出文件路径、文件名或 sha256（至少前 6 位）。")
    if len(shas) > 1:
        listed = "；".join(f"{sha[:12]} {p}".strip() for sha, p in found[:10])
        raise LedgerError(f"{ref}：对应台账中 {len(shas)} 个不同的文件（{listed}）。请用 sha256（至少前 6 位）指明是哪一个。")
    return shas[0]
