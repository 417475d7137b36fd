"""Adversarial review of the ninth pass's tail switches (issue 15, branch natread, reviewed on tailrev):
TAIL_BY_SKELETON (a proved tail read by Sheet._tail in its skeleton, each inert data validation emptied) and
PROVE_LISTS_APART (the skeleton proved with its data validations' list and its row breaks each one empty element).

The claim under test: a form sheet's tail reads exactly the same (protection, merged ranges, refusal and message)
with the switches on, with each of them off, with the tail pieces off, and with every fast path off. Each hostile tail
is put in a generated national return's form sheet and read after the sound return (whose pieces are then
remembered), twice.

Findings (strict xfail when found, fixed since: _TAIL_ODD sends a tail with a name holding a byte past ASCII to the
general path; a data validation's child so named is no longer read in the skeleton either): Sheet._tail (the split path's tail reader, older than these switches and used with
them on or off) does not see an element whose namespace prefix is not ASCII: ``_TAIL_ODD`` takes a prefix as
``[\\w.-]++:``, ASCII only in a bytes pattern, so ``<中:mergeCells>`` / ``<中:sheetProtection>`` bound to the main
namespace (on the root or on the element itself) is neither refused nor read. The general path (expat, namespaces
resolved) reads it, and LibreOffice shows such a merged range. The two new switches agree with the tail read whole
on every case here.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from pathlib import Path
from typing import Callable

import pytest

from .conftest import SAMPLES
from .fast_paths import differences_on_and_off, forget, module, switched, verdict
from .test_fast_paths import _nth_validation
from .test_natr_hostile import replaced as once  # (the first occurrence replaced; it must be there)
from .test_prove_cells_hostile import then as both  # (changes one after the other)

#: A generated national return (the generator's breaks, its protection and merges, 40 data validations).
NATIONAL = SAMPLES / "national" / "returns" / "农田水利-自评(定稿).xlsx"
FORM = "xl/worksheets/sheet1.xml"
MAIN = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PROTECTION = b'<sheetProtection sheet="1" objects="1" scenarios="1" formatColumns="0" formatRows="0"/>'
ZH = "中".encode()  # (a prefix or a name not ASCII)
Change = Callable[[bytes], bytes]


def built(dest: Path, change: Change | None = None, src: Path = NATIONAL) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if change is not None and info.filename == FORM:
                data = change(data)
                assert data != zin.read(info.filename)
            zout.writestr(zipfile.ZipInfo(info.filename, date_time=(2021, 4, 30, 9, 0, 0)), data, zipfile.ZIP_DEFLATED)
    dest.write_bytes(buf.getvalue())
    return dest


nth_validation = _nth_validation  # (the form sheet with its n-th data validation changed: test_fast_paths')


def inside(n: int, what: bytes) -> Change:
    """``what`` put last inside the n-th data validation."""
    return nth_validation(n, lambda v: v[:-len(b"</dataValidation>")] + what + b"</dataValidation>")


def root(attrs: bytes) -> Change:
    return once(b"<worksheet ", b"<worksheet " + attrs + b" ")


Q = root(b'xmlns:q="' + MAIN + b'"')  # (an ASCII prefix for the main namespace, on the root: the tail still proved)
NO_PROTECTION = once(PROTECTION, b"")

#: Hostile tails, by what they try: each must read the same with the switches on, off, and every path off.
HOSTILE: dict[str, Change] = {
    # inside a data validation, what _inert must see (or may safely ignore)
    "dv-self-closing-child-attr-not-ascii": inside(3, b'<x ' + ZH + b'="1"/>'),
    "dv-child-name-not-ascii": inside(3, b"<" + ZH + b">1</" + ZH + b">"),
    "dv-child-attr-not-ascii-with-child": inside(3, b"<x " + ZH + b'="1"><y></y></x>'),
    "dv-own-attr-not-ascii": nth_validation(3, once(b"<dataValidation ", b"<dataValidation " + ZH + b'="1" ')),
    "dv-attr-holding-a-protection-tag": nth_validation(3, once(
        b'sqref="', b'x="/&gt;&lt;sheetProtection sheet=&quot;0&quot;/>" sqref="')),
    "dv-attr-with-gt-and-slash": nth_validation(3, once(b'sqref="', b'x="a/>b>" sqref="')),
    "dv-escaped-protection-text": inside(3, b'&lt;sheetProtection sheet="0"/&gt;'),
    "dv-char-ref-merge-text": inside(3, b"&#60;mergeCells&#62;&#60;mergeCell ref=&#34;B5:C5&#34;/&#62;"),
    "dv-formula-words": nth_validation(3, once(b"<formula1>", b"<formula1>row c sheetProtection mergeCell ")),
    "dv-upper-case-cell": inside(3, b'<C r="B5"/>'),
    "dv-prefixed-protection": both(Q, inside(3, b'<q:sheetProtection sheet="0"/>')),
    "dv-prefixed-row": both(Q, inside(3, b'<q:row r="5"/>')),
    "dv-prefixed-cell": both(Q, inside(3, b'<q:c r="B5"/>')),
    "dv-prefixed-merge": both(Q, inside(3, b'<q:mergeCell ref="B5:C5"/>')),
    "dv-prefixed-sheetdata": both(Q, inside(3, b"<q:sheetData/>")),
    "dv-protection": inside(3, b'<sheetProtection sheet="0"/>'),
    "dv-merges": inside(3, b'<mergeCells count="1"><mergeCell ref="B5:C5"/></mergeCells>'),
    "dv-deep-protection": inside(3, b'<x><y><sheetProtection sheet="0"/></y></x>'),
    "dv-cdata": inside(3, b'<![CDATA[<sheetProtection sheet="0"/>]]>'),
    "dv-comment": inside(3, b'<!--<mergeCell ref="B5:C5"/>-->'),
    "dv-instruction": inside(3, b'<?x <row r="1"/>?>'),
    "dv-char-ref-nul": inside(3, b"&#0;"),
    "dv-unbound-prefix": inside(3, b"<zz:row/>"),
    "dv-attribute-twice": inside(3, b'<x a="1" a="2"/>'),
    "dv-wrapping-merges": both(once(b"<mergeCells ", b'<dataValidation sqref="A1"><mergeCells '),
                               once(b"</mergeCells>", b"</mergeCells></dataValidation>")),
    "dv-wrapping-protection": once(PROTECTION, b'<dataValidation sqref="A1">' + PROTECTION + b"</dataValidation>"),
    "dv-between-merges": once(b'<mergeCell ref="A2:L2"/>', b'<dataValidation sqref="A1"></dataValidation><mergeCell ref="A2:L2"/>'),
    "dv-in-a-merge": once(b'<mergeCell ref="A1:L1"/>', b'<mergeCell ref="A1:L1"><dataValidation sqref="A1"></dataValidation></mergeCell>'),
    "dv-inside-an-open-one": once(b"<dataValidations ", b'<dataValidation\tsqref="Z1"><dataValidations '),
    # the lists proved apart
    "list-placeholder-after": once(b"</dataValidations>", b"</dataValidations><dataValidation/>"),
    "list-count-nine-digits": lambda d: re.sub(rb'<dataValidations count="\d+"', b'<dataValidations count="999999999"', d, 1),
    "breaks-in-a-validation": inside(3, b'<rowBreaks count="1" manualBreakCount="1"><brk id="3" max="16383" man="1"/></rowBreaks>'),
    "breaks-in-the-protection": once(PROTECTION, PROTECTION[:-2] + b'><rowBreaks count="1" manualBreakCount="1">'
                                     b'<brk id="3" max="16383" man="1"/></rowBreaks></sheetProtection>'),
    "list-in-the-protection": once(PROTECTION, PROTECTION[:-2] + b'><dataValidations count="1"><dataValidation sqref="A1">'
                                   b"</dataValidation></dataValidations></sheetProtection>"),
    "list-in-the-merges": once(b"</mergeCells>", b'<dataValidations count="1"><dataValidation sqref="A1"></dataValidation>'
                               b"</dataValidations></mergeCells>"),
    "protection-in-the-list": both(NO_PROTECTION, once(b"</dataValidations>", b'<sheetProtection sheet="1"/></dataValidations>')),
    "protection-in-the-breaks": both(NO_PROTECTION, once(b"</rowBreaks>", b'<sheetProtection sheet="1"/></rowBreaks>')),
    "merges-in-the-breaks": once(b"</rowBreaks>", b'<mergeCells count="1"><mergeCell ref="Z1:Z2"/></mergeCells></rowBreaks>'),
    "protection-after-the-list": both(NO_PROTECTION, once(b"</dataValidations>", b'</dataValidations><sheetProtection sheet="1"/>')),
    "protection-after-the-footer": both(NO_PROTECTION, once(b"</headerFooter>", b'</headerFooter><sheetProtection sheet="1"/>')),
    "protection-in-the-footer": both(NO_PROTECTION, once(b"</headerFooter>", b'<sheetProtection sheet="1"/></headerFooter>')),
    "merges-in-the-footer-text": once(b"</oddFooter>", b'<mergeCells count="1"><mergeCell ref="Z1:Z2"/></mergeCells></oddFooter>'),
    # the protection and merges themselves, the tail proved by its pieces
    "protection-sheet-char-ref-0": once(b'<sheetProtection sheet="1"', b'<sheetProtection sheet="&#48;"'),
    "protection-sheet-char-ref-1": once(b'<sheetProtection sheet="1"', b'<sheetProtection sheet="&#49;"'),
    "protection-single-quotes": once(b'<sheetProtection sheet="1"', b"<sheetProtection sheet = '1' "),
    "protection-attr-not-ascii": once(b'<sheetProtection sheet="1"', b"<sheetProtection " + ZH + b'="1" sheet="1"'),
    "protection-gt-in-a-value": once(b'<sheetProtection sheet="1"', b'<sheetProtection x="/>" sheet="0"'),
    "protection-with-an-end-tag": once(PROTECTION, PROTECTION[:-2] + b"></sheetProtection>"),
    "protection-prefixed-sheet": both(Q, once(b'<sheetProtection sheet="1"', b'<sheetProtection q:sheet="1"')),
    "protection-sheet-and-prefixed-sheet": both(Q, once(b'<sheetProtection sheet="1"', b'<sheetProtection sheet="0" q:sheet="1"')),
    "merge-char-ref-colon": once(b'<mergeCell ref="A1:L1"/>', b'<mergeCell ref="A1&#58;L1"/>'),
    "merge-new-line": once(b'<mergeCell ref="A1:L1"/>', b'<mergeCell ref="A1:L1"\n/>'),
    "merge-tab": once(b'<mergeCell ref="A1:L1"/>', b'<mergeCell\tref="A1:L1"/>'),
    "merges-self-closing-in-a-value": once(b"<mergeCells ", b'<mergeCells x="/>" '),
    "merges-gt-in-a-value": once(b"<mergeCells ", b'<mergeCells x="a>b" '),
    "merges-ascii-prefix-declared-there": once(b"</mergeCells>", b'</mergeCells><q:mergeCells xmlns:q="' + MAIN
                                               + b'" count="1"><q:mergeCell ref="B13:C13"/></q:mergeCells>'),
}


def _read_every_way(plain: Path, changed: Path) -> tuple[dict[str, list[object]], bool]:
    """What the sound return then the hostile one (twice) give: switches on; REMEMBER_TAIL_SKELETONS off (a tail read
    in its skeleton, not its proof); PROVE_LISTS_APART off; TAIL_BY_SKELETON off too; the tail pieces and merges
    remembered off too; every fast path off. And whether, with the switches on (REMEMBER_TAIL_SKELETONS on or off),
    the hostile tail was read in its skeleton or its proof."""
    sheet = module("xltemplate.readers.sheet")
    real = sheet.Sheet._tail
    read: list[bytes] = []
    order = (plain, changed, changed)
    got: dict[str, list[object]] = {}
    sheet.Sheet._tail = lambda self, tail: read.append(tail) or real(self, tail)  # type: ignore[method-assign]
    try:
        skeleton = False
        for mode in ("on", "skeleton", "lists", "whole", "off"):
            forget()
            with switched(True):
                sheet.REMEMBER_TAIL_SKELETONS = mode == "on"
                sheet.PROVE_LISTS_APART = mode in ("on", "skeleton")
                sheet.TAIL_BY_SKELETON = mode in ("on", "skeleton", "lists")
                sheet.REMEMBER_TAIL_PIECES = sheet.REMEMBER_MERGES = mode != "off"
                got[mode] = []
                for n, p in enumerate(order):
                    sheet._TAILS.clear()  # (a tail not remembered whole: its pieces decide)
                    read.clear()
                    got[mode].append(verdict(p))
                    if mode in ("on", "skeleton") and n:  # (a skeleton's list of empty validations, or a proof's one element)
                        skeleton = skeleton or any((b"<dataValidation/>" in t or b"<dataValidations/>" in t)
                                                   and b"<dataValidation " not in t for t in read)
    finally:
        sheet.Sheet._tail = real  # type: ignore[method-assign]
    with switched(False):
        got["alone"] = [verdict(p) for p in order]
    return got, skeleton


#: Hostile tails that the switches do read in their skeleton (each data validation inert): the cases aimed at them
#: reach them.
IN_SKELETON = {
    "dv-self-closing-child-attr-not-ascii", "dv-escaped-protection-text",
    "dv-char-ref-merge-text", "dv-formula-words", "dv-upper-case-cell", "dv-attr-with-gt-and-slash",
    "list-placeholder-after", "list-count-nine-digits", "breaks-in-a-validation", "breaks-in-the-protection",
    "list-in-the-protection", "list-in-the-merges", "protection-after-the-list", "protection-after-the-footer",
    "protection-sheet-char-ref-0", "protection-single-quotes", "protection-gt-in-a-value", "merge-tab",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_tail_reads_the_same_every_way(tmp_path: Path, name: str) -> None:
    plain = built(tmp_path / "plain.xlsx")
    changed = built(tmp_path / f"{name}.xlsx", HOSTILE[name])
    got, skeleton = _read_every_way(plain, changed)
    assert got["on"] == got["skeleton"] == got["lists"] == got["whole"] == got["off"] == got["alone"]
    assert not isinstance(got["on"][0], tuple)  # (the sound return reads)
    if name in IN_SKELETON:
        assert skeleton, "the hostile tail was not read in its skeleton: the case does not reach the switch"


# -- findings: a namespace prefix that is not ASCII hides an element from Sheet._tail --------------------------------

ON_ROOT = root(b"xmlns:" + ZH + b'="' + MAIN + b'"')
#: Each: a tail element in the main namespace under a prefix that is not ASCII. The general path reads it (a merged
#: range more, or a second protection, which it refuses); Sheet._tail sees neither (TAIL_BY_SKELETON, PROVE_LISTS_APART
#: and the tail pieces on or off: the split path's tail reader).
HIDDEN: dict[str, Change] = {
    "merges-prefix-on-the-root": both(ON_ROOT, once(b"</mergeCells>", b"</mergeCells><" + ZH + b':mergeCells count="1"><'
                                                    + ZH + b':mergeCell ref="C12:G12"/></' + ZH + b":mergeCells>")),
    "merges-prefix-declared-there": once(b"</mergeCells>", b"</mergeCells><" + ZH + b":mergeCells xmlns:" + ZH + b'="'
                                         + MAIN + b'" count="1"><' + ZH + b':mergeCell ref="C12:G12"/></' + ZH
                                         + b":mergeCells>"),
    "second-protection-prefix-on-the-root": both(ON_ROOT, once(b"<mergeCells ", b"<" + ZH + b':sheetProtection sheet="0"/><mergeCells ')),
    "second-protection-prefix-declared-there": once(b"<mergeCells ", b"<" + ZH + b":sheetProtection xmlns:" + ZH + b'="'
                                                    + MAIN + b'" sheet="0"/><mergeCells '),
    "second-cell-area-prefix-on-the-root": both(ON_ROOT, once(b"</sheetData>", b"</sheetData><" + ZH + b':sheetData><' + ZH
                                                              + b':row r="12"><' + ZH + b':c r="C12" t="inlineStr"><' + ZH
                                                              + b":is><" + ZH + b":t>X</" + ZH + b":t></" + ZH + b":is></"
                                                              + ZH + b":c></" + ZH + b":row></" + ZH + b":sheetData>")),
    "only-protection-prefixed": both(ON_ROOT, once(PROTECTION, b"<" + ZH + PROTECTION[:-2][1:].replace(
        b"sheetProtection", b":sheetProtection", 1) + b"/>")),
}


@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_an_element_under_a_prefix_not_ascii_reads_as_with_the_paths_off(tmp_path: Path, name: str) -> None:
    plain = built(tmp_path / "plain.xlsx")
    changed = built(tmp_path / f"{name}.xlsx", HIDDEN[name])
    assert differences_on_and_off([plain, changed]) == []


def test_a_merged_range_under_a_prefix_not_ascii_is_read(tmp_path: Path) -> None:
    """The plain fact under the findings: with the fast paths on, the merged range C12:G12 (LibreOffice shows it)
    is not among the sheet's merged ranges; with them off it is."""
    changed = built(tmp_path / "hidden.xlsx", HIDDEN["merges-prefix-on-the-root"])
    got = {}
    for on in (True, False):
        forget()
        with switched(on):
            v = verdict(changed)
        assert not isinstance(v, tuple)
        got[on] = v
    assert got[True] == got[False]


def test_a_second_protection_under_a_prefix_not_ascii_is_refused(tmp_path: Path) -> None:
    """<sheetProtection sheet="1" .../><中:sheetProtection sheet="0"/>, 中 bound to the main namespace on the root:
    LibreOffice takes the second (it opens and saves the sheet unprotected); the general path refuses two protections.
    With the fast paths on, the form sheet is read as protected."""
    changed = built(tmp_path / "two.xlsx", HIDDEN["second-protection-prefix-on-the-root"])
    forget()
    with switched(True):
        on = verdict(changed)
    assert isinstance(on, tuple) and on[1:3] == ("file-corrupt", "part"), on if isinstance(on, tuple) else on["protected"]


# -- forged tails, one by one: the proof and the skeleton against expat and the tail read whole ----------------------

_NAMES = [b"sheetProtection", b"mergeCells", b"mergeCell", b"x", b"y", ZH, b"q:row", b"q:mergeCells", b"q:sheetProtection",
          b"row", b"c", b"C", b"dataValidation", b"dataValidations", b"rowBreaks", b"brk", b"sheetData", b"formula1",
          b"oddFooter", b"headerFooter"]
_ATTRS = [b' sheet="0"', b' sheet="1"', b' ref="B5:C5"', b' ref="Z1:Z2"', b' count="1"', b" " + ZH + b'="1"', b' a=">"',
          b' a="/>"', b" a='\"'", b' sqref="A1"', b' q:sheet="1"', b' id="1" max="2" man="1"', b' manualBreakCount="1"',
          b' a="&lt;row&gt;"']
#: Not well-formed where they are put (a tag unclosed or closed twice, an attribute twice, an entity unknown, a prefix
#: unbound, a stray "<"): a proof that takes them is wrong.
_BROKEN = [b"<x>", b"</x>", b"</rowBreaks>", b"<rowBreaks>", b"</dataValidations>", b'<y a="1" a="2"/>', b"&bogus;",
           b"<zz:y/>", b"<", b"<dataValidation sqref=\"A1\">", b"</dataValidation>", b"<brk/>",
           b'<brk id="1" id="2" max="2" man="1"/>', b'<brk id="1" max="&bogus;" man="1"/>']
_TEXTS = [b"", b"t", b"&lt;sheetProtection/&gt;", b"&#60;row&#62;", b">", b'"', b"'"]


def _fragment(rnd: random.Random, depth: int = 0) -> bytes:
    """A random well-formed element (if its prefix is bound) of the names the tail reader and the proof look for."""
    name, attrs = rnd.choice(_NAMES), b"".join(rnd.sample(_ATTRS, rnd.randint(0, 2)))
    if rnd.random() < 0.4 or depth > 2:
        return b"<" + name + attrs + b"/>"
    body = b"".join(_fragment(rnd, depth + 1) if rnd.random() < 0.6 else rnd.choice(_TEXTS) for _ in range(rnd.randint(0, 3)))
    return b"<" + name + attrs + b">" + body + b"</" + name + b">"


def test_forged_tails_proved_are_well_formed_and_read_the_same_in_their_skeleton() -> None:
    """1,500 forged tails of the national form (1-3 random elements, or a broken piece, put before a tag, mostly inside data validations, some in the row breaks;
    the root with an ASCII prefix for the main namespace or not; the protection there or not; the pieces remembered
    or forgotten): every tail _tail_proved proves is well-formed for expat (the lists proved apart), and every one it
    gives a skeleton for reads in Sheet._tail as the tail whole (the same verdict, protection and merged ranges)."""
    from xltemplate.errors import Unreadable
    from xltemplate.readers.package import feed, parser

    sheet = module("xltemplate.readers.sheet")
    with zipfile.ZipFile(NATIONAL) as z:
        data = z.read(FORM)
    k = data.find(b"<worksheet ")
    plain_root = sheet._TAG.match(data, k).group(0)
    roots = (plain_root, plain_root[:-1] + b' xmlns:q="' + MAIN + b'">')
    tail = data[data.find(b"</sheetData>"):]

    def whole(root_tag: bytes, t: bytes) -> bool:
        try:
            feed(parser(), root_tag + b"<sheetData>" + t, "")
            return True
        except Unreadable:
            return False

    def tail_read(t: bytes) -> object:
        s = sheet.Sheet.__new__(sheet.Sheet)
        s.part = FORM
        s.reset()
        try:
            ok = s._tail(t)
        except Unreadable as exc:
            return ("unreadable", exc.code, exc.variant)
        return ok, s.protections, s.protected, tuple(s.merges)

    rnd = random.Random(15)
    proved = in_skeleton = 0
    wrong: list[tuple[int, str]] = []
    forget()
    with switched(True):
        for n in range(1500):
            root_tag = rnd.choice(roots)
            t = tail if rnd.random() < 0.7 else tail.replace(PROTECTION, b"", 1)
            for _ in range(rnd.randint(1, 3)):
                where = rnd.random()
                if where < 0.15:  # (in the row breaks' list, which the proof puts apart)
                    pos = rnd.choice([m.start() for m in re.finditer(rb"<brk |</rowBreaks>", t)])
                elif where < 0.7:
                    a = rnd.choice([m.start() for m in re.finditer(rb"<dataValidation ", t)])
                    e = t.index(b"</dataValidation>", a) + len(b"</dataValidation>")
                    pos = a + 1 + rnd.choice([m.start() for m in re.finditer(rb"<", t[a + 1:e])])
                else:
                    pos = rnd.choice([m.start() for m in re.finditer(rb"<", t)][1:])
                t = t[:pos] + (rnd.choice(_BROKEN) if rnd.random() < 0.15 else _fragment(rnd)) + t[pos:]
            if rnd.random() < 0.3:
                forget()
            shape, texts = sheet._tail_shape(t)
            lighter: list[bytes] = []
            if not sheet._tail_proved(root_tag, shape, texts, lighter):
                continue
            proved += 1
            if not whole(root_tag, t):
                wrong.append((n, "proved, not well-formed"))
            if lighter:
                in_skeleton += 1
                if tail_read(t) != tail_read(lighter[0]):
                    wrong.append((n, "read otherwise in its skeleton"))
                if tail_read(t) != tail_read(lighter[1]):  # (REMEMBER_TAIL_SKELETONS reads the proof)
                    wrong.append((n, "read otherwise in its proof"))
    assert not wrong
    assert proved > 500 and in_skeleton > 200, (proved, in_skeleton)  # (the forged tails reach both switches)
