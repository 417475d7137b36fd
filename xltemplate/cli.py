"""The ``xltemplate`` command: a thin layer over the library.

Each command parses its options, calls one library function, renders the
result and exits with a meaningful code (0 ok, 1 data problems, 2 usage).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import XltemplateError
from .spec import Spec, builtin_templates, load_spec, resolve_template


class _TemplateParam(click.ParamType):
    """A built-in template id or a path to a spec file, loaded and checked."""

    name = "TEMPLATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Spec:
        if isinstance(value, Spec):
            return value
        try:
            return resolve_template(value)
        except XltemplateError as exc:
            self.fail(str(exc), param, ctx)


TEMPLATE = _TemplateParam()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="xltemplate")
def main() -> None:
    """Project performance self-evaluation (项目绩效自评) through Excel.

    Generate locked workbooks from a spec, validate the returns, collect them
    into a bureau-wide roll-up.
    """


@main.command("templates")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def templates_cmd(as_json: bool) -> None:
    """List the built-in templates."""
    rows = []
    for tid, path in builtin_templates().items():
        spec = load_spec(path)
        rows.append({"id": tid, "version": spec.version, "title": spec.title, "path": str(path),
                     "indicators": sum(len(c.indicators) for c in spec.categories)})
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{r['id']}  {r['version']}  {r['title']}  ({r['indicators']} 个指标)")


@main.command("describe")
@click.argument("template", type=TEMPLATE)
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable layout as JSON.")
def describe_cmd(template: Spec, as_json: bool) -> None:
    """Show where every field, indicator and total lives in the generated sheet."""
    from .layout import Layout

    info = Layout(template).describe(frozenset(f.id for f in template.fields if f.prefill))
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    click.echo(f"{template.id} {template.version}  {template.title}  sheet '{info['sheet']}'")
    for f in info["fields"]:
        click.echo(f"  {f['cell']:>5}  {f['defined_name']:<28} {f['role']:<8} {f['label']}")
    for c in info["categories"]:
        click.echo(f"  {c['name']} ({c['points']}分, {c['weights']}): 小计 {c['weight_subtotal']['cell']}/{c['score_subtotal']['cell']}")
        for r in c["indicators"] + c["extra"]:
            w = "—" if r["weight"] is None else r["weight"]
            click.echo(f"    row {r['row']:>3}  {r['id']:<28} 权重 {w!s:<4} {r['score_cell']['name']}  {r['name'] or '(自定义)'}")
    t = info["total"]
    click.echo(f"  合计 {t['weight']['cell']}/{t['score']['cell']}; 等级 " + ", ".join(f"{b['label']}≥{b['min']}" for b in info["grades"]))


@main.command("generate")
@click.argument("template", type=TEMPLATE)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="The workbook to write (.xlsx); with --roster, the folder for the workbooks.")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV or XLSX with a key column (key or 编号) and columns named by field id or label.")
@click.option("--password", default=None, help="Sheet protection password (a weak lock; see README).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="With --roster: worker processes (default: the machine's cores). The files do not depend on it.")
def generate_cmd(template: Spec, output: Path, roster: Path | None, password: str | None, jobs: int | None) -> None:
    """Write the locked workbook for TEMPLATE (a built-in id or a spec file).

    With --roster, write one prefilled workbook per roster row into the folder
    -o and a manifest.csv (key, unit, project, file, sha256) beside them.
    """
    from .distribute import distribute
    from .generate import generate_workbook
    from .roster import read_roster

    try:
        if roster is None:
            if output.suffix.lower() != ".xlsx":
                raise click.UsageError("-o must name an .xlsx file (or give --roster and a folder)")
            g = generate_workbook(template, output, password=password)
            click.echo(f"wrote {g.path}  sha256 {g.sha256[:12]}")
            return
        if output.suffix.lower() in (".xlsx", ".xlsm"):
            raise click.UsageError("with --roster, -o is a folder, not a workbook")
        rows = read_roster(roster, template)
        dist = distribute(template, rows, output, password=password, jobs=jobs)
    except XltemplateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"wrote {len(dist.files)} workbooks and {dist.manifest.name} to {dist.outdir}")


@main.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--template", "template", type=TEMPLATE, default=None,
              help="Validate against this template (built-in id or spec file) instead of the one the file names.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--annotate", "annotate_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write a highlighted, commented copy of each file with findings into this folder.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: the machine's cores). Results do not depend on it.")
def validate_cmd(paths: tuple[Path, ...], template: Spec | None, as_json: bool, annotate_dir: Path | None,
                 jobs: int | None) -> None:
    """Read back and validate returned workbooks (files or folders, recursively).

    Exit 0 when every file is valid (warnings allowed), 1 when any file is
    invalid or unreadable (or none was found), 2 on a usage error.
    """
    from .annotate import annotate
    from .identify import TemplateSet
    from .validate import validate_paths

    from .runner import default_jobs

    if annotate_dir is not None:
        target = annotate_dir.resolve()
        for p in paths:
            folder = p.resolve()
            if folder.is_dir() and (target == folder or folder in target.parents):
                raise click.UsageError(f"--annotate {annotate_dir} is inside the input folder {p}: "
                                       "the copies would be read as returns next time; write them elsewhere")
    report = validate_paths(list(paths), TemplateSet.builtin(template), jobs=jobs or default_jobs())
    annotated = []
    if annotate_dir is not None:
        for r in report.files:
            out = annotate(r, annotate_dir)
            if out is not None:
                annotated.append(str(out))
    if as_json:
        data = report.as_dict()
        data["annotated"] = annotated
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(report.as_text())
        for a in annotated:
            click.echo(f"批注副本: {a}")
    if not report.files:
        click.echo("没有找到工作簿文件 (no workbook found)", err=True)
        sys.exit(1)
    sys.exit(0 if report.valid else 1)


@main.command("collect")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The roll-up workbook to write (.xlsx).")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The roster the workbooks were sent to.")
@click.option("--template", "template", type=TEMPLATE, default="sh-project-self-eval", show_default=True,
              help="The template of the returns (built-in id or spec file).")
@click.option("--export", "export_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write submissions.csv, scores.csv and findings.csv (UTF-8 with BOM) into this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts and output paths as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: the machine's cores). Results do not depend on it.")
def collect_cmd(paths: tuple[Path, ...], output: Path, roster: Path | None, template: Spec, export_dir: Path | None,
                as_json: bool, quiet: bool, jobs: int | None) -> None:
    """Collect returned workbooks into the bureau-wide roll-up workbook.

    Every file is read and validated as `validate` does, matched to the roster
    by the key inside it, and the roll-up is written atomically. Exit 0 when the
    roll-up was written, whatever the returns' statuses; 1 when it could not be.
    """
    from .collect import check_output, collect
    from .runner import default_jobs
    from .export import export_csv
    from .identify import TemplateSet
    from .inputs import discover
    from .roster import read_roster
    from .rollup import write_rollup

    try:
        check_output(output, paths)
        if export_dir is not None:
            for name in ("submissions.csv", "scores.csv", "findings.csv"):
                check_output(export_dir / name, paths)
        rows = read_roster(roster, template) if roster else None
        found = discover(list(paths))
        show = not quiet and not as_json and sys.stderr.isatty()
        with click.progressbar(length=len(found.files), label="读取", file=sys.stderr) if show else _NoBar() as bar:
            result = collect(list(paths), template, roster=rows, templates=TemplateSet.builtin(template),
                             progress=bar.update, inputs=found, jobs=jobs or default_jobs())
        written = [str(write_rollup(result, output))]
        if export_dir is not None:
            written += [str(p) for p in export_csv(result, export_dir)]
    except (XltemplateError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    counts = result.counts()
    if as_json:
        click.echo(json.dumps({"counts": counts, "outputs": written}, ensure_ascii=False, indent=2))
        return
    click.echo(f"名单 {counts['roster_rows']}，收到 {counts['returns_read']}：有效 {counts['valid']}，有误 {counts['invalid']}，"
               f"无法读取 {counts['unreadable']}，未提交 {counts['missing']}，被替代 {counts['superseded']}，"
               f"重复 {counts['duplicates']}，未匹配 {counts['unmatched']}，跳过 {counts['skipped']}")
    for path in written:
        click.echo(f"wrote {path}")


class _NoBar:
    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


if __name__ == "__main__":  # pragma: no cover
    main()
