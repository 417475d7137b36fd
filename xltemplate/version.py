"""The package's version (what ``xltemplate --version`` prints and every workbook records)."""

__version__ = "0.1.0"
