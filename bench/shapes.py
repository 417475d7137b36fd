"""What the national form's per-return figures forget before a file, so that it is read as a project of a shape no
earlier return had (bench.py, ab_switch.py, national_ratio.py: one list, where each script had its own copy)."""

from __future__ import annotations


def forget_plan(*, new_shape: bool = False, skeletons: bool = False) -> None:
    """The validation plan made anew (every return's is its own: collect validates each return once); with
    ``new_shape``, its shape's parts too (normalise's shapes and formulas' reads, the rows' formulas by shape), and
    with ``skeletons`` the sheets' skeletons (the form sheet's is its own). What recurs row by row stays remembered."""
    from xltemplate import normalise
    from xltemplate.families.rule_scored import formulas as rule_formulas
    from xltemplate.readers import sheet_strict

    normalise._PLANS.clear()
    if new_shape:
        normalise._SHAPES.clear()
        normalise._READS.clear()
        rule_formulas._BY_SHAPE.clear()
    if skeletons:
        sheet_strict._SKELETONS.clear()
        sheet_strict._skeleton_bytes[0] = 0
