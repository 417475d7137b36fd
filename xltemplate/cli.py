"""The ``xltemplate`` command: a thin layer over the library.

Each command parses its options, calls one library function, renders the
result and exits with a meaningful code (0 ok, 1 data problems, 2 usage or an
output that cannot be written). Everything a person reads is Chinese; output
never fails on a console that cannot show a character (GBK on Chinese Windows).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterable, NoReturn

import click

from .errors import LedgerError, OutputPathError, RosterChangedError, TemplateNotFoundError, XltemplateError
from .pathtext import json_text, shown
from .version import __version__
from .words import identity_line

if TYPE_CHECKING:
    from .spec import Spec

# The catalog (YAML, the specs, the families) is imported by what needs it (a template given, the built-ins listed),
# not with this module: ``xltemplate --help`` and a command's usage errors need none of it (issue 15).


def robust_streams() -> None:
    """Make stdout and stderr replace what their encoding cannot show instead of crashing.

    A Chinese Windows console or a redirected file is GBK: a file name with an emoji
    would otherwise raise UnicodeEncodeError halfway through a report.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):  # a closed or exotic stream: leave it as it is
                pass


def echo_json(data: Any) -> None:
    """JSON on stdout: UTF-8 text where the stream takes it, ``\\u`` escapes elsewhere (always valid, nothing lost)."""
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    click.echo(json.dumps(data, ensure_ascii=not encoding.startswith("utf8"), indent=2))


class UsageError(click.UsageError):
    """A usage error of ours, shown in Chinese (click's own may stay click's)."""

    def show(self, file: IO[Any] | None = None) -> None:
        if self.ctx is not None:
            click.echo(self.ctx.get_usage().replace("Usage: ", "用法：", 1), file=file, err=True)
            click.echo(f"运行“{self.ctx.command_path} --help”查看帮助。\n", file=file, err=True)
        click.echo(f"错误：{self.format_message()}", file=file, err=True)


def fail(exc: XltemplateError) -> NoReturn:
    """One line (or one block for a roster) on stderr, no traceback; 2 for an output or a ledger problem, else 1."""
    click.echo(f"错误：{exc}", err=True)
    sys.exit(2 if isinstance(exc, (OutputPathError, TemplateNotFoundError, LedgerError, RosterChangedError)) else 1)


class _Group(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        robust_streams()  # before anything is printed, --help included
        return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; Ctrl-C, SIGTERM or SIGHUP end it with one line (after every cleanup ran)."""
        from .signals import describe, exit_code, interruptible

        with interruptible():
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt as exc:  # signals.Interrupted, or Ctrl-C before our handler was set
                click.echo(f"已中断（{describe(exc)}）：未完成的文件没有写出，临时文件已删除；请重新运行。", err=True)
                sys.exit(exit_code(exc))


class _TemplateParam(click.ParamType):
    """A built-in template id or a path to a spec file, loaded and checked."""

    name = "TEMPLATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Spec:
        from .catalog import as_spec

        try:
            return as_spec(value)
        except XltemplateError as exc:
            raise UsageError(str(exc), ctx) from exc


class _ExistingPath(click.ParamType):
    """A file or folder that must exist (``路径不存在：…`` otherwise)."""

    name = "PATH"

    def __init__(self, dir_okay: bool = True) -> None:
        self.dir_okay = dir_okay

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = Path(value)
        if not path.exists():
            raise UsageError(f"路径不存在：{value}", ctx)
        if not self.dir_okay and path.is_dir():
            raise UsageError(f"这里要的是文件，不是文件夹：{value}", ctx)
        return path


TEMPLATE = _TemplateParam()


def _families_first() -> None:
    """Import every family of forms now, at the start of a command that reads returns (validate, collect): it needs
    them, and imported before the run's first data (the inputs' list) the process's peak is the one it was with the
    families imported with the CLI (a round's second run at 10,000: 58.9 MB; imported at the first spec, after the
    inputs were found, 60.0 MB: the modules' memory among the run's). The workers a command starts are forked with
    them too, not importing them in their first task."""
    from .families import family_ids, family_named

    for name in family_ids():
        family_named(name)


def _secret_option(f: Any) -> Any:
    return click.option(
        "--secret-file", "secret_file", type=click.Path(path_type=Path), default=None,
        help="财政局的签名密钥文件（每行一个密钥，第一行用于签名，全部用于核验；至少 16 个字节）。"
             "未指定时读取环境变量 XLTEMPLATE_SECRET_FILE 指向的文件；都没有时不签名、不核验身份。")(f)


def _keyring(secret_file: Path | None) -> Any:
    """The bureau's secrets, or None; a bad secret file ends the run (exit 2) before anything is read."""
    from .sign import loosely_protected, resolve_keyring

    try:
        keyring = resolve_keyring(secret_file)
    except XltemplateError as exc:
        click.echo(f"错误：{exc}", err=True)
        sys.exit(2)
    if keyring is not None and loosely_protected(keyring):
        click.echo(f"提示：密钥文件 {shown(keyring.source)} 其他用户也能读取；建议只允许本人读取（chmod 600）。", err=True)
    return keyring
_HELP = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _old_template_option(f: Any) -> Any:
    return click.option("--old-template", "older", multiple=True, type=TEMPLATE,
                        help="旧版本的模板（可多次给出）：这些版本的交回文件在填写位置与 --template 相同时照常核对并汇总"
                             "（提示 template-version-old），否则列为须用新表重新填写。")(f)


def _help_option(f: Any) -> Any:
    return click.help_option("-h", "--help", help="显示本帮助并退出。")(f)


@click.group(cls=_Group, context_settings=_HELP)
@click.version_option(__version__, "--version", prog_name="xltemplate", help="显示版本并退出。")
@_help_option
def main() -> None:
    """项目绩效自评（Excel）：生成锁定的填报表，核对各单位交回的文件，汇总成全局汇总表。

    \b
    常用的两条命令：
      xltemplate generate sh-project-self-eval --roster 名单.csv -o 下发/
      xltemplate collect 收回/ --roster 名单.csv -o 汇总.xlsx
    每条命令加 --help 查看说明。
    """


@main.command("templates")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON，而不是表格。")
@_help_option
def templates_cmd(as_json: bool) -> None:
    """列出内置模板。"""
    from .catalog import builtin_templates, load_spec
    from .form.family import family_of

    rows = []
    for tid, path in builtin_templates().items():
        spec = load_spec(path)
        rows.append({"id": tid, "version": spec.version, "title": spec.title, "path": str(path),
                     "indicators": len(family_of(spec).items(spec))})
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        # a family whose projects have indicators of their own declares none in the spec
        count = f"{r['indicators']} 个指标" if r["indicators"] else "指标按项目的绩效目标"
        click.echo(f"{r['id']}  {r['version']}  {r['title']}  （{count}）")


@main.group("spec")
def spec_group() -> None:
    """模板定义：在模板定义工作簿（.xlsx，用 Excel 或 WPS 编辑）和 YAML 之间转换，比较两个版本。"""


def _spec_output(output: Path, force: bool, template: Spec | None, suffixes: tuple[str, ...], example: str) -> None:
    """Refuse an output of the wrong kind, the template's own file, or an existing file without --force."""
    from .outputs import Protected, check_output, suffix

    if suffix(output) not in suffixes:
        raise OutputPathError(f"-o 必须是 {' 或 '.join(suffixes)} 文件：{shown(output)}（例如 -o {example}）")
    source = Path(template.source) if template is not None and template.source and Path(template.source).is_file() else None
    check_output(output, Protected.of([source] if source else []))
    if output.is_file() and not force:
        raise OutputPathError(f"文件 {shown(output)} 已存在，未覆盖；如要覆盖，请加 --force")


@spec_group.command("export")
@click.argument("template", type=TEMPLATE)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="要写的模板定义工作簿（.xlsx）。")
@click.option("--force", is_flag=True, help="覆盖已有的文件。")
@_help_option
def spec_export_cmd(template: Spec, output: Path, force: bool) -> None:
    """把 TEMPLATE（内置模板 id、YAML 或模板定义工作簿）写成模板定义工作簿，供在 Excel 或 WPS 中编辑。"""
    from .specbook import write_specbook

    try:
        _spec_output(output, force, template, (".xlsx",), "form-spec.xlsx")
        click.echo(f"已写入 {shown(write_specbook(template, output))}（模板 {template.id} {template.version}）")
    except XltemplateError as exc:
        fail(exc)


@spec_group.command("import")
@click.argument("specbook", type=TEMPLATE)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="要写的 YAML 文件（.yaml）。")
@click.option("--force", is_flag=True, help="覆盖已有的文件。")
@_help_option
def spec_import_cmd(specbook: Spec, output: Path, force: bool) -> None:
    """检查模板定义工作簿 SPECBOOK 并写成 YAML；有任何问题时按工作表、行和列一次列出，不写文件。"""
    from .specbook.convert import YAML_SUFFIXES, write_spec

    try:
        _spec_output(output, force, specbook, YAML_SUFFIXES, "form.yaml")
        click.echo(f"已写入 {shown(write_spec(specbook, output))}（模板 {specbook.id} {specbook.version}）")
    except XltemplateError as exc:
        fail(exc)


@spec_group.command("diff")
@click.argument("old", type=TEMPLATE)
@click.argument("new", type=TEMPLATE)
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出变化（每项一行文字）。")
@_help_option
def spec_diff_cmd(old: Spec, new: Spec, as_json: bool) -> None:
    """列出模板从 OLD 到 NEW 的变化（两者可以是内置模板 id、YAML 或模板定义工作簿）。

    退出码：两者相同时为 0，有变化时为 1。
    """
    from .specbook.diff import diff_specs

    changes = diff_specs(old, new)
    if as_json:
        echo_json({"old": {"id": old.id, "version": old.version}, "new": {"id": new.id, "version": new.version}, "changes": changes})
    else:
        click.echo(f"{old.id} {old.version} → {new.id} {new.version}：" + (f"{len(changes)} 处变化" if changes else "内容相同"))
        for line in changes:
            click.echo(f"  - {line}")
    sys.exit(1 if changes else 0)


@main.command("new")
@click.argument("form_id", metavar="ID")
@click.option("--from", "base", required=True, type=TEMPLATE, help="从哪个模板开始（内置模板 id、YAML 或模板定义工作簿）。")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="要写的模板定义工作簿（.xlsx），或 YAML（.yaml）。")
@click.option("--version", "version", default="1", show_default=True, help="新模板的版本号。")
@click.option("--force", is_flag=True, help="覆盖已有的文件。")
@_help_option
def new_cmd(form_id: str, base: Spec, output: Path, version: str, force: bool) -> None:
    """从已有模板开始一个新模板 ID（例如明年的表）：内容相同，编号和版本是新的；写成模板定义工作簿后在 Excel 中修改。"""
    from .specbook.convert import YAML_SUFFIXES, new_form, write_spec

    try:
        _spec_output(output, force, base, (".xlsx",) + YAML_SUFFIXES, "form-spec.xlsx")
        spec = new_form(base, form_id, version)
        click.echo(f"已写入 {shown(write_spec(spec, output))}（模板 {spec.id} {spec.version}，由 {base.id} {base.version} 开始）")
    except XltemplateError as exc:
        fail(exc)


_ROLES = {"input": "填写", "computed": "公式", "prefill": "预填"}


@main.command("describe")
@click.argument("template", type=TEMPLATE)
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出版式（供程序读取）。")
@_help_option
def describe_cmd(template: Spec, as_json: bool) -> None:
    """显示 TEMPLATE 的每个字段、指标和合计在表中的位置。"""
    from .form.family import family_of

    info = family_of(template).layout(template).describe(frozenset(f.id for f in template.fields if f.prefill))
    if as_json:
        echo_json(info)
        return
    click.echo(f"{template.id} {template.version}  {template.title}  工作表“{info['sheet']}”")
    for f in info["fields"]:
        click.echo(f"  {f['cell']:>5}  {f['defined_name']:<28} {_ROLES.get(f['role'], f['role'])}  {f['label']}")
    for line in family_of(template).describe_lines(info):
        click.echo(line)
    click.echo("  等级 " + "，".join(f"{b['label']}≥{b['min']}" for b in info["grades"]))


@main.command("generate")
@click.argument("template", type=TEMPLATE)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="要写的工作簿（.xlsx）；加 --roster 时为存放工作簿的文件夹。")
@click.option("--roster", type=_ExistingPath(dir_okay=False),
              help="名单（CSV 或 XLSX）：一列编号（编号 或 key），其他列以字段名称或 id 为标题，预填并锁定。")
@click.option("--targets", "targets_path", type=_ExistingPath(dir_okay=False),
              help="指标目标表（CSV 或 XLSX，需同时加 --roster）：每个项目的三级指标、指标性质、计量单位、年度指标值和分值，预填并锁定。")
@click.option("--password", default=None, help="工作表保护密码（只防误改，不是加密；见 README）。")
@click.option("--force", is_flag=True,
              help="覆盖已有的工作簿；加 --roster 时替换文件夹中上次生成的工作簿（manifest.csv 中列出的）。")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="加 --roster 时的进程数（默认：CPU 核数）。生成的文件与此无关。")
@_secret_option
@_help_option
def generate_cmd(template: Spec, output: Path, roster: Path | None, targets_path: Path | None, password: str | None,
                 force: bool, jobs: int | None, secret_file: Path | None) -> None:
    """生成 TEMPLATE（内置模板 id 或模板文件）的锁定填报工作簿。

    加 --roster 时，按名单每行生成一个预填的工作簿，放进文件夹 -o，并写 manifest.csv（编号、单位、项目、文件名、sha256）。

    再加 --targets 时（项目支出绩效自评表等按指标计分的模板），每个工作簿只含本项目的指标，预填并锁定；目标表有任何问题时不生成任何文件。

    已有文件时不覆盖，除非加 --force。

    给出密钥（--secret-file）时，每个工作簿的身份（模板、编号、预填内容）都用它签名，交回时可核验。
    """
    from .distribute import distribute
    from .form.generate import generate_workbook
    from .outputs import Protected, check_output, suffix
    from .roster import read_roster
    from .targets import read_targets

    ctx = click.get_current_context()
    keyring = _keyring(secret_file)
    signed = f"（已签名，密钥编号 {keyring.signing_id}）" if keyring is not None else "（未签名：未提供密钥）"
    source = [template.source] if template.source and Path(template.source).is_file() else []  # a spec file is an input too
    protected = Protected.of(source, roster=roster, secret=keyring.source if keyring else None, targets=targets_path)
    if targets_path is not None and roster is None:
        raise UsageError("--targets 需要同时给出 --roster（目标表按名单中的编号对应项目）", ctx)
    try:
        if roster is None:
            if suffix(output) != ".xlsx":
                raise UsageError(f"-o 必须是 .xlsx 文件：{shown(output)}（按名单生成多个文件时，请加 --roster 并把 -o 设为文件夹）", ctx)
            check_output(output, protected)
            if output.is_file() and not force:
                raise OutputPathError(f"文件 {shown(output)} 已存在，未覆盖；如要覆盖，请加 --force")
            g = generate_workbook(template, output, password=password, keyring=keyring)
            click.echo(f"已写入 {shown(g.path)}  sha256 {g.sha256[:12]}{signed}")
            return
        if suffix(output) in (".xlsx", ".xlsm"):
            raise UsageError(f"加 --roster 时，-o 是存放工作簿的文件夹，不是工作簿：{shown(output)}", ctx)
        rows = read_roster(roster, template)
        table = read_targets(targets_path, template, rows) if targets_path is not None else None
        dist = distribute(template, rows, output, password=password, jobs=_jobs(jobs), force=force, keyring=keyring,
                          protected=protected, targets=table)
    except XltemplateError as exc:
        fail(exc)
    click.echo(f"已写入 {len(dist.files)} 个工作簿和 {dist.manifest.name}，位于 {shown(dist.outdir)}{signed}")
    for name in dist.removed:
        click.echo(f"已删除上次生成、本次名单中没有的 {name}")


def _roster_hint(paths: tuple[Path, ...]) -> None:
    from .inputs import roster_like

    for p in roster_like(list(paths)):
        click.echo(f"提示：{p} 看起来是名单文件，不是单位交回的工作簿；是否想写 --roster {p}？", err=True)


@main.command("validate")
@click.argument("paths", nargs=-1, required=True, type=_ExistingPath())
@click.option("--template", "template", type=TEMPLATE, default=None,
              help="按此模板（内置 id 或模板文件）核对，而不是按文件中记录的模板。")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出核对结果。")
@click.option("--annotate", "annotate_dir", type=click.Path(path_type=Path), default=None,
              help="把有问题的文件各写一份标注副本（问题单元格标色并加批注）到此文件夹，可退回单位修改。")
@click.option("--roster", type=_ExistingPath(dir_okay=False),
              help="下发时用的名单（CSV 或 XLSX）：编号须在名单中，预填内容须与名单一致。")
@click.option("--targets", "targets_path", type=_ExistingPath(dir_okay=False),
              help="下发时用的指标目标表（CSV 或 XLSX）：文件中的绩效目标须与目标表一致。")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="进程数（默认：CPU 核数）。结果与此无关。")
@_secret_option
@_old_template_option
@_help_option
def validate_cmd(paths: tuple[Path, ...], template: Spec | None, as_json: bool, annotate_dir: Path | None,
                 roster: Path | None, targets_path: Path | None, jobs: int | None, secret_file: Path | None,
                 older: tuple[Spec, ...]) -> None:
    """读取并核对单位交回的工作簿（文件或文件夹，文件夹逐层查找）。

    退出码：全部有效（可有警告）时为 0；有有误或无法读取的文件（或没有找到工作簿）时为 1；用法错误或标注副本无法写入时为 2。
    """
    _families_first()
    from .batch import annotate_many, validate_paths
    from .identify import RunContext
    from .outputs import Protected, check_output_dir
    from .inputs import discover
    from .rollup.collect import GUESS_FIRST, choose_template, guess_template, same_template
    from .roster import read_roster
    from .targets import read_targets

    ctx = click.get_current_context()
    keyring = _keyring(secret_file)
    protected = Protected.of(paths, roster, keyring.source if keyring else None, targets=targets_path)
    if annotate_dir is not None:
        try:
            check_output_dir(annotate_dir, protected)
        except OutputPathError as exc:
            raise UsageError(f"--annotate {shown(annotate_dir)}：{exc}", ctx) from exc
    _roster_hint(paths)
    workers = _jobs(jobs)
    def given(form: Spec | None) -> RunContext:
        """The run's context with the roster and the targets read as ``form``'s."""
        rows = read_roster(roster, form) if roster and form is not None else None
        table = read_targets(targets_path, form, rows) if targets_path and form is not None else None
        return RunContext.builtin(template, keyring=keyring, roster=rows, targets=table, older=older)

    report = None
    try:
        form = template
        if form is None and (roster or targets_path):  # the roster's columns are read as the returns' template's
            # guessed from a sample and held to what every report names (see collect_found): read once, not twice
            guess = guess_template(discover(list(paths)).files, RunContext.builtin(), jobs=workers) if GUESS_FIRST else None
            with contextlib.suppress(XltemplateError):  # the roster does not fit the guess, or no clear choice
                if guess is not None:
                    once = validate_paths(list(paths), given(guess), jobs=workers)
                    if same_template(choose_template(once.files, RunContext.builtin()), guess):
                        report = once
            if report is None:
                form = choose_template(validate_paths(list(paths), RunContext.builtin(), jobs=workers).files, RunContext.builtin())
        templates = given(form) if report is None else None
    except XltemplateError as exc:
        fail(exc)
    if report is None:
        assert templates is not None
        report = validate_paths(list(paths), templates, jobs=workers)
    annotated: list[str] = []
    not_annotated: list[dict[str, str]] = []
    problem: XltemplateError | None = None
    if annotate_dir is not None:
        for a in annotate_many(report.files, annotate_dir, jobs=workers, protected=protected):
            if a.output is not None:
                annotated.append(a.output)
            elif a.error is not None:
                problem = problem or a.error  # the report is still shown; the failure is the last line
            elif a.problem is not None:
                not_annotated.append({"path": a.path, "message": a.problem})
    if as_json:
        data = report.as_dict()
        data["annotated"] = [json_text(out) for out in annotated]
        data["not_annotated"] = [{"path": json_text(n["path"]), "message": n["message"]} for n in not_annotated]
        echo_json(data)
    else:
        click.echo(report.as_text())
        for out in annotated:
            click.echo(f"标注副本：{shown(out)}")
        for item in not_annotated:
            click.echo(f"标注副本未生成：{shown(item['path'])}：{item['message']}")
    if problem is not None:
        fail(problem)
    if not report.files:
        click.echo(f"错误：没有找到工作簿文件（{'、'.join(str(p) for p in paths)} 中没有 .xlsx 或 .xlsm 文件）", err=True)
        sys.exit(1)
    sys.exit(0 if report.valid else 1)


@main.command("collect")
@click.argument("paths", nargs=-1, required=True, type=_ExistingPath())
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="要写的汇总工作簿（.xlsx）。")
@click.option("--roster", type=_ExistingPath(dir_okay=False), help="下发时用的名单（CSV 或 XLSX）。")
@click.option("--template", "template", type=TEMPLATE, default=None,
              help="交回文件的模板（内置 id 或模板文件）；默认为多数交回文件中记录的模板。")
@click.option("--targets", "targets_path", type=_ExistingPath(dir_okay=False),
              help="下发时用的指标目标表（CSV 或 XLSX）：文件中的绩效目标须与目标表一致。")
@click.option("--export", "export_dir", type=click.Path(path_type=Path), default=None,
              help="另把 submissions.csv、scores.csv、findings.csv（UTF-8 带 BOM，Excel 可直接打开）写到此文件夹。")
@click.option("--ledger", "ledger", type=click.Path(path_type=Path), default=None,
              help="本轮收集的台账文件（如 round.xlt.db，不存在时自动建立）：记下收到的每个文件并归档，"
                   "已核对过的文件不再重复读取，汇总表增加“提交记录”和“本次”各列。见 README 的 round 一节。")
@click.option("--archive", "archive", type=click.Path(path_type=Path), default=None,
              help="台账的归档文件夹（默认：台账旁的 *.xlt.archive）；只在建立台账时选定，之后须与台账记录的一致。")
@click.option("--roster-changed-ok", "roster_changed_ok", is_flag=True,
              help="名单与上次汇总所用的不同（增删单位、预填内容变化）时仍然继续：确认换用新名单。")
@click.option("--rehash", is_flag=True,
              help="重新读取收件文件夹中的每个文件并计算 sha256（默认：上次汇总后没有任何变化的文件——同一文件、大小和"
                   "修改、变更时间都相同，且在上次读取前早已不再改动——不再重复读取）。怀疑文件被改动而时间未变时使用。")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出计数和写出的文件。")
@click.option("--quiet", is_flag=True, help="不显示进度条。")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="进程数（默认：CPU 核数）。结果与此无关。")
@_secret_option
@_old_template_option
@_help_option
def collect_cmd(paths: tuple[Path, ...], output: Path, roster: Path | None, template: Spec | None, targets_path: Path | None,
                export_dir: Path | None, ledger: Path | None, archive: Path | None, roster_changed_ok: bool, rehash: bool,
                as_json: bool, quiet: bool, jobs: int | None, secret_file: Path | None,
                older: tuple[Spec, ...]) -> None:
    """把单位交回的工作簿汇总成全局汇总表（.xlsx）。

    每个文件都像 validate 那样读取和核对，按文件中的编号（不是文件名）对应到名单；汇总表整体写出，不会留下半个文件。

    加 --ledger 时，本轮收集的每个文件都记入台账并归档：再次汇总只核对新的文件，收件文件夹中删掉的文件仍按归档副本计入（并提示），
    汇总表增加“提交记录”工作表和“本次”各列。

    退出码：汇总表写出时为 0（不论各文件是否有误）；没有找到工作簿或名单有问题时为 1；用法错误、文件无法写入或台账不能使用时为 2。
    """
    _families_first()
    from .identify import RunContext
    from .inputs import discover
    from .outputs import Protected, check_output, suffix
    from .rollup import export_csv, write_rollup
    from .batch import validate_files
    from .rollup.collect import GUESS_FIRST, choose_template, collect, collect_found, guess_template, same_template
    from .rollup.spill import Brief
    from .rollup.tables import EXPORTS, RESULT_EXPORTS, ROUND_EXPORTS, export_names
    from .roster import Roster
    from .roster import read_roster
    from .targets import read_targets

    written: list[str] = []
    keyring = _keyring(secret_file)
    protected = Protected.of(paths, roster, keyring.source if keyring else None, targets=targets_path, ledger=ledger)
    extra: list[str] = []
    ledger_info: dict[str, Any] | None = None
    if ledger is None and (archive is not None or roster_changed_ok or rehash):
        raise UsageError("--archive、--roster-changed-ok 和 --rehash 只能与 --ledger 一起使用", click.get_current_context())
    try:
        if suffix(output) != ".xlsx":
            raise OutputPathError(f"-o 必须是 .xlsx 文件：{shown(output)}（例如 -o 汇总.xlsx）")
        check_output(output, protected)
        if export_dir is not None:  # every name either family may write: checked before anything is read
            for name in (export_names(template) if template is not None else EXPORTS + RESULT_EXPORTS) + (
                    ROUND_EXPORTS if ledger is not None else ()):
                check_output(export_dir / name, protected)
        if ledger is None:
            from .batch import keep_readers

            keep_readers(jobs)  # the readers start on the other CPU while the returns are found (workers.KEEP_POOL)
        from .fsutil import sweep

        sweep(output)  # what runs killed outright left in TMPDIR and beside the roll-up: before this run needs the room
        _roster_hint(paths)
        found = discover(list(paths))
        if not found.files:
            skipped = f"（跳过 {len(found.skipped)} 个不是工作簿的文件）" if found.skipped else ""
            click.echo(f"错误：没有找到工作簿文件：{'、'.join(str(p) for p in paths)} 中没有 .xlsx 或 .xlsm 文件{skipped}；"
                       "未写出汇总表", err=True)
            sys.exit(1)
        show = not quiet and not as_json and sys.stderr.isatty()
        workers = _jobs(jobs)
        # the workers' server started while this process is small (issue 15: workers <= 100 MB; see workers.prestart)
        from .workers import prestart

        prestart(len(found.files) if ledger is not None else 0)  # (a round's process grows with N; collect's does not)
        form, detected, from_ledger = template, False, False
        if form is None and ledger is not None:
            from .rounds import round_template

            form = round_template(ledger, RunContext.builtin())
            from_ledger = form is not None

        def given(form: Spec | None) -> tuple[Roster | None, RunContext]:
            """The roster and the targets read as ``form``'s, and the run's context."""
            if roster and form is not None and ledger is not None:
                from .rounds.preflight import recall_roster  # (the rows the round's ledger kept for the same file)

                rows: Roster | None = recall_roster(ledger, roster, form)
            else:
                rows = read_roster(roster, form) if roster and form is not None else None
            table = read_targets(targets_path, form, rows) if targets_path and form is not None else None
            return rows, RunContext.builtin(form, keyring=keyring, targets=table, older=older)

        guessed: Any = None
        if form is None and ledger is not None and GUESS_FIRST:
            # a round's ledger keeps its reports per template: guess it from a sample of the returns, and let the
            # run hold the guess to what every return names once all are read (the choice choose_template makes
            # over a first reading of every return, as below: what a report says its file names does not depend on
            # the roster, the template or the secret), so that each return is read once (see collect_found)
            guess = guess_template(found.files, RunContext.builtin(), jobs=workers)
            try:
                if guess is not None:
                    given(guess)
            except XltemplateError:
                guess = None  # the roster or the targets do not fit the guess: find the template from every return
            if guess is not None:
                def guessed(briefs: Iterable[Brief], guess: Spec = guess) -> tuple[Spec, Roster | None, Any] | None:
                    chosen = choose_template(briefs, RunContext.builtin())
                    if same_template(chosen, guess):
                        return None
                    rows, run = given(chosen)
                    return chosen, rows, run.targets
                form, detected = guess, True
        if form is None and ledger is not None:
            # a round's ledger keeps its reports per template: find it first, from every return
            # what each file names is all the choice reads: a brief of each report, in the files' order, not the report
            named: list[Brief | None] = [None] * len(found.files)
            with _bars(show)("识别模板", len(found.files)) as update:
                validate_files(found.files, RunContext.builtin(), jobs=workers, progress=update,
                               each=lambda n, report: named.__setitem__(n, Brief(report)), keep=False)
            form, detected = choose_template([b for b in named if b is not None], RunContext.builtin()), True

        if ledger is not None and form is not None:
            from .rounds import collect_round

            rows, run = given(form)
            done = collect_round(list(paths), form, ledger=ledger, output=output, archive=archive, roster=rows,
                                 keyring=keyring, targets=run.targets, export_dir=export_dir, jobs=workers, inputs=found,
                                 roster_changed_ok=roster_changed_ok, progress=_bars(show), older=older, guessed=guessed,
                                 rehash=rehash)
            result = done.collection
            result.close()  # written: what is printed below is counted from the briefs
            written += [str(p) for p in done.outputs]
            extra, ledger_info = done.lines(), done.as_dict()
        else:
            with _bars(show)("读取", len(found.files)) as update:
                if form is None and (roster or targets_path):
                    # the roster and the targets are read as the returns' template's: find it (see collect_found)
                    result = collect_found(found, given, jobs=workers, progress=update)
                else:
                    rows, run = given(form)
                    result = collect(list(paths), form, roster=rows, templates=run, progress=update, inputs=found, jobs=workers)
            from .workers import end_kept, stop_prestarted

            stop_prestarted()  # (every file read: the workers' server ended before the roll-up is written)
            end_kept()  # (and the readers kept from pass to pass)
            with result:  # its reports' temporary file goes once the outputs are written (or fail)
                written.append(str(write_rollup(result, output)))
                if export_dir is not None:
                    written += [str(p) for p in export_csv(result, export_dir)]
        result.template_detected, result.template_from_ledger = result.template_detected or detected, from_ledger
    except XltemplateError as exc:
        for path in written:  # what was written before the failure is complete, and stays
            click.echo(f"已写入 {shown(path)}", err=True)
        fail(exc)
    finally:
        from .workers import end_kept, stop_prestarted

        stop_prestarted()
        end_kept()
    counts = result.counts()
    if as_json:
        echo_json({**counts.as_dict(), "identity_verified": result.identity_verified,
                   "template": {"id": result.spec.id, "version": result.spec.version, "detected": result.template_detected,
                                "from_ledger": result.template_from_ledger},
                   **({"ledger": ledger_info} if ledger_info is not None else {}),
                   "outputs": [json_text(p) for p in written]})
        return
    click.echo(result.template_line())
    for line in counts.lines():
        click.echo(line)
    click.echo(identity_line(result.identity_verified))
    for line in extra:
        click.echo(line)
    for path in written:
        click.echo(f"已写入 {shown(path)}")


_LEDGER = click.option("--ledger", "ledger", required=True, type=click.Path(path_type=Path),
                       help="本轮收集的台账文件（collect --ledger 建立的，如 round.xlt.db）。")


@main.group("round", cls=click.Group, context_settings=_HELP)
@_help_option
def round_group() -> None:
    """一轮收集的台账：进度、催报名单、退回的标注副本、撤回文件。

    \b
    先用 collect --ledger 汇总（每次汇总都记入台账），再用：
      xltemplate round status   --ledger round.xlt.db            # 本轮进度
      xltemplate round remind   --ledger round.xlt.db -o 催报名单.xlsx
      xltemplate round annotate --ledger round.xlt.db -o 退回/
      xltemplate round withdraw 编号 文件 --ledger round.xlt.db --reason 理由
    """


@round_group.command("status")
@_LEDGER
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出（供程序读取）。")
@_help_option
def round_status_cmd(ledger: Path, as_json: bool) -> None:
    """显示本轮收集的进度：名单中的单位、已提交有效、有误（及错误数）、未提交，以及与上次汇总相比的变化。

    只读台账，汇总正在进行时也可以运行。退出码：0；台账不能使用时为 2。
    """
    from .rounds import round_status

    try:
        status = round_status(ledger)
    except XltemplateError as exc:
        fail(exc)
    if as_json:
        echo_json(status.as_dict())
        return
    for line in status.lines():
        click.echo(line)


@round_group.command("remind")
@_LEDGER
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="要写的催报名单（.xlsx）。")
@click.option("--csv", "with_csv", is_flag=True, help="另写一份同名的 .csv（UTF-8 带 BOM）。")
@_help_option
def round_remind_cmd(ledger: Path, output: Path, with_csv: bool) -> None:
    """写出要催报的单位名单：未提交的，和最新文件有误的，每个单位一行原因，附名单中的联系人、电话、邮箱等列。

    第一行是标题行，可直接用于邮件合并。退出码：0；台账不能使用或文件无法写入时为 2。
    """
    from .outputs import suffix
    from .rounds import reminders, write_reminders

    try:
        if suffix(output) != ".xlsx":
            raise OutputPathError(f"-o 必须是 .xlsx 文件：{shown(output)}（例如 -o 催报名单.xlsx；加 --csv 另写 CSV）")
        found = reminders(ledger)
        written = write_reminders(found, output, with_csv=with_csv)
    except XltemplateError as exc:
        fail(exc)
    click.echo(f"要催报的单位 {len(found.items)} 个（第 {found.run.id} 次汇总后）：" + "、".join(r.key for r in found.items[:20])
               + (" 等" if len(found.items) > 20 else ""))
    for path in written:
        click.echo(f"已写入 {shown(path)}")


@round_group.command("annotate")
@_LEDGER
@click.option("-o", "--output", "outdir", required=True, type=click.Path(path_type=Path),
              help="存放标注副本的文件夹（不能在收件文件夹中）。")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="进程数（默认：CPU 核数）。")
@_help_option
def round_annotate_cmd(ledger: Path, outdir: Path, jobs: int | None) -> None:
    """为最新文件有误的每个单位写一份标注副本（问题单元格标色并加批注），可直接退回单位修改。

    副本由台账中归档的原文件生成（即核对过的那份），以“编号_原文件名_批注.xlsx”命名。
    退出码：0；台账不能使用或副本无法写入时为 2。
    """
    from .rounds import annotate_round

    try:
        done = annotate_round(ledger, outdir, jobs=_jobs(jobs))
    except XltemplateError as exc:
        fail(exc)
    problem = None
    for a in done:
        if a.output is not None:
            click.echo(f"标注副本：{shown(a.output)}")
        elif a.error is not None:
            problem = problem or a.error
        elif a.problem is not None:
            click.echo(f"标注副本未生成：{shown(a.path)}：{a.problem}")
    click.echo(f"共 {sum(1 for a in done if a.output)} 份标注副本")
    if problem is not None:
        fail(problem)


@round_group.command("withdraw")
@click.argument("key")
@click.argument("file")
@_LEDGER
@click.option("--reason", default="", help="撤回的理由（记入台账和汇总表的提交记录）。")
@_help_option
def round_withdraw_cmd(key: str, file: str, ledger: Path, reason: str) -> None:
    """撤回单位 KEY 交来的文件 FILE：下次汇总起不再计入（文件仍保留在台账和归档中）。

    FILE 可以是文件路径、汇总时见过的文件名，或 sha256 的前 6 位以上。用 round reinstate 可以恢复。
    退出码：0；台账不能使用、找不到文件或文件不属于该单位时为 2。
    """
    from .rounds import withdraw

    try:
        w = withdraw(ledger, key, file, reason)
    except XltemplateError as exc:
        fail(exc)
    click.echo(f"已撤回单位 {shown(key)} 的文件（sha256 {w.sha256[:12]}）{'：' + reason if reason else ''}。"
               "下次汇总起不再计入；如需恢复，请用 round reinstate。")


@round_group.command("reinstate")
@click.argument("key")
@click.argument("file")
@_LEDGER
@click.option("--reason", default="", help="恢复的理由（记入台账）。")
@_help_option
def round_reinstate_cmd(key: str, file: str, ledger: Path, reason: str) -> None:
    """恢复撤回过的文件：下次汇总起它重新参与计入（按保存时间和收到先后判断是否最新）。

    退出码：0；台账不能使用、找不到文件或它没有被撤回时为 2。
    """
    from .rounds import reinstate

    try:
        w = reinstate(ledger, key, file, reason)
    except XltemplateError as exc:
        fail(exc)
    click.echo(f"已恢复单位 {shown(key)} 的文件（sha256 {w.sha256[:12]}）：下次汇总起重新参与计入。")


def _bars(show: bool) -> Any:
    """A progress bar on stderr per phase (archiving, reading), or none."""
    import contextlib

    @contextlib.contextmanager
    def bar(label: str, total: int) -> Any:
        if not show or total == 0:
            yield lambda n: None
            return
        with click.progressbar(length=total, label=label, file=sys.stderr) as b:
            yield b.update

    return bar


def _jobs(requested: int | None) -> int:
    """--jobs capped at the CPUs this process may use, with a one-line note on stderr when capped."""
    from .workers import cap_jobs, capped_note

    jobs, capped = cap_jobs(requested)
    if capped and requested is not None:
        click.echo(capped_note(requested, jobs), err=True)
    return jobs


if __name__ == "__main__":  # pragma: no cover
    main()
