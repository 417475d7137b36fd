"""Issue 10, section 1: identity and prefilled values cannot be forged; resubmissions are ordered by rules
that say which one decided.

Each test builds the forgery a person could make with a zip tool (tests/tamper.py) or with xltemplate
itself (a workbook generated with values of their choosing is what editing cells and metadata
consistently amounts to), and checks that it never counts as the unit's valid return.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.rollup.collect import collect
from xltemplate.errors import SecretError
from xltemplate.form.generate import generate_workbook
from xltemplate.identify import RunContext
from xltemplate.roster import read_roster
from xltemplate.sign import canonical, identity, key_id, load_keyring
from xltemplate.validate import validate_path

from .conftest import SAMPLES
from .tamper import replace_text, rewrite, set_saved_time, swap_key

ROSTER = SAMPLES / "roster.csv"
TEMPLATE = "sh-project-self-eval"
SECRET = b"0123456789abcdef0123456789abcdef"  # 32 bytes, as `openssl rand -hex 16` gives
OLD_SECRET = b"fedcba9876543210fedcba9876543210"
GENERATED = dt.datetime(2020, 4, 1, 9, 0, tzinfo=dt.timezone.utc)
TODAY = dt.date(2020, 6, 1)


def cli(*args: object, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def roster(spec):
    return read_roster(ROSTER, spec)


@pytest.fixture()
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "bureau.key"
    path.write_bytes(SECRET + b"\n")
    path.chmod(0o600)
    return path


def unit_values(seed_values: dict) -> dict:
    """What a unit types: the seed's inputs (without its <p> markup), without the fields the bureau prefills."""
    return {k: re.sub(r"</?p>", "", v) if isinstance(v, str) else v for k, v in seed_values.items()
            if k not in ("fld_unit", "fld_project_name", "fld_budget")}


def make(path: Path, key: str, spec, roster, seed_values: dict, *, prefill: dict | None = None, keyring=None,
         generated_at: dt.datetime = GENERATED) -> Path:
    """A return for ``key``: generated as the bureau would (prefill from the roster) and filled in."""
    row = roster.by_key()[key]
    generate_workbook(spec, path, values=unit_values(seed_values), roster_key=key,
                      prefill=row.prefill if prefill is None else prefill, keyring=keyring, generated_at=generated_at)
    return path


def codes(report) -> set[str]:
    return {f.code for f in report.findings}


# -- prefilled values and the roster --------------------------------------------------------------------

def test_budget_times_ten_with_matching_metadata_is_refused_against_the_roster(tmp_path, spec, roster, seed_values) -> None:
    truth = roster.by_key()["SH001"].prefill
    forged = {**truth, "budget": truth["budget"] * 10}  # cell and hidden metadata edited alike
    path = make(tmp_path / "SH001.xlsx", "SH001", spec, roster, seed_values, prefill=forged)
    # Without the roster nothing in the file disagrees with itself: that is why the roster is the truth.
    assert validate_path(path, RunContext.builtin(spec), today=TODAY).status == "valid"
    report = validate_path(path, RunContext.builtin(spec, roster=roster), today=TODAY)
    assert report.status == "invalid"
    assert ("B5", "prefill-changed") in report.flatten()  # the cell against the roster
    assert (None, "prefill-changed") in report.flatten()  # the metadata against the roster
    cell = next(f for f in report.findings if f.cell == "B5")
    assert "8993600" in cell.message and "不得修改" in cell.message


def test_the_rollup_never_shows_a_figure_that_contradicts_the_roster(tmp_path, spec, roster, seed_values) -> None:
    truth = roster.by_key()["SH001"].prefill
    forged = {**truth, "budget": truth["budget"] * 10, "unit": "冒名单位"}
    make(tmp_path / "in" / "SH001.xlsx", "SH001", spec, roster, seed_values, prefill=forged)
    c = collect([tmp_path / "in"], spec, roster=roster)
    row = next(r for r in c.rows if r.key == "SH001")
    assert row.status == "已提交有误"
    sub = next(s for s in c.tables()["submissions"].to_dict("records") if s["key"] == "SH001")
    assert sub["budget"] == float(truth["budget"]) and sub["unit"] == truth["unit"]
    executed = row.counted.report.results.fields["executed"]
    assert sub["execution_rate"] == pytest.approx(float(executed / truth["budget"]))  # not executed / forged budget
    out = tmp_path / "rollup.xlsx"
    assert cli("collect", tmp_path / "in", "--roster", ROSTER, "-o", out, "--quiet").exit_code == 0
    ws = openpyxl.load_workbook(out)["汇总"]
    header = [c.value for c in ws[3]]
    line = next(r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] == "SH001")
    assert line[header.index("当年预算数（元）")] == float(truth["budget"])
    assert line[header.index("预算单位")] == truth["unit"]


def test_metadata_edited_alone_is_caught_by_the_roster(tmp_path, spec, roster, seed_values) -> None:
    genuine = make(tmp_path / "genuine.xlsx", "SH001", spec, roster, seed_values)
    forged = rewrite(genuine, tmp_path / "forged.xlsx", {
        "xl/sharedStrings.xml": replace_text('"budget": "8993600.00"', '"budget": "89936000.00"')})
    report = validate_path(forged, RunContext.builtin(spec, roster=roster), today=TODAY)
    assert report.flatten() == [(None, "prefill-changed")] and report.status == "invalid"
    assert "名单" in report.findings[0].message


def test_a_unit_name_changed_in_cell_and_metadata_is_an_identity_error(tmp_path, spec, roster, seed_values) -> None:
    truth = roster.by_key()["SH002"].prefill
    path = make(tmp_path / "x.xlsx", "SH002", spec, roster, seed_values, prefill={**truth, "unit": "上海市工业技术学校"})
    report = validate_path(path, RunContext.builtin(spec, roster=roster), today=TODAY)
    assert {(f.cell, f.code, f.field) for f in report.findings if f.code == "prefill-changed"} == {
        ("D3", "prefill-changed", "unit"), (None, "prefill-changed", "unit")}


def test_validate_takes_the_roster_too(tmp_path, spec, roster, seed_values) -> None:
    truth = roster.by_key()["SH001"].prefill
    make(tmp_path / "in" / "a.xlsx", "SH001", spec, roster, seed_values, prefill={**truth, "budget": truth["budget"] * 10})
    generate_workbook(spec, tmp_path / "in" / "b.xlsx", values=unit_values(seed_values), roster_key="SH404", prefill=truth)
    result = cli("validate", tmp_path / "in", "--roster", ROSTER, "--json", "--jobs", "1")
    assert result.exit_code == 1, result.output
    files = {Path(f["path"]).name: f for f in json.loads(result.stdout)["files"]}
    assert {f["code"] for f in files["a.xlsx"]["findings"]} >= {"prefill-changed"}
    assert files["b.xlsx"]["status"] == "invalid" and "key-not-in-roster" in {f["code"] for f in files["b.xlsx"]["findings"]}
    plain = cli("validate", tmp_path / "in", "--json", "--jobs", "1")
    assert {f["status"] for f in json.loads(plain.stdout)["files"]} == {"valid"}  # what today's main reported


# -- the signature ----------------------------------------------------------------------------------------

def test_another_units_key_written_in_is_refused_with_a_secret(tmp_path, spec, roster, seed_values, secret_file) -> None:
    keyring = load_keyring(secret_file)
    mine = make(tmp_path / "mine.xlsx", "SH005", spec, roster, seed_values, keyring=keyring)
    assert validate_path(mine, RunContext.builtin(spec, keyring=keyring, roster=roster), today=TODAY).signature == "valid"
    theirs = roster.by_key()["SH003"].prefill
    # Key and prefilled values of SH003, cells and metadata alike: nothing disagrees but the signature.
    forged = rewrite(swap_key(mine, tmp_path / "k.xlsx", "SH005", "SH003"), tmp_path / "forged.xlsx", {
        "xl/sharedStrings.xml": lambda b: b.replace(roster.by_key()["SH005"].prefill["unit"].encode(), theirs["unit"].encode())})
    report = validate_path(forged, RunContext.builtin(spec, keyring=keyring), today=TODAY)
    assert report.key == "SH003"
    assert ("signature-invalid" in codes(report)) and report.status == "invalid" and report.signature == "invalid"
    assert "签名" in next(f.message for f in report.findings if f.code == "signature-invalid")


def test_a_forged_later_return_never_replaces_the_genuine_one(tmp_path, spec, roster, seed_values, secret_file) -> None:
    keyring = load_keyring(secret_file)
    inbox = tmp_path / "in"
    make(inbox / "SH003-genuine.xlsx", "SH003", spec, roster, seed_values, keyring=keyring)
    # Made with xltemplate but without the bureau's secret, saved a month later.
    make(inbox / "SH003-later.xlsx", "SH003", spec, roster, seed_values, generated_at=GENERATED + dt.timedelta(days=30))
    result = cli("collect", inbox, "--roster", ROSTER, "-o", tmp_path / "r.xlsx", "--secret-file", secret_file, "--json", "--quiet")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["identity_verified"] is True and data["units"]["valid"] == 1 and data["files"]["unmatched"] == 1
    files = {r["文件"]: r for r in _rows(openpyxl.load_workbook(tmp_path / "r.xlsx")["文件清单"])}
    assert files["SH003-genuine.xlsx"]["处理"] == "计入"
    assert files["SH003-later.xlsx"]["处理"] == "未匹配" and "身份签名缺失" in files["SH003-later.xlsx"]["说明"]
    # Without the secret the later file wins, as it did on main: the report says identity was not verified.
    plain = cli("collect", inbox, "--roster", ROSTER, "-o", tmp_path / "p.xlsx", "--quiet")
    assert "身份未核验（未提供密钥）" in plain.stdout


def test_a_unit_with_only_an_unproven_file_is_not_counted(tmp_path, spec, roster, seed_values, secret_file) -> None:
    make(tmp_path / "in" / "x.xlsx", "SH004", spec, roster, seed_values)
    c = collect([tmp_path / "in"], spec, roster=roster, templates=RunContext.builtin(spec, keyring=load_keyring(secret_file)))
    row = next(r for r in c.rows if r.key == "SH004")
    assert row.status == "未提交" and row.missing_reason() == "只收到身份签名无效的文件（见文件清单）"
    assert c.counts().unmatched == 1 and c.counts().units_missing == 20


def test_signed_workbooks_verify_and_the_secret_is_never_written(tmp_path, secret_file) -> None:
    out = tmp_path / "out"
    result = cli("generate", TEMPLATE, "--roster", ROSTER, "-o", out, "--secret-file", secret_file, "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert f"密钥编号 {key_id(SECRET)}" in result.output
    for book in out.glob("*.xlsx"):
        with zipfile.ZipFile(book) as z:
            blob = b"".join(z.read(n) for n in z.namelist())
        assert SECRET not in blob and SECRET.hex().encode() not in blob
        assert f"hmac-sha256:{key_id(SECRET)}:".encode() in blob
    assert SECRET not in (out / "manifest.csv").read_bytes()
    ok = cli("validate", out, "--secret-file", secret_file, "--json", "--jobs", "1")
    data = json.loads(ok.stdout)
    assert data["identity_verified"] is True
    assert {f["signature"] for f in data["files"]} == {"valid"}
    assert not any(f["code"].startswith("signature") for f in data["files"][0]["findings"])


def test_unsigned_and_older_workbooks(tmp_path, spec, roster, seed_values, secret_file) -> None:
    path = make(tmp_path / "old.xlsx", "SH001", spec, roster, seed_values)  # no signature key at all
    plain = validate_path(path, RunContext.builtin(spec), today=TODAY)
    assert plain.status == "valid" and plain.signature is None and "meta-altered" not in codes(plain)
    checked = validate_path(path, RunContext.builtin(spec, keyring=load_keyring(secret_file)), today=TODAY)
    assert codes(checked) == {"signature-missing"} and checked.status == "invalid"


def test_without_a_secret_the_report_says_identity_was_not_verified(tmp_path, spec, roster, seed_values) -> None:
    make(tmp_path / "a.xlsx", "SH001", spec, roster, seed_values)
    text = cli("validate", tmp_path / "a.xlsx", "--jobs", "1")
    assert text.stdout.splitlines()[-1].endswith("；身份未核验（未提供密钥）")
    data = json.loads(cli("validate", tmp_path / "a.xlsx", "--json", "--jobs", "1").stdout)
    assert data["identity_verified"] is False and data["files"][0]["signature"] is None
    out = tmp_path / "r.xlsx"
    assert "身份未核验（未提供密钥）" in cli("collect", tmp_path / "a.xlsx", "-o", out, "--quiet").stdout
    note = openpyxl.load_workbook(out)["汇总"]["A2"].value
    assert "身份未核验（未提供密钥）" in note


def test_rotation_the_first_secret_signs_every_secret_verifies(tmp_path, spec, roster, seed_values) -> None:
    old_file, both = tmp_path / "old.key", tmp_path / "both.key"
    old_file.write_bytes(OLD_SECRET + b"\n")
    both.write_bytes(b"# 2021 round, added 2021-03-01\n" + SECRET + b"\n\n# 2020 round: remove once its returns are in\n" + OLD_SECRET + b"\n")
    signed_old = make(tmp_path / "a.xlsx", "SH001", spec, roster, seed_values, keyring=load_keyring(old_file))
    signed_new = make(tmp_path / "b.xlsx", "SH001", spec, roster, seed_values, keyring=load_keyring(both))
    ring = load_keyring(both)
    assert ring.signing_id == key_id(SECRET) and ring.ids == (key_id(SECRET), key_id(OLD_SECRET))
    for p in (signed_old, signed_new):
        assert validate_path(p, RunContext.builtin(spec, keyring=ring), today=TODAY).signature == "valid"
    new_only = tmp_path / "new.key"
    new_only.write_bytes(SECRET)
    r = validate_path(signed_old, RunContext.builtin(spec, keyring=load_keyring(new_only)), today=TODAY)
    assert r.signature == "invalid" and key_id(OLD_SECRET) in r.findings[0].message


def test_secret_files_that_cannot_be_used(tmp_path) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(b"password123\n")
    with pytest.raises(SecretError, match="至少需要 16 个"):
        load_keyring(short)
    result = cli("validate", SAMPLES / "returns", "--secret-file", short)
    assert result.exit_code == 2 and "至少需要 16 个" in result.stderr and "password123" not in result.output
    empty = tmp_path / "empty.key"
    empty.write_bytes(b"# nothing yet\n\n")
    assert cli("generate", TEMPLATE, "-o", tmp_path / "f.xlsx", "--secret-file", empty).exit_code == 2
    assert not (tmp_path / "f.xlsx").exists()
    missing = cli("collect", SAMPLES / "returns", "-o", tmp_path / "r.xlsx", "--secret-file", tmp_path / "nope.key")
    assert missing.exit_code == 2 and "不存在" in missing.stderr


def test_the_secret_file_may_come_from_the_environment(tmp_path, spec, roster, seed_values, secret_file) -> None:
    env = {"XLTEMPLATE_SECRET_FILE": str(secret_file)}
    result = cli("generate", TEMPLATE, "-o", tmp_path / "f.xlsx", env=env)
    assert result.exit_code == 0 and "已签名" in result.output
    data = json.loads(cli("validate", tmp_path / "f.xlsx", "--json", "--jobs", "1", env=env).stdout)
    assert data["identity_verified"] is True and data["files"][0]["signature"] == "valid"


def test_a_loosely_protected_secret_file_gets_a_hint(tmp_path, secret_file) -> None:
    secret_file.chmod(0o644)
    result = cli("generate", TEMPLATE, "-o", tmp_path / "f.xlsx", "--secret-file", secret_file)
    assert result.exit_code == 0 and "chmod 600" in result.stderr


def test_the_signed_payload_is_canonical_and_reserves_targets() -> None:
    meta = {"format": "xltemplate-return/1", "template_id": "t", "template_version": "1", "spec_hash": "h",
            "layout_version": "2", "generated_at": "2020-04-01T09:00:00+00:00", "roster_key": "SH001",
            "prefill": '{"unit": "甲", "budget": "1"}', "generator": "xltemplate 9", "signature": "x"}
    assert canonical(meta) == canonical({**meta, "prefill": '{"budget":"1","unit":"甲"}'})  # spacing and order
    assert canonical(meta) != canonical({**meta, "roster_key": "SH002"})
    assert canonical(meta) == canonical({**meta, "generator": "xltemplate 10"})  # upgrading the tool is no forgery
    assert identity(meta)["targets"] == {}
    assert b" " not in canonical(meta) and "甲".encode() in canonical(meta)


# -- resubmissions ------------------------------------------------------------------------------------

def _rows(ws) -> list[dict]:
    header = [c.value for c in ws[3]]
    return [dict(zip(header, r)) for r in ws.iter_rows(min_row=4, values_only=True)]


def _touch(path: Path, when: dt.datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_a_saved_time_in_the_future_is_not_trusted(tmp_path, spec, roster, seed_values) -> None:
    inbox = tmp_path / "in"
    good = make(inbox / "corrected.xlsx", "SH001", spec, roster, seed_values)
    draft = set_saved_time(make(tmp_path / "d.xlsx", "SH001", spec, roster, seed_values), inbox / "draft.xlsx",
                           dt.datetime(2099, 1, 1))
    _touch(draft, dt.datetime(2020, 4, 10))
    _touch(good, dt.datetime(2020, 4, 20))
    c = collect([inbox], spec, roster=roster)
    by_name = {Path(r.path).name: r for r in c.returns}
    assert by_name["corrected.xlsx"].fate == "计入" and by_name["draft.xlsx"].fate == "被替代"
    assert "saved-time-untrusted" in {f.code for f in by_name["draft.xlsx"].report.findings}
    assert by_name["draft.xlsx"].report.status == "valid"  # a warning, not an error
    assert "按文件修改时间" in by_name["draft.xlsx"].note


def test_a_saved_time_before_generation_is_not_trusted(tmp_path, spec, roster, seed_values) -> None:
    path = set_saved_time(make(tmp_path / "a.xlsx", "SH001", spec, roster, seed_values), tmp_path / "b.xlsx",
                          dt.datetime(2019, 1, 1))
    report = validate_path(path, RunContext.builtin(spec), today=TODAY)
    f = next(f for f in report.findings if f.code == "saved-time-untrusted")
    assert "早于" in f.message and report.saved_at_trusted is None
    fine = validate_path(tmp_path / "a.xlsx", RunContext.builtin(spec), today=TODAY)
    assert fine.saved_at_trusted == dt.datetime(2020, 4, 1, 9, 0)


def test_a_return_without_a_saved_time_does_not_lose_to_a_draft_that_has_one(tmp_path, spec, roster, seed_values) -> None:
    inbox = tmp_path / "in"
    draft = make(inbox / "draft.xlsx", "SH001", spec, roster, seed_values)
    final = set_saved_time(make(tmp_path / "f.xlsx", "SH001", spec, roster, seed_values, generated_at=GENERATED), inbox / "final.xlsx", None)
    _touch(draft, dt.datetime(2020, 4, 10))
    _touch(final, dt.datetime(2020, 4, 20))
    c = collect([inbox], spec, roster=roster)
    by_name = {Path(r.path).name: r for r in c.returns}
    assert by_name["final.xlsx"].report.saved_at is None
    assert by_name["final.xlsx"].fate == "计入", by_name["final.xlsx"].note
    assert by_name["draft.xlsx"].note == "被更新的“final.xlsx”替代（按文件修改时间判断）"


def test_two_keyless_returns_with_one_name_are_two_files(tmp_path, spec, seed_values) -> None:
    for folder in ("科室甲", "科室乙"):
        generate_workbook(spec, tmp_path / folder / "自评表.xlsx", values=seed_values)
    c = collect([tmp_path], spec)
    assert [r.fate for r in c.returns] == ["计入", "计入"]
    assert len(c.rows) == 2 and len({r.key for r in c.rows}) == 2


def test_every_tie_says_which_rule_broke_it(tmp_path, spec, roster, seed_values) -> None:
    inbox = tmp_path / "in"
    a = make(inbox / "a.xlsx", "SH001", spec, roster, seed_values)
    b = make(inbox / "b.xlsx", "SH001", spec, roster, {**seed_values, "ind_fund_compliance_score": 5})
    for p in (a, b):
        _touch(p, dt.datetime(2020, 4, 10, 8, 0, 0))
    c = collect([inbox], spec, roster=roster)
    loser = next(r for r in c.returns if r.fate == "被替代")
    assert loser.note.endswith("（按文件路径判断）")
    assert "按文件路径判断" in next(f.message for f in loser.findings if f.code == "return-superseded")


def test_a_byte_identical_copy_the_original_counts(tmp_path, spec, roster, seed_values) -> None:
    inbox = tmp_path / "in"
    original = make(inbox / "SH001 自评表.xlsx", "SH001", spec, roster, seed_values)
    copy = inbox / "SH001 自评表 (1).xlsx"
    copy.write_bytes(original.read_bytes())
    for p in (original, copy):
        _touch(p, dt.datetime(2020, 4, 10, 8, 0, 0))
    c = collect([inbox], spec, roster=roster)
    by_name = {Path(r.path).name: r for r in c.returns}
    assert by_name["SH001 自评表.xlsx"].fate == "计入"
    assert by_name["SH001 自评表 (1).xlsx"].note == "与“SH001 自评表.xlsx”内容完全相同，只计一次（按文件名长度选定计入的一份）"
    _touch(copy, dt.datetime(2020, 4, 9))  # but the copy arrived a day earlier: it is the original
    c = collect([inbox], spec, roster=roster)
    assert {Path(r.path).name: r.fate for r in c.returns}["SH001 自评表 (1).xlsx"] == "计入"


def test_the_new_messages_name_no_tool_and_say_what_to_do(tmp_path, spec, roster, seed_values, secret_file) -> None:
    from .test_messages import TOOL_WORDS

    keyring = load_keyring(secret_file)
    truth = roster.by_key()["SH001"].prefill
    inbox = tmp_path / "in"
    make(inbox / "forged.xlsx", "SH001", spec, roster, seed_values, prefill={**truth, "budget": truth["budget"] * 10})
    generate_workbook(spec, inbox / "unknown-key.xlsx", values=unit_values(seed_values), roster_key="SH999", prefill=truth)
    signed = make(tmp_path / "signed.xlsx", "SH002", spec, roster, seed_values, keyring=keyring)
    swap_key(signed, inbox / "swapped.xlsx", "SH002", "SH003")
    set_saved_time(make(tmp_path / "f.xlsx", "SH004", spec, roster, seed_values), inbox / "future.xlsx", dt.datetime(2099, 1, 1))
    c = collect([inbox], spec, roster=roster, templates=RunContext.builtin(spec, keyring=keyring))
    found = {f.code: f.message for _, f in c.all_findings()}
    assert {"prefill-changed", "key-not-in-roster", "signature-invalid", "signature-missing", "saved-time-untrusted"} <= set(found)
    for code, message in found.items():
        assert not TOOL_WORDS.search(message), (code, message)
        assert "请" in message, (code, message)  # every message ends with what to do


# -- metadata values are bounded where they are read ------------------------------------------------------

def test_a_huge_roster_key_never_reaches_a_report_or_the_rollup(tmp_path, spec, roster, seed_values) -> None:
    """A forged key of a megabyte (not compressible away: the sniffer would refuse that) is cut to 200
    characters where the metadata is read, by both readers, and the file is ``meta-altered``."""
    import random

    from xltemplate import meta
    from xltemplate.readers import read_submission

    path = make(tmp_path / "in" / "SH001.xlsx", "SH001", spec, roster, seed_values)
    rng = random.Random(11)
    huge = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(1_000_000))
    forged = swap_key(path, tmp_path / "forged.xlsx", "SH001", huge)
    path.unlink()
    forged.rename(path)
    for reader in ("fast", "openpyxl"):
        sub = read_submission(path, reader=reader)
        assert sub.meta is not None and len(sub.meta["roster_key"]) == meta.MAX_VALUE_CHARS
        assert sub.meta_too_long == {"roster_key": 1_000_000}
    report = validate_path(path, RunContext.builtin(spec), today=TODAY)
    altered = [f for f in report.findings if f.code == "meta-altered"]
    assert report.status == "invalid" and altered and "1000000 个字符" in altered[0].message
    assert report.key is not None and len(report.key) == meta.MAX_VALUE_CHARS
    assert len(json.dumps(report.as_dict(), ensure_ascii=False)) < 20_000
    c = collect([tmp_path / "in"], spec)
    assert all(len(r.key) <= meta.MAX_VALUE_CHARS + 10 for r in c.rows)
