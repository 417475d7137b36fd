"""Rewrite the finding-codes table in README.md from xltemplate.findings.CODES (run by hand)."""

from pathlib import Path

from xltemplate.findings import codes_table

README = Path(__file__).resolve().parent.parent / "README.md"
HEAD = "| code | severity | 标题 | meaning |\n"

text = README.read_text(encoding="utf-8")
start = text.index(HEAD)
end = text.index("\n\n", start)
README.write_text(text[:start] + codes_table().rstrip("\n") + text[end:], encoding="utf-8")
