"""Adversarial review of the sixth pass's read side (issue 15, branch natr, reviewed on natrrev): the switches
PLAIN_UNICODE, REMEMBER_HEADS, SHARE_TARGETS_TEXT, REMEMBER_TAIL_PIECES, REMEMBER_MERGES and PROVE_STRINGS.

The claim under test: with the fast paths on, every return (however hostile) reads exactly as with them off (same
cells, protection, merged ranges, refusal and message), also when it follows, in the same process, a return that
shares its head, its tail, its data validations, its merged ranges or its strings' runs with other state. Each
case is a hand-made hostile part put in a national return; they are all read in one row, between sound returns,
with the fast paths on (twice: what the first reading remembered is used the second time) and off. A fixed-seed
mutation of real returns (their heads, tails and shared strings) is read the same way.

Guards: these pass on natr. Finding (fixed on natrrev, its test kept as a guard) of the split path beside them: the
placement rules it applied to a sheet's head were not the general path's.
"""

from __future__ import annotations

import io
import random
import time
import zipfile
from pathlib import Path
from typing import Callable

import pytest

from xltemplate.readers import fast as fastreader
from xltemplate.readers import sheet as fastsheet

from .conftest import SAMPLES
from .fast_paths import differences_on_and_off, forget, switched, verdict

NATIONAL = sorted(p for p in (SAMPLES / "national" / "returns").glob("*.xlsx") if not p.name.startswith("~$"))
FORM, OTHER, STRINGS = "xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/sharedStrings.xml"
Change = Callable[[bytes], bytes]


def built(dest: Path, changes: dict[str, Change], src: Path = NATIONAL[0]) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            change = changes.get(info.filename)
            zout.writestr(zipfile.ZipInfo(info.filename, date_time=(2021, 4, 30, 9, 0, 0)),
                          change(data) if change else data, zipfile.ZIP_DEFLATED)
    dest.write_bytes(buf.getvalue())
    return dest


def at(marker: bytes, what: bytes, after: bool = True, nth: int = 0) -> Change:
    """Put ``what`` at the ``nth`` ``marker`` (after it, or before it)."""
    def change(data: bytes) -> bytes:
        i = -1
        for _ in range(nth + 1):
            i = data.find(marker, i + 1)
            assert i >= 0, marker
        i += len(marker) if after else 0
        return data[:i] + what + data[i:]
    return change


def replaced(old: bytes, new: bytes) -> Change:
    def change(data: bytes) -> bytes:
        assert old in data, old
        return data.replace(old, new, 1)
    return change


def moved_merges(data: bytes) -> bytes:
    i, j, k = data.find(b"<mergeCells"), data.find(b"</mergeCells>") + 13, data.find(b"<sheetData>")
    return data[:k] + data[i:j] + data[k:i] + data[j:]


#: Text put where character data goes (a footer, a shared string, a string's run): references, entities, CDATA's
#: end, characters XML refuses, surrogates, non-characters, astral characters written and referred to, C1 controls,
#: line ends (\r is read as \n), what Excel escapes.
TEXTS = [b"]]>", b"&#1;", b"&#xD800;", b"\x0c", b"\x0b", b"&bogus;", b"\xed\xa0\x80", b"\xef\xbf\xbf", b"\xef\xbf\xbe",
         b"\xf0\x9f\x98\x80", b"&#x1F600;", b"&#10;&#13;&#9;&#xA;&#xa;&#xD;", b"&#010;", b"&#Xa;", b"\r\n\r", b"&amp;lt;",
         b"&am&amp;p;", b"\xe4&amp;\xb8\xad", b"]]&gt;", b"]&#93;>", b"\xc2\x85", b"&#x85;", b"\x7f", b"\x00", b"_x000D_",
         b"\xc0\x80", b"\xf4\x90\x80\x80", b"\xef\xbb\xbf"]
#: Put before <sheetData> (in a sheet's head): a second cell area, protections, merged ranges, characters XML
#: refuses, references and prefixes, duplicate attributes, an element left open.
IN_HEAD = [b"<sheetData></sheetData>", b'<mergeCells count="1"><mergeCell ref="A1:B2"/></mergeCells>', b"\x0b", b"\x0c",
           b"<dimension ref='&amp;&#65;'/>", b"<x14:foo/>", b"<foo:bar/>", b'<sheetPr a="1" a="2"/>', b'<sheetPr a="\xed\xa0\x80"/>',
           b'<sheetPr a="&#0;"/>', b'<sheetPr a="]]>"/>', b"<sheetPr>]]></sheetPr>", b"\xf0\x9f\x98\x80", b'<mergeCell ref="A1:B2"/>',
           b"<sheetViews>"]
#: Put after a data validation's start tag: one closed early (</dataValidation > is an end tag the pieces' count does
#: not see), entities, "<" and duplicates in attributes, prefixes bound by the root or not, protection and merged
#: ranges inside a validation, CDATA's end in a formula, a validation inside a validation.
IN_VALIDATION = [b'a="1"></dataValidation ><dataValidation b="1"', b'a="&bogus;" ', b'a="<" ', b'a="1" a="2" ', b'a="\x0b" ',
                 b'a="&#0;" ', b'a="\xef\xbf\xbe" ', b'a="\xed\xa0\x80" ', b'a="\xf0\x9f\x98\x80" ', b'x14:a="1" ', b'q:a="1" ',
                 b'a="1"><mergeCells count="1"><mergeCell ref="A1:C3"/></mergeCells></dataValidation><dataValidation b="1" ',
                 b'a="1"><sheetProtection sheet="0"/></dataValidation><dataValidation b="1" ',
                 b'a="1"><formula1>]]></formula1></dataValidation><dataValidation ',
                 b'a="1"><formula1>&#1;</formula1></dataValidation><dataValidation ',
                 b'a="1"></dataValidation\n><dataValidation ', b'a="1"><dataValidation></dataValidation></dataValidation><dataValidation ',
                 b'a="1"><formula1>1</formula1></dataValidation><dataValidation b="1"><formula1>', b"\r\n\t",
                 # (two validations that balance each other, a list closed and opened between them)
                 b'a="1"><dataValidation></dataValidation></dataValidations><dataValidations count="1"><dataValidation b="1">'
                 b'</dataValidation></dataValidation><dataValidation ']
#: Put before a shared string: strings of every shape the plain path does not take, and malformed ones.
STRINGS_PUT = [b"<si/>", b"<si></si>", b"<si><t/></si>", b"<si><t>a</t><t>b</t></si>", b"<si ><t>a</t></si>",
               b'<si><r><t>a</t></r><rPh sb="0" eb="1"><t>b</t></rPh></si>', b"<si><r><t>a</t></r></si ><si><t>b</t></si>",
               b"<si><t xml:space='preserve'>a</t></si>", b"<si><r><rPr><b></rPr><t>a</t></r></si>", b"<si><r><x:b/><t>a</t></r></si>",
               b'<si><r><rPr><b val="1" val="2"/></rPr><t>a</t></r></si>', b"<si><r><t>a</t></r><si><t>b</t></si></si>",
               b"<si><r><t>a</t></r><t>b</t></si>", b'<si><t xml:space="preserve" xml:space="preserve">a</t></si>',
               b'<si><r><rPr><rFont val="&bogus;"/></rPr><t>a</t></r></si>', b'<si><r><rPr><rFont val="]]>"/></rPr><t>a</t></r></si>',
               b"<si><r><t>a</t></r><r><t>b</t></si><si><t>c</t></r></si>", b"<si><r><t>x</t></r></si></sst><sst>",
               b"<si><r><t>a<b/></t></r></si>", b"\x0b", b"\x0c", b"\xc2\xa0", b"\n\r\t"]


def cases() -> dict[str, dict[str, Change]]:
    out: dict[str, dict[str, Change]] = {}
    for part, name in ((FORM, "form"), (OTHER, "other")):
        for k, what in enumerate(IN_HEAD):
            out[f"head-{name}-{k}"] = {part: at(b"<sheetData>", what, after=False)}
        for k, what in enumerate(TEXTS):
            out[f"footer-{name}-{k}"] = {part: at(b"<oddFooter>", what)}
        out[f"bom-{name}"] = {part: lambda d: b"\xef\xbb\xbf" + d}
        out[f"latin1-{name}"] = {part: replaced(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')}
        out[f"space-{name}"] = {part: lambda d: b" " + d}
        out[f"prefixed-root-{name}"] = {part: lambda d: d.replace(b"<worksheet xmlns=", b"<x:worksheet xmlns:x=", 1)
                                        .replace(b"</worksheet>", b"</x:worksheet>")}
        out[f"root-attr-{name}"] = {part: replaced(b"<worksheet ", b'<worksheet a="1" ')}
        out[f"root-dup-{name}"] = {part: replaced(b"<worksheet ", b'<worksheet xmlns:r="x" ')}
        out[f"unprotected-{name}"] = {part: replaced(b'<sheetProtection sheet="true"', b'<sheetProtection sheet="false"')}
    for k, what in enumerate(IN_VALIDATION):
        out[f"validation-{k}"] = {FORM: at(b"<dataValidation ", what, nth=3)}
    for k, what in enumerate([b'<mergeCell ref="A1:C3"/>', b'<mergeCell ref="XFE1:XFF2"/>', b'<mergeCell ref="a1:b2"/>',
                              b'<mergeCell ref="A1:B2" ref="C1"/>', b'<mergeCell ref="A&#49;:B2"/>']):
        out[f"merge-{k}"] = {FORM: at(b'<mergeCells count="53">', what)}
    out["merges-in-head"] = {FORM: moved_merges}
    out["protection-gone"] = {OTHER: replaced(b'<sheetProtection sheet="true" objects="true" scenarios="true"/>', b"")}
    for k, what in enumerate(TEXTS):
        out[f"string-text-{k}"] = {STRINGS: at(b'<si><t xml:space="preserve">', what, nth=2)}
        out[f"string-run-{k}"] = {STRINGS: at(b'</rPr><t xml:space="preserve">', what)}
    for k, what in enumerate(STRINGS_PUT):
        out[f"string-{k}"] = {STRINGS: at(b"<si>", what, after=False, nth=3)}
    for name, change in (("space", lambda d: b" " + d), ("bom", lambda d: b"\xef\xbb\xbf" + d),
                         ("latin1", replaced(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')),
                         ("closed", replaced(b'uniqueCount="118">', b'uniqueCount="118"/>')),
                         ("end-space", lambda d: d + b"\n\r\t "),
                         ("extension", replaced(b"</sst>", b'<extLst><ext uri="a"/></extLst></sst>')),
                         ("extension-open", replaced(b"</sst>", b"<extLst><ext></extLst></sst>")), ("end-junk", lambda d: d + b"x"),
                         ("end-tag", lambda d: d.replace(b"</sst>", b"</sst >")), ("end-ff", lambda d: d + b"\x0c"),
                         ("standalone", replaced(b'standalone="yes"', b'standalone="maybe"')),
                         ("root-dup", replaced(b"count=", b'count="1" count=')), ("root-lt", replaced(b'count="', b'count="<')),
                         ("root-entity", replaced(b'count="', b'count="&bogus;'))):
        out[f"strings-{name}"] = {STRINGS: change}
    return out


def test_hostile_parts_read_the_same_on_and_off_after_returns_that_share_their_pieces(tmp_path: Path) -> None:
    """Every case between sound returns (of its template and another), so that what they remembered (heads, tails,
    validations, merged ranges, strings' beginnings and runs) meets it: 220 cases, one row of 440 returns."""
    sound = built(tmp_path / "sound.xlsx", {})
    row: list[Path] = []
    for k, (name, changes) in enumerate(cases().items()):
        row += [sound if k % 2 else NATIONAL[k % len(NATIONAL)], built(tmp_path / f"{name}.xlsx", changes)]
    assert len(row) > 400
    differences = differences_on_and_off(row)
    assert differences == []
    forget()
    refused = sum(isinstance(verdict(p), tuple) for p in row[1::2])
    assert 100 < refused < len(row) // 2 - 50  # (not idle: many cases read, many are refused)


def test_returns_in_a_row_sharing_a_tail_with_another_state(tmp_path: Path) -> None:
    """A return's tail remembered, then the same tail after a head that protects the sheet or merges cells, or the
    same head before a tail without protection, in both orders: none takes the other's state."""
    sound = built(tmp_path / "sound.xlsx", {})
    merged = built(tmp_path / "merged.xlsx", {FORM: at(b"<sheetData>", b'<mergeCells count="1"><mergeCell ref="A40:B41"/>'
                                                                       b"</mergeCells>", after=False)})
    unprotected = built(tmp_path / "unprotected.xlsx", {
        FORM: replaced(b'<sheetProtection sheet="true"', b'<sheetProtection sheet="false"'),
        OTHER: replaced(b'<sheetProtection sheet="true" objects="true" scenarios="true"/>', b"")})
    moved = built(tmp_path / "moved.xlsx", {FORM: moved_merges})
    for row in ([sound, merged, sound, unprotected, sound, moved, sound], [merged, sound, moved, unprotected, sound]):
        assert differences_on_and_off(row) == []


def _mutated(rng: random.Random, data: bytes) -> bytes:
    tokens = [b"<", b">", b"&", b"&amp;", b"&#10;", b"&#1;", b"]]>", b"\x0b", b"\x0c", b"\r", b"\xed\xa0\x80", b"\xef\xbf\xbe",
              b"\xf0\x9f\x98\x80", b"\xe4\xb8", b'"', b"/", b"<!-- c -->", b"<?pi x?>", b' xmlns:q="u"', b"q:", b"<dataValidation ",
              b"</dataValidation>", b"</dataValidation >", b'<sheetProtection sheet="0"/>', b'<mergeCell ref="A1:B2"/>', b"<si>",
              b"</si>", b"<r>", b"</r>", b"<t>", b"</t>", b"<sheetData>", b"</sheetData>", b"<oddFooter>", b" ", b"a"]
    for _ in range(rng.choice([1, 1, 2, 3])):
        i = rng.randrange(len(data) + 1)
        r = rng.random()
        if r < 0.55:
            data = data[:i] + rng.choice(tokens) + data[i:]
        elif r < 0.8:
            data = data[:i] + data[i + rng.randint(1, 8):]
        else:
            data = data[:i] + bytes([rng.randrange(256)]) + data[i + 1:]
    return data


def test_mutated_national_returns_read_the_same_on_and_off(tmp_path: Path) -> None:
    """120 mutants of national returns (a sheet's head or tail, or the shared strings), each after a sound return."""
    rng = random.Random(15)
    row: list[Path] = []
    for n in range(120):
        src = NATIONAL[n % len(NATIONAL)]
        part = rng.choice([FORM, FORM, OTHER, STRINGS])

        def change(data: bytes) -> bytes:
            i = data.find(b"</sheetData>")
            if i < 0:
                return _mutated(rng, data)
            if rng.random() < 0.6:
                return data[:i] + _mutated(rng, data[i:])
            k = data.find(b"<sheetData>")
            return _mutated(rng, data[:k]) + data[k:]
        row += [NATIONAL[(n + 1) % len(NATIONAL)], built(tmp_path / f"m{n}.xlsx", {part: change}, src)]
    assert differences_on_and_off(row) == []


@pytest.mark.parametrize("what", ["data validations", "strings of runs"])
def test_many_new_pieces_are_read_in_linear_time(what: str, tmp_path: Path) -> None:
    """Tens of thousands of data validations (or strings of runs) none of which is remembered: the pieces' and runs'
    proofs stay linear (four times as many take at most eight times as long: quadratic would be sixteen)."""
    def made(n: int) -> Path:
        if what == "data validations":
            body = b"".join(b'<dataValidation type="whole" sqref="A%d"><formula1>1</formula1></dataValidation>' % i for i in range(n))
            return built(tmp_path / f"v{n}.xlsx", {FORM: at(b"<dataValidation ", body, after=False)})
        body = b"".join(b'<si><r><rPr><sz val="%d"/></rPr><t>a</t></r></si>' % i for i in range(n))
        return built(tmp_path / f"s{n}.xlsx", {STRINGS: at(b"<si>", body, after=False, nth=3)})

    def took(path: Path) -> float:  # (this process's CPU time: the reading is in process; a loaded machine's waits
        best = float("inf")          # are not the reader's, and wall time failed this bound under load)
        for _ in range(3):
            forget()
            start = time.process_time()
            assert not isinstance(verdict(path), tuple)
            best = min(best, time.process_time() - start)
        return best

    with switched(True):
        small, large = took(made(8000)), took(made(32000))
    assert large < 8 * small + 0.1, (small, large)


# -- findings: the split path's placement rules for a sheet's head ----------------------------------------------

#: A sheet's head that the general path refuses (two protections, two cell areas), while the split path, which reads
#: the head with the same handlers but the tail by patterns, read the sheet: the tail's protection was set over the
#: head's (protected, although the first protection says the sheet is not), and the head's empty <sheetData/> was
#: not counted beside the real one. Not the sixth pass's (the split path's, since before it); found beside it, fixed
#: on natrrev (a second protection, or a cell area in the head, sends the sheet to the general path).
SPLIT_HEADS = {
    "protections-head-and-tail": (FORM, b'<sheetProtection sheet="0"/>'),
    "protections-head-and-tail-other": (OTHER, b'<sheetProtection sheet="false"/>'),
    "empty-sheet-data-first": (FORM, b"<sheetData/>"),
    "empty-sheet-data-first-other": (OTHER, b"<sheetData/>"),
}


@pytest.mark.parametrize("case", sorted(SPLIT_HEADS))
def test_a_head_the_general_path_refuses_is_refused_by_the_split_path(case: str, tmp_path: Path, monkeypatch) -> None:
    part, what = SPLIT_HEADS[case]
    path = built(tmp_path / f"{case}.xlsx", {part: at(b"<sheetData>", what, after=False)})
    forget()
    split = verdict(path)
    monkeypatch.setattr(fastsheet, "USE_SPLIT", False)
    forget()
    general = verdict(path)
    assert isinstance(general, tuple) and general[1] == "file-corrupt", general  # (the general path refuses it)
    assert split == general


# -- finding: the general shared-strings reader on an <si> out of its place ------------------------------------

#: A string element where the general shared-strings reader lets anything be (a run's properties, an extension):
#: its end was taken for a string's end (a string appended, the string's texts dropped), so that the real string's
#: end failed with TypeError or AttributeError, out of the reader, instead of a verdict. Found by mutating national
#: returns (not the sixth pass's: with the fast paths off alike). Fixed on natrrev: only the end of a string of the
#: part (a child of <sst>) ends a string; one elsewhere is ignored, as the fast path's runs pattern ignores it.
MISPLACED_STRINGS = {
    "in-run-properties-after-text": b"<si><r><t>a</t><rPr><si/></rPr></r></si>",
    "in-extension": b"<si><t>a</t></si><extLst><si/></extLst>",
}


@pytest.mark.parametrize("case", sorted(MISPLACED_STRINGS))
def test_a_string_element_out_of_its_place_gets_a_verdict(case: str, tmp_path: Path) -> None:
    path = built(tmp_path / f"{case}.xlsx", {STRINGS: at(b"<si>", MISPLACED_STRINGS[case], after=False, nth=3)})
    verdicts = []
    for on in (True, False):
        forget()
        with switched(on):
            verdicts.append(verdict(path))  # a submission or a refusal, never another exception
    assert verdicts[0] == verdicts[1]


# -- finding (fixed on natrrev): the targets identify hands on (SHARE_TARGETS_TEXT) could not be copied -----------

def test_recorded_targets_survive_pickling_copying_and_asdict() -> None:
    """identify's targets (a tuple subclass carrying its canonical JSON) inside what identify returns: a worker's
    result that holds them is pickled, a dataclass that holds them may be copied or turned into a dict."""
    import copy
    import dataclasses
    import pickle

    from xltemplate import meta
    from xltemplate.identify import Identified

    data = [{"name": "验收合格率", "target": "95", "points": "3.5"}]
    recorded = meta.RecordedTargets(data, meta.targets_json(data))
    for made in (pickle.loads(pickle.dumps(recorded)), copy.copy(recorded), copy.deepcopy(recorded)):
        assert list(made) == data and meta.targets_json(made) == meta.targets_json(data)
    ident = Identified(None, None, None, None, {}, targets=recorded)
    assert dataclasses.asdict(ident)["targets"] == tuple(data)
    assert meta.targets_json(dataclasses.asdict(ident)["targets"]) == meta.targets_json(data)


# -- finding (review 15f-natrrev, older than natr): the fast path took the main namespace from an attribute's text ----

MAIN = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#: Roots of the shared-strings part and whether their strings are those of the main namespace (read), or not
#: (refused, as the general parser refuses a root in another namespace).
SST_ROOTS = {
    "declaration-inside-a-value": (b"<sst a=' xmlns=\"" + MAIN + b"\"' xmlns=\"" + MAIN + b"X\"", False),
    "declaration-inside-a-value-double": (b"<sst a=\"x xmlns='" + MAIN + b"'\" xmlns='urn:other'", False),
    "single-quotes-and-attributes-around": (b"<sst count=\"152\" xmlns='" + MAIN + b"' uniqueCount=\"118\"", True),
    "spaces-around-the-equals": (b"<sst xmlns = \"" + MAIN + b"\"\n count=\"152\"", True),
}


@pytest.mark.parametrize("case", sorted(SST_ROOTS))
def test_the_shared_strings_namespace_is_read_from_the_declaration_itself(case: str, tmp_path: Path) -> None:
    """A root whose attribute's value holds the main namespace's declaration as text is in another namespace: expat
    and the general parser refuse it; the fast path took it for the main one (a substring test) and read the strings.
    Now the fast path reads the root's attributes as attributes; a root it takes reads as the sample does."""
    root, main = SST_ROOTS[case]
    original = NATIONAL[0]
    path = built(tmp_path / f"{case}.xlsx", {STRINGS: lambda data: data.replace(
        data[data.index(b"<sst"):data.index(b">", data.index(b"<sst"))], root, 1)})
    forget()
    got = [verdict(path)]
    with switched(False):
        got.append(verdict(path))
    assert got[0] == got[1]
    if main:  # the strings and cells of the sample (the file's own bytes, name and hash aside); by the fast path
        forget()
        want = verdict(original)
        assert isinstance(got[0], dict) and isinstance(want, dict)
        assert {k: v for k, v in got[0].items() if k not in ("path", "sha256", "size")} \
            == {k: v for k, v in want.items() if k not in ("path", "sha256", "size")}
        with zipfile.ZipFile(path) as z:
            assert fastreader._shared_strings_fast(z.read(STRINGS)) is not None
    else:
        assert isinstance(got[0], tuple) and got[0][0] == "unreadable", got[0]
