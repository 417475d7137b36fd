"""Reports as JSON and back, losslessly (the collection ledger stores them), and the validator's version.

:data:`xltemplate.validate.VALIDATOR_VERSION` must change whenever what a report says about given
bytes changes: a stored report is reused only while it is the same. The samples' reports are
fingerprinted here per version; a change to a reader, a parser, a check, a formula or a message
that shows in them fails this test until the version is bumped and the new fingerprint recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path

from xltemplate.batch import validate_paths
from xltemplate.findings import finding
from xltemplate.report import FileReport
from xltemplate.results import Group, Item, Results
from xltemplate.validate import VALIDATOR_VERSION

from .conftest import SAMPLES
from .corpus import TODAY

#: VALIDATOR_VERSION → the fingerprint of the samples' reports under it. Add a line when you bump it.
FINGERPRINTS = {
    "1": "f965b05018d8e8641def916f124cb9d5f32fd0ee8379b0984175dd6331c0db94",
    "2": "cd4d1e394f4001c9cc17ad78068a15c9c8a06fca2fc2613bca2ec0f18df22f5a",  # executed-above-budget names its fields
    # 3: the fast reader no longer keeps a cell that shows an empty shared string (it reported one under a
    # merged range as content-hidden, where the reference reads nothing); the samples' reports are the same
    "3": "cd4d1e394f4001c9cc17ad78068a15c9c8a06fca2fc2613bca2ec0f18df22f5a",
    # 4: older versions of a form (template-version-old): no sample is in one, so the samples' reports are the same
    "4": "cd4d1e394f4001c9cc17ad78068a15c9c8a06fca2fc2613bca2ec0f18df22f5a",
    # 5: workbook parts that programs read differently (no sheet, lists in another namespace, a defined name without
    # a name or with an element inside) are file-corrupt: no sample holds one, so the samples' reports are the same
    "5": "cd4d1e394f4001c9cc17ad78068a15c9c8a06fca2fc2613bca2ec0f18df22f5a",
}


def _round_trip(report: FileReport) -> FileReport:
    return FileReport.from_json(json.loads(json.dumps(report.to_json(), ensure_ascii=False)))


def test_every_report_of_every_corpus_comes_back_equal(corpus, spec, seed_values, tmp_path_factory) -> None:
    from .hostile import build

    root, _ = corpus
    hostile = tmp_path_factory.mktemp("hostile-json")
    build(spec, seed_values, hostile, with_engine=False)
    report = validate_paths([root, hostile, SAMPLES / "returns"], today=TODAY)
    assert len(report.files) > 90
    for r in report.files:
        back = _round_trip(r)
        assert back == r, r.path
        assert back.as_dict() == r.as_dict()  # what --json prints is the same too
    statuses = {r.status for r in report.files}
    assert statuses == {"valid", "invalid", "unreadable"}  # every kind of report went through


def test_what_json_cannot_hold_comes_back_as_it_was() -> None:
    """Decimals keep their digits (35 and 35.0 are two texts), dates stay dates, tuples tuples, long values cut once."""
    results = Results(
        total=Decimal("96.0"), total_weight=Decimal("100"), grade="优秀", execution_rate=Decimal("0.99706"),
        fields={"budget": Decimal("8993600.00"), "eval_date": dt.date(2021, 4, 30), "unit": "中心", "none": None},
        groups=(Group("g", "投入", Decimal(36), Decimal(36), Decimal("35.5")),),
        items=(Item("i", "g", "名称", Decimal(6), None, extra=False, target=Decimal("1E+2"), met=True),),
    )
    f = finding("text-too-long", sheet="表", cell="B9", field="x", value="长" * 500, label="x", length=500, limit=10)
    report = FileReport(path="/tmp/a b/自评.xlsx", status="invalid", findings=[f], template=("t", None), key="SH001",
                        results=results, sha256="0" * 64, size=1, saved_at=dt.datetime(2021, 4, 30, 9, 0),
                        application="Microsoft Excel", signature=None)
    back = _round_trip(report)
    assert back == report
    assert str(back.results.total) == "96.0" and str(back.results.item("i").target) == "1E+2"
    assert back.findings[0].value == f.value and len(back.findings[0].value) == 201  # cut once, not again
    assert isinstance(back.results.fields["eval_date"], dt.date) and back.template == ("t", None)


def test_a_stored_report_of_another_format_is_refused() -> None:
    import pytest

    data = FileReport(path="x", status="unreadable", findings=[]).to_json()
    data["format"] = "xltemplate-report/0"
    with pytest.raises(ValueError):
        FileReport.from_json(data)


def samples_fingerprint() -> str:
    report = validate_paths([SAMPLES / "returns"], today=TODAY)
    canon = []
    for r in sorted(report.files, key=lambda r: Path(r.path).name):
        data = r.to_json()
        data["path"] = Path(r.path).name
        for f in data["findings"]:
            f["file"] = Path(f["file"]).name if f["file"] else None
        canon.append(data)
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def test_the_validator_version_changes_when_the_reports_do() -> None:
    got = samples_fingerprint()
    assert FINGERPRINTS.get(VALIDATOR_VERSION) == got, (
        f"the samples' reports are not those of VALIDATOR_VERSION {VALIDATOR_VERSION}: if a rule, a reader or a "
        f"message changed on purpose, bump VALIDATOR_VERSION in xltemplate/validate.py and add "
        f"{{'<new version>': '{got}'}} to FINGERPRINTS here")
