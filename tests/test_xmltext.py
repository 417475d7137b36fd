"""``xmltext.unescape``: text read as an XML parser reads it (expat, what openpyxl, Excel and LibreOffice follow).

Every fast path's text (cached texts, formulas, shared strings, defined names) goes through it. It read character
references by HTML5's rules until review 15e (F3): ``&#x80;`` as "€", ``&#x7f;`` and ``&#xFDD0;`` as nothing.
"""

from __future__ import annotations

import random

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

