"""Remake the pictures in docs/: pages of the form and of the roll-up as LibreOffice prints them.

    python docs/render.py            # needs LibreOffice (soffice) and poppler (pdftoppm, pdftotext)
    python docs/render.py --national # the national form's pictures (samples/national)
    python docs/render.py --specbook # the spec workbook's pictures (xltemplate spec export)

The form is generated with the seed's figures (samples/seed-values.yaml), the roll-up is
collected from samples/returns with samples/roster.csv, and a round's roll-up is the third run of
``collect --ledger`` over them (half the returns on day 1, the rest on day 2, then one counted file
deleted from the inbox and one withdrawn); all are converted to PDF by LibreOffice and the pages
named below are rasterised at 80 dpi. With Pillow installed the
pictures are reduced to 128 colours (a third of the size); without it they are kept as drawn.

The pictures do not depend on where or when they are made: the returns are collected by a relative path
(``samples/returns``, shown so in 文件清单); the round runs in a folder of a fixed name, :data:`ROUND_DIR`
(提交记录 shows its files' full paths; the folder is the render's own: emptied before and removed after),
on 2020-05-11, 12 and 13 at 09:30 Beijing time (:data:`ROUND_DAYS`: the ledger's clock set for each run, the
times shown in Asia/Shanghai); the files' own stamps are ``SOURCE_DATE_EPOCH`` (:data:`STAMP`). Rendered
twice, the pictures are the same bytes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from xltemplate.rollup.collect import collect  # noqa: E402
from xltemplate.form.generate import generate_workbook  # noqa: E402
from xltemplate.form.layout import GUIDE_SHEET  # noqa: E402
from xltemplate.rollup import write_rollup  # noqa: E402
from xltemplate.roster import read_roster  # noqa: E402
from tools.soffice import convert  # noqa: E402
from xltemplate.catalog import load_spec, templates_dir  # noqa: E402

DPI = 80
#: The round's folder (inbox 收回, ledger 第一轮.xlt.db, its archive, the roll-ups): a fixed name, shown in 提交记录.
ROUND_DIR = Path("/tmp/xltemplate-docs/第一轮")
#: The round's runs: day 1, day 2, day 3 (the ledger's clock for each; Beijing time).
ROUND_DAYS = [dt.datetime(2020, 5, d, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))) for d in (11, 12, 13)]
#: SOURCE_DATE_EPOCH for the files written (the forms' and roll-ups' own stamps): 2020-05-13 09:30 Beijing time.
STAMP = str(int(ROUND_DAYS[-1].timestamp()))
# picture name → (document, sheet, which of that sheet's pages, 1-based)
PICTURES = {
    "form-header": ("form", "项目绩效自评", 1),
    "form-table": ("form", "项目绩效自评", 4),
    "form-total": ("form", "项目绩效自评", 5),
    "form-guide": ("form", GUIDE_SHEET, 1),
    "rollup-summary": ("rollup", "汇总", 1),
    "rollup-scores": ("rollup", "指标得分", 1),
    "rollup-scores-next": ("rollup", "指标得分", 3),
    "rollup-stats": ("rollup", "统计", 1),
    "rollup-findings": ("rollup", "问题清单", 1),
    "rollup-missing": ("rollup", "未提交", 1),
    "rollup-texts": ("rollup", "文字材料", 1),
    "rollup-files": ("rollup", "文件清单", 1),
    "round-summary": ("day2", "汇总", 1),
    "round-received": ("round", "提交记录", 1),
}


# the national form (samples/national): its returns' form and their roll-up
NATIONAL_PICTURES = {
    "national-form-header": ("form", "项目支出绩效自评", 1),
    "national-form-table": ("form", "项目支出绩效自评", 2),
    "national-rollup-summary": ("rollup", "汇总", 1),
    "national-rollup-results": ("rollup", "指标结果", 1),
    "national-rollup-stats": ("rollup", "统计", 2),
    "national-rollup-gaps": ("rollup", "差距分析", 1),
}


# the spec workbook of the first form (xltemplate spec export sh-project-self-eval)
SPECBOOK_PICTURES = {
    "specbook-settings": ("specbook", "设置", 1),
    "specbook-fields": ("specbook", "字段", 1),
    "specbook-indicators": ("specbook", "指标", 1),
}


def sheet_pages(pdf: Path) -> dict[str, list[int]]:
    """The PDF's page numbers by sheet, read from the footers (the sheet's name, then 第 n 页)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    out: dict[str, list[int]] = {}
    for n, page in enumerate(text.split("\f")[:-1], start=1):
        m = re.search(rf"^\s*(\S+)\s+第 {n} 页", page, re.M)
        if m:
            out.setdefault(m.group(1), []).append(n)
    return out


@contextlib.contextmanager
def _in(folder: Path) -> Iterator[None]:
    """The working folder is ``folder`` inside the block (paths given relative to it are shown so in the roll-up)."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@contextlib.contextmanager
def _clock(at: dt.datetime) -> Iterator[None]:
    """The ledger's clock stopped at ``at`` inside the block (a demo's run dated, not timed)."""
    from xltemplate.ledger import store

    saved = store._now
    store._now = lambda: at.astimezone(dt.timezone.utc)
    try:
        yield
    finally:
        store._now = saved


def main() -> None:
    os.environ["SOURCE_DATE_EPOCH"] = STAMP
    os.environ["TZ"] = "Asia/Shanghai"  # (a clerk's machine; the times shown are Beijing time whatever the zone)
    time.tzset()
    if "--national" in sys.argv[1:]:
        national()
        return
    if "--specbook" in sys.argv[1:]:
        specbook()
        return
    spec = load_spec(templates_dir() / "sh-project-self-eval.yaml")
    seed = yaml.safe_load((ROOT / "samples" / "seed-values.yaml").read_text(encoding="utf-8"))
    roster = read_roster(ROOT / "samples" / "roster.csv", spec)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        form = generate_workbook(spec, work / "form.xlsx", values=seed).path
        with _in(ROOT):
            rollup = write_rollup(collect([Path("samples") / "returns"], spec, roster=roster), work / "rollup.xlsx")
        shutil.rmtree(ROUND_DIR, ignore_errors=True)
        ROUND_DIR.mkdir(parents=True)
        try:
            day2, round_ = make_round(ROUND_DIR, spec, roster)
            _render(work, {"form": form, "rollup": rollup, "day2": day2, "round": round_}, PICTURES)
        finally:
            shutil.rmtree(ROUND_DIR, ignore_errors=True)
            with contextlib.suppress(OSError):
                ROUND_DIR.parent.rmdir()


def national() -> None:
    """``python docs/render.py --national``: the national form (project N12's return, 24 indicators) and its roll-up."""
    from xltemplate.targets import read_targets

    folder = ROOT / "samples" / "national"
    spec = load_spec(templates_dir() / "cn-project-self-eval.yaml")
    roster = read_roster(folder / "roster.csv", spec)
    targets = read_targets(folder / "targets.csv", spec, roster)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        form = folder / "returns" / "大数据中心-政务平台运维.xlsx"
        from xltemplate.identify import RunContext

        run = RunContext.builtin(spec, targets=targets)
        with _in(ROOT):
            found = collect([folder.relative_to(ROOT) / "returns"], spec, roster=roster, templates=run)
            rollup = write_rollup(found, work / "rollup.xlsx")
        _render(work, {"form": form, "rollup": rollup}, NATIONAL_PICTURES)


def specbook() -> None:
    """``python docs/render.py --specbook``: the spec workbook a bureau edits (the first form's)."""
    from xltemplate.specbook import write_specbook

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        book = write_specbook(load_spec(templates_dir() / "sh-project-self-eval.yaml"), work / "form-spec.xlsx")
        _render(work, {"specbook": book}, SPECBOOK_PICTURES)


def _render(work: Path, docs: dict[str, Path], pictures: dict[str, tuple[str, str, int]]) -> None:
    pdfs = dict(zip(docs, convert(list(docs.values()), work / "pdf", target="pdf")))
    pages = {doc: sheet_pages(pdf) for doc, pdf in pdfs.items()}
    for name, (doc, sheet, nth) in pictures.items():
        page = pages[doc][sheet][nth - 1]
        stem = work / name
        subprocess.run(["pdftoppm", "-png", "-r", str(DPI), "-f", str(page), "-l", str(page), "-singlefile",
                        str(pdfs[doc]), str(stem)], check=True)
        dest = HERE / f"{name}.png"
        _optimise(stem.with_suffix(".png"), dest)
        print(f"{dest.stat().st_size // 1024:>5} KiB  {dest.name}  ({doc} page {page}: {sheet})")


def make_round(work: Path, spec: object, roster: object) -> tuple[Path, Path]:
    """A round over the samples: day 1 half of them, day 2 the rest, day 3 one counted file deleted from
    the inbox (it still counts, from the archive) and one withdrawn. The roll-ups of days 2 and 3."""
    from xltemplate.rounds import collect_round, withdraw

    inbox, ledger = Path("收回"), Path("第一轮.xlt.db")  # (relative to ``work``: shown so in 提交记录)
    returns = sorted(p for p in (ROOT / "samples" / "returns").iterdir() if p.suffix == ".xlsx" and not p.name.startswith("~$"))
    with _in(work):
        inbox.mkdir()
        for day, files in enumerate((returns[: len(returns) // 2], returns[len(returns) // 2:]), start=1):
            for f in files:
                shutil.copy(f, inbox)
            with _clock(ROUND_DAYS[day - 1]):
                collect_round([inbox], spec, ledger=ledger, output=Path(f"day{day}.xlsx"), roster=roster)  # type: ignore[arg-type]
        (inbox / "信息中心_政务外网_自评表.xlsx").unlink()
        with _clock(ROUND_DAYS[2]):
            withdraw(ledger, "SH020", "都市工业园区改造补贴-自评.xlsx", "单位来电：误发了上年的文件")
            day3 = collect_round([inbox], spec, ledger=ledger, output=Path("round.xlsx"), roster=roster)  # type: ignore[arg-type]
    return work / "day2.xlsx", work / day3.outputs[0]


def _optimise(src: Path, dest: Path) -> None:
    try:
        from PIL import Image
    except ImportError:
        shutil.copy(src, dest)
        return
    with Image.open(src) as im:
        im.convert("RGB").quantize(colors=128, dither=Image.Dither.NONE).save(dest, optimize=True)


if __name__ == "__main__":
    main()
