"""Tools for the tests, the samples and the pictures, not part of the package: driving LibreOffice
(:mod:`tools.soffice`) and Gnumeric (:mod:`tools.gnumeric`) as a person's spreadsheet program would."""
