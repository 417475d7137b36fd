"""``xmltext.unescape``: text read as an XML parser reads it (expat, what openpyxl, Excel and LibreOffice follow).

Every fast path's text (cached texts, formulas, shared strings, defined names) goes through it. It read character
references by HTML5's rules until review 15e (F3): ``&#x80;`` as "€", ``&#x7f;`` and ``&#xFDD0;`` as nothing.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pyexpat
import pytest

from xltemplate.readers.xmltext import text, unescape


def expat(body: str) -> str | None:
    """The character data expat reads from ``body`` as an element's content; None where it refuses it."""
    p = pyexpat.ParserCreate()
    out: list[str] = []
    p.CharacterDataHandler = out.append
    try:
        p.Parse(b"<a>" + body.encode("utf-8") + b"</a>", True)
    except pyexpat.ExpatError:
        return None
    return "".join(out)


def ours(body: str) -> str | None:
    try:
        return unescape(body)
    except ValueError:
        return None


#: References XML reads otherwise than HTML5 (C1 controls, DEL, non-characters), the edges of XML's Char, the ones
#: expat refuses (C0 controls, surrogates, U+FFFE/U+FFFF, past U+10FFFF) and the malformed ones HTML5 takes.
REFERENCES = ["&#x80;", "&#x85;", "&#x93;", "&#x9f;", "&#128;", "&#x7f;", "&#xFDD0;", "&#xfdef;", "&#x1FFFE;",
              "&#x10FFFF;", "&#1114111;", "&#9;", "&#10;", "&#13;", "&#x20;", "&#xD7FF;", "&#xE000;", "&#xFFFD;",
              "&#x10000;", "&#0000065;", "&#x00000000041;", "&#xaB;",
              "&#0;", "&#x1;", "&#x1F;", "&#xD800;", "&#xDFFF;", "&#xFFFE;", "&#xFFFF;", "&#x110000;", "&#1114112;",
              "&#99999999999999999999;", "&#X41;", "&#x41", "&#65", "&#;", "&#x;", "&#-1;", "&# 65;", "&#x4g;",
              "&#\u0663;", "&nbsp;", "&AMP;", "&amp", "&", "&amp;&nbsp;", "&quot;&copy;"]


@pytest.mark.parametrize("ref", REFERENCES)
def test_a_reference_reads_as_expat_reads_it(ref: str) -> None:
    """Each alone and among other text: the character expat gives, or refused (ValueError) where expat refuses."""
    for body in (ref, f"前{ref}后", f"&quot;{ref}&amp;"):
        assert ours(body) == expat(body), body


def test_references_html_reads_otherwise_are_the_characters_themselves() -> None:
    """The review's cases, spelt out (not only "as expat"): U+0080 is not "€", DEL and U+FDD0 are not dropped."""
    assert unescape("&#x80;") == "\x80" and unescape("&#x7f;") == "\x7f" and unescape("&#xFDD0;") == "\ufdd0"
    assert text(b"a&#x85;b") == "a\x85b"
    with pytest.raises(ValueError):
        unescape("&#xFFFE;")


def test_line_ends_are_normalised_before_references() -> None:
    assert unescape("a\r\nb\rc&#13;&#xD;&#10;") == "a\nb\nc\r\r\n"


def test_random_texts_read_as_expat_reads_them() -> None:
    """Texts made at random of references, entities, their pieces and characters (one seed): as expat, every one."""
    pieces = REFERENCES + ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#", "&#x", ";", "#", "x", "0", "1", "F", "amp",
                           "lt", "\r", "\n", "\r\n", "\t", " ", "é", "中", "\U0001F680", "\x85", ">"]
    rnd = random.Random(15)
    texts = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 6))) for _ in range(5000)]
    wrong = [t for t in texts if ours(t) != expat(t)]
    assert not wrong, wrong[:10]
    assert 500 < sum(ours(t) is None for t in texts) < 4500  # (both branches: refused and read)


# -- tile: matching token after token, in linear time ----------------------------------------------------------

def test_tile_gives_findalls_tokens_where_they_tile_and_none_where_they_do_not() -> None:
    """``tile`` in place of ``findall`` plus a check that the tokens' lengths add up: the same tokens (groups as
    findall gives them, b"" for one that took no part) where they tile the text, None where they do not."""
    import re
    from operator import itemgetter

    from xltemplate.readers.sheet_strict import _TOKEN
    from xltemplate.readers.xmltext import tile

    pieces = [b'<row r="1">', b'<row r="2" spans="1:2">', b"</row>", b'<c r="A1"/>', b'<c r="B1" s="3" t="str"><f>A1</f><v></c>',
              b'<c r="C1" t="s"><v></c>', b" ", b"\n  ", b"\t", b"x", b"<", b"<d/>", b" " * 50, b"\x0b"]
    rnd = random.Random(15)
    tiled = gaps = 0
    for _ in range(3000):
        text = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 8)))
        end = len(text.rstrip())
        found = _TOKEN.findall(text)
        expected = found if sum(map(len, map(itemgetter(0), found))) == end else None
        assert tile(_TOKEN, text, 0, end) == expected, text
        tiled += expected is not None
        gaps += expected is None
    assert tiled > 300 and gaps > 300
    assert tile(re.compile(rb"(a*)"), b"b", 0, 1) is None  # (a pattern that matches nothing at all does not loop)


def _cpu(path: Path) -> tuple[float, object]:
    from .fast_paths import forget, verdict

    forget()
    start = time.process_time()
    got = verdict(path)
    return time.process_time() - start, got


def test_a_run_of_white_space_among_shared_strings_is_read_in_linear_time(tmp_path: Path) -> None:
    """The shared strings' pattern starts with ``\\s*`` too (``fast._SI_PLAIN``): 64 000 spaces and a letter between
    two strings (well-formed XML; refused as the general path refuses text there, as openpyxl does) cost some 4 s
    of CPU by findall; by ``tile``, nothing. The verdict is the same with the fast paths off, and openpyxl's."""
    from .fast_paths import switched
    from .test_differential import read_both
    from .test_fast_paths import STRINGS, repacked

    def spaces(data: bytes) -> bytes:
        i = data.find(b"</si>") + 5
        return data[:i] + b" " * 64_000 + b"x" + data[i:]

    path = repacked(tmp_path / "spaces.xlsx", {STRINGS: spaces})
    with switched(True):
        on, got = _cpu(path)
    with switched(False):
        _, off = _cpu(path)
    assert got == off
    _, reference = read_both(path)
    assert isinstance(got, tuple) and isinstance(reference, tuple) and got[1] == reference[1] == "file-corrupt", (got, reference)
    assert on < 1.0, f"{on:.2f} s of CPU for 64,000 bytes of white space"
