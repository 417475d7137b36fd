"""The form every family shares: where the header fields go, the formulas and prompts of header
fields, the generic cell writer, and the writer of a whole workbook (:mod:`xltemplate.form.generate`).

What differs between families of forms (the table's body, its formulas and checks) lives in
:mod:`xltemplate.families`, reached through the :class:`~xltemplate.form.family.FormFamily` protocol.
"""
