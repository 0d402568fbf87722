"""`qa` command line: build | search | serve | mcp | eval | tune. Heavy imports happen inside the commands."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from qa.errors import QAError
from qa.settings import get_settings


class QAGroup(click.Group):
    """Turns a QAError into a one-line message and exit code 1, without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QAError as exc:
            raise click.ClickException(exc.message) from exc


@click.group(cls=QAGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qa")
def main() -> None:
    """Question answering over Markdown articles, with exact citations."""


@main.command()
@click.option("--seeds", type=click.Path(path_type=Path),
              help="Folder of *.md articles, a BEIR folder (corpus.jsonl) or a *.jsonl file of documents "
              "({_id, title, text}) [QA_SEEDS; seeds].")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder [QA_INDEX; index/default].")
@click.option("--force", is_flag=True, help="Rebuild everything, reusing nothing from the previous index.")
@click.option("--quiet", "-q", is_flag=True, help="Print only problems and the summary line.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]",
              help="Read, chunk and embed on a Ray cluster (pip install 'qa[ray]'): ADDRESS, else QA_RAY_ADDRESS, "
              "else auto (a cluster started here with `ray start`).")
def build(seeds: Path | None, index_dir: Path | None, force: bool, quiet: bool, ray_address: str | None) -> None:
    """Build (or incrementally update) an index from every *.md under the seeds folder, or from the documents
    of a JSONL file / BEIR corpus.jsonl (one line, one article)."""
    from qa.build import build as run_build
    from qa.progress import RichReporter

    settings = get_settings()
    if ray_address is not None:
        from qa.build.ray_engine import RayEngine, RayOptions

        options = RayOptions.from_settings(settings, ray_address or None)
        with RayEngine(settings, options) as engine, RichReporter(quiet=quiet) as reporter:
            report = run_build(settings, seeds, index_dir, reporter=reporter, force=force, engine=engine)
        click.echo(report.summary())
        return
    with RichReporter(quiet=quiet) as reporter:
        processes = settings.threads or os.cpu_count() or 1  # read and chunk on every core (see qa.build.build)
        report = run_build(settings, seeds, index_dir, reporter=reporter, force=force, processes=processes)
    click.echo(report.summary())


@main.command()
@click.argument("question")
@click.option("--k", "k", type=click.IntRange(1, 50), help="Number of passages [QA_K; 5].")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical"]), help="Retrieval mode [QA_MODE; hybrid].")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder [QA_INDEX].")
@click.option("--article", "articles", multiple=True, help="Search only within this article id (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the HTTP API's JSON instead of a table.")
@click.option("--read/--no-read", default=None,
              help="Let the reader find the answer and reorder the top passages [QA_READ; on].")
@click.option("--filter", "filter_json", metavar="JSON",
              help='Only articles whose metadata passes, e.g. \'{"tags": "news", "date": {"gte": "2022-01-01"}}\' '
              "(README, Filters).")
def search(
    question: str, k: int | None, mode: str | None, index_dir: Path | None, articles: tuple[str, ...], as_json: bool,
    read: bool | None, filter_json: str | None,
) -> None:
    """Answer QUESTION with the best passages and their citations."""
    from qa.search.retriever import Retriever
    from qa.serialize import result_to_dict

    settings = get_settings()
    flt = _filter_arg(filter_json)
    retriever = Retriever.load(index_dir or settings.index, settings)
    result = retriever.search(question, k=k or settings.k, mode=mode or settings.mode, articles=list(articles) or None,
                              read=read, filter=flt)
    if as_json:
        click.echo(json.dumps(result_to_dict(result, retriever.info()), ensure_ascii=False, indent=2))
        return
    from qa.progress import print_result

    print_result(result)


def _filter_arg(text: str | None) -> dict[str, Any] | None:
    """`--filter`'s JSON object (checked against the index's fields by the retriever)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc.msg}", param_hint="--filter") from None
    if not isinstance(value, dict):
        raise click.BadParameter('a JSON object of field conditions, e.g. {"tags": "news"}', param_hint="--filter")
    return value


@main.command()
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder [QA_INDEX].")
@click.option("--host", help="Address to bind [QA_HOST; 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [QA_PORT; 8000].")
@click.option("--collections", "collections", help="Serve several indexes by name: `name=path,name=path` or a "
              ".toml/.yaml/.json file [QA_COLLECTIONS].")
def serve(index_dir: Path | None, host: str | None, port: int | None, collections: str | None) -> None:
    """Serve the HTTP API (and the search page) from an index, or from several named ones (collections)."""
    import uvicorn

    from qa.serve.api import create_app

    settings = get_settings()
    if index_dir and collections:
        raise click.UsageError("give --index (one index) or --collections (several), not both")
    if index_dir:
        settings = settings.model_copy(update={"index": index_dir, "collections": None})
    if collections:
        settings = settings.model_copy(update={"collections": collections})
    if host:  # the app reads it too (/mcp guards against DNS rebinding only on a loopback address)
        settings = settings.model_copy(update={"host": host})
    app = create_app(settings)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info")


@main.command()
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder [QA_INDEX].")
@click.option("--collections", "collections", help="Serve several indexes by name (tools take `collection`): "
              "`name=path,name=path` or a .toml/.yaml/.json file [QA_COLLECTIONS].")
def mcp(index_dir: Path | None, collections: str | None) -> None:
    """Serve the retriever to LLM hosts over MCP on stdin/stdout (tools search, context, get_passages)."""
    import logging

    import anyio

    from qa.serve.mcp import run_stdio

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("qa").setLevel(logging.INFO)  # stdout carries the protocol; logs go to stderr

    settings = get_settings()
    if index_dir and collections:
        raise click.UsageError("give --index (one index) or --collections (several), not both")
    if index_dir:
        settings = settings.model_copy(update={"index": index_dir, "collections": None})
    if collections:
        settings = settings.model_copy(update={"collections": collections})
    anyio.run(run_stdio, settings)


@main.command("eval")
@click.option("--questions", "questions_file", type=click.Path(path_type=Path), default=Path("eval/kherson.jsonl"),
              show_default=True, help="Eval set, one JSON question a line.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder [QA_INDEX].")
@click.option("--modes", default="auto", show_default=True,
              help="Comma-separated retrieval modes; `hybrid+read` (or dense+read, …) lets the reader read. "
              "auto = hybrid,dense,lexical, plus hybrid+read when a reader is installed.")
@click.option("--split", default="all", show_default=True,
              help="Questions to use: all, tune = odd id numbers, heldout = even. With --beir: the qrels split "
              "(test, dev, train; all = test).")
@click.option("--k", "k", type=click.IntRange(10, 50), default=10, show_default=True, help="Passages per question.")
@click.option("--json", "json_file", type=click.Path(path_type=Path),
              help="Full results as JSON [eval/reports/<index>-<split>.json].")
@click.option("--html", "html_file", type=click.Path(path_type=Path),
              help="Self-contained HTML report [eval/reports/<index>-<split>.html].")
@click.option("--baseline", type=click.Path(path_type=Path), help="Saved run to compare with; exit 1 on regression.")
@click.option("--tolerance", type=click.FloatRange(0, 1), default=0.02, show_default=True,
              help="Largest allowed drop of any metric against the baseline.")
@click.option("--save-baseline", type=click.Path(path_type=Path), help="Also write this run (no passages) here.")
@click.option("--verbose", "-v", is_flag=True, help="List every question, not only the misses.")
@click.option("--beir", "beir_dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="A BEIR dataset folder (queries.jsonl, qrels/<split>.tsv): rank documents, report nDCG@10, "
              "R@100, MRR@10 … (pytrec_eval) and write one TREC run per mode. --split then names the qrels split.")
@click.option("--queries", "queries_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Queries (BEIR queries.jsonl or id<TAB>text), with --qrels: as --beir.")
@click.option("--qrels", "qrels_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="TREC (`qid 0 docid rel`) or BEIR (`query-id corpus-id score`) qrels, graded.")
@click.option("--depth", type=click.IntRange(10, 1000), default=100, show_default=True,
              help="--beir/--qrels: documents ranked per query.")
def eval_command(
    questions_file: Path, index_dir: Path | None, modes: str, split: str, k: int, json_file: Path | None,
    html_file: Path | None, baseline: Path | None, tolerance: float, save_baseline: Path | None, verbose: bool,
    beir_dir: Path | None, queries_file: Path | None, qrels_file: Path | None, depth: int,
) -> None:
    """Score retrieval on an eval set: recall/MRR/nDCG, answer-in-passage, answerability, latency; or (--beir,
    --queries + --qrels) on relevance judgements with the field's measures. Every run is written as a TREC run
    file (and our eval sets' gold as qrels) beside the JSON report."""
    if beir_dir or queries_file or qrels_file:
        _eval_judged(index_dir, modes, split, beir_dir, queries_file, qrels_file, depth, json_file)
        return
    from rich.console import Console

    from qa.evaluation import EvalReport, load_questions, run_eval, split_questions
    from qa.evaluation.gate import compare
    from qa.evaluation.html import write_html
    from qa.evaluation.runner import split_mode
    from qa.evaluation.terminal import render
    from qa.search.retriever import MODES, Retriever

    mode_list = [m.strip() for m in modes.split(",") if m.strip()] if modes != "auto" else list(MODES)
    bad = [m for m in mode_list if split_mode(m)[0] not in MODES]
    if bad or not mode_list:
        raise click.BadParameter(f"modes must be among {', '.join(MODES)} (each optionally +read)",
                                 param_hint="--modes")
    if split not in ("all", "tune", "heldout"):
        raise click.BadParameter("for an eval set, one of all, tune, heldout", param_hint="--split")
    settings = get_settings()
    index_dir = index_dir or settings.index
    questions = split_questions(load_questions(questions_file), split)
    old = EvalReport.load(baseline) if baseline else None  # fail on a bad baseline before the slow part
    retriever = Retriever.load(index_dir, settings)
    if modes == "auto" and retriever.reader is not None:
        mode_list.append("hybrid+read")
    report = run_eval(retriever, questions, modes=mode_list, k=k, split=split, questions_file=str(questions_file))
    comparison = compare(report, old, tolerance) if old else None
    console = Console(width=max(Console().width, 150))
    render(report, console, comparison, verbose=verbose)
    stem = Path("eval/reports") / f"{Path(index_dir).name}-{split}"
    json_path = report.save(json_file or stem.with_suffix(".json"))
    html_path = write_html(report, html_file or stem.with_suffix(".html"), comparison)
    click.echo(f"wrote {json_path} and {html_path}")
    click.echo("wrote " + ", ".join(map(str, _section_runs(report, json_path))) + " (TREC runs and qrels: "
               "`qa compare A.run B.run` tests two of them)")
    if save_baseline:
        click.echo(f"saved baseline {report.save(save_baseline, hits=False)}")
    if comparison is not None and not comparison.passed:
        sys.exit(1)


def _section_runs(report, json_path: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    """The eval's section-level runs (one per mode) and the qrels its gold implies, beside its JSON report."""
    from qa.evaluation.judged import run_path
    from qa.evaluation.runs import write_qrels, write_run
    from qa.evaluation.section_runs import section_qrels, section_run

    stem = json_path.with_suffix("")
    paths = [write_qrels(stem.with_name(stem.name + ".qrels"), section_qrels(report))]
    for mode, mode_report in report.modes.items():
        paths.append(write_run(run_path(stem, mode), section_run(mode_report), tag=f"qa-{mode}"))
    return paths


def _eval_judged(index_dir: Path | None, modes: str, split: str, beir_dir: Path | None, queries_file: Path | None,
                 qrels_file: Path | None, depth: int, json_file: Path | None) -> None:
    from rich.console import Console

    from qa.evaluation.judged import render, run_judged
    from qa.evaluation.judgements import load, load_beir
    from qa.search.retriever import MODES, Retriever

    if beir_dir is not None:
        if queries_file or qrels_file:
            raise click.UsageError("give --beir DIR, or --queries and --qrels, not both")
        judgements = load_beir(beir_dir, "test" if split == "all" else split)
    elif queries_file is None or qrels_file is None:
        raise click.UsageError("--queries and --qrels go together")
    else:
        judgements = load(queries_file, qrels_file)
    mode_list = list(MODES) if modes == "auto" else [m.strip() for m in modes.split(",") if m.strip()]
    if not mode_list or any(m not in MODES for m in mode_list):
        raise click.BadParameter(f"with judgements, modes are among {', '.join(MODES)} (the reader does not "
                                 "read here)", param_hint="--modes")
    settings = get_settings()
    index_dir = index_dir or settings.index
    retriever = Retriever.load(index_dir, settings)
    report = run_judged(retriever, judgements, mode_list, depth)
    render(report, Console(width=max(Console().width, 120)))
    stem = json_file.with_suffix("") if json_file else Path("eval/reports") / f"{Path(index_dir).name}-{judgements.name}"
    paths = report.save(stem, {q: judgements.qrels[q] for q in judgements.judged})
    click.echo(f"wrote {paths[0]}, the TREC runs {', '.join(map(str, paths[1:-1]))} and their qrels {paths[-1]}")


@main.command("compare")
@click.argument("run_a", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("run_b", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--qrels", "qrels_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="TREC or BEIR qrels [the <stem>.qrels `qa eval` wrote beside RUN_A].")
@click.option("--measures", default="nDCG@10,R@100,MRR@10", show_default=True,
              help="Comma-separated, among nDCG@10, R@10, R@100, MRR@10, MAP@100, P@10.")
@click.option("--html", "html_file", type=click.Path(path_type=Path), help="Also write an HTML report here.")
def compare_command(run_a: Path, run_b: Path, qrels_file: Path | None, measures: str, html_file: Path | None) -> None:
    """Compare two TREC run files on the same judgements: per-measure differences, win/tie/loss, and paired
    significance tests (Fisher randomization and paired t)."""
    from rich.console import Console

    from qa.evaluation.judgements import load_qrels
    from qa.evaluation.measures import MEASURES
    from qa.evaluation.paired import compare_runs, find_qrels, render, write_html
    from qa.evaluation.runs import read_run

    names = [m.strip() for m in measures.split(",") if m.strip()]
    if not names or any(m not in MEASURES for m in names):
        raise click.BadParameter(f"measures among {', '.join(MEASURES)}", param_hint="--measures")
    qrels_path = qrels_file or find_qrels(run_a)
    comparison = compare_runs(load_qrels(qrels_path), read_run(run_a), read_run(run_b), names,
                              names=(str(run_a), str(run_b)))
    click.echo(f"qrels: {qrels_path}")
    render(comparison, Console(width=max(Console().width, 120)))
    if html_file:
        click.echo(f"wrote {write_html(comparison, html_file)}")


@main.command("tune")
@click.option("--questions", "questions_files", type=click.Path(path_type=Path), multiple=True,
              help="Labelled questions (eval format; repeatable) [eval/kherson.jsonl].")
@click.option("--index", "index_dirs", type=click.Path(path_type=Path), multiple=True,
              help="Index to tune on (repeatable). Fusion: the objective is averaged over them. Calibration: "
              "the n-th --questions file is searched on the n-th --index (one file: on every index).")
@click.option("--split", type=click.Choice(["all", "tune", "heldout"]), default="tune", show_default=True,
              help="Questions to use: tune = odd id numbers (keep heldout for `qa eval`), all = the whole file.")
@click.option("--calibration-only", is_flag=True,
              help="Only re-fit answerability (confidence, the `answered` threshold and the `unsure` edge) on "
              "your labelled questions; fusion settings stay. The way to calibrate a new corpus.")
@click.option("--recall", type=click.FloatRange(0.5, 1.0), default=None,
              help="Calibration: share of answerable questions at or above the `answered` threshold, in every set. "
              "Unset: with two or more questions files, the smallest of 0.95-0.98 that still keeps 0.90 of each "
              "file's answerable questions when that file is left out of the fit; with one, 0.95.")
@click.option("--sure-recall", type=click.FloatRange(0.5, 1.0), default=0.99, show_default=True,
              help="Calibration: share of answerable questions at or above the `unsure` edge (below it: "
              "`not_answered`), in every set.")
@click.option("--out", type=click.Path(path_type=Path), help="Where to write [QA_RETRIEVAL_FILE; eval/retrieval.json].")
@click.option("--beir", "beir_dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Tune on a BEIR folder's judgements instead (nDCG@10 of documents): mode and fusion chosen on "
              "--tune-split, figures reported on --test-split.")
@click.option("--tune-split", default="dev", show_default=True, help="--beir: the qrels split to tune on.")
@click.option("--test-split", default="test", show_default=True, help="--beir: the qrels split to report.")
def tune_command(questions_files: tuple[Path, ...], index_dirs: tuple[Path, ...], split: str,
                 calibration_only: bool, recall: float | None, sure_recall: float, out: Path | None,
                 beir_dir: Path | None, tune_split: str, test_split: str) -> None:
    """Choose fusion/ranking settings on labelled questions (or a BEIR folder's judgements), or
    (--calibration-only) re-fit answerability; writes the retrieval settings file, which `qa build` copies
    into the index manifest."""
    if beir_dir is not None:
        _tune_judged(beir_dir, index_dirs, tune_split, test_split, out)
        return
    from qa.evaluation import load_questions, split_questions
    from qa.evaluation.tune import read_settings, tune, write
    from qa.search.retriever import Retriever

    settings = get_settings()
    files = list(questions_files) or [Path("eval/kherson.jsonl")]
    dirs = list(index_dirs) or [settings.index]
    path = out or settings.retrieval_file
    current = read_settings(path)
    if calibration_only:
        pairs = _question_index_pairs(files, dirs)
        fitted = _calibrate(pairs, split, recall, sure_recall, settings)
        data = current | {"calibrations": {m: c.to_dict() for m, c in fitted.calibrations.items()},
                          "calibrated": fitted.to_json([f"{q} on {i}" for q, i in pairs], sure_recall)}
        written = write(path, data)
        for mode, calibration in fitted.calibrations.items():
            held = ", ".join(f"{name} {share:.3f}" for name, share in fitted.held_out.get(mode, {}).items())
            how = f"recall {fitted.recall[mode]:.2f}" + (f" (held out: {held})" if held else "")
            click.echo(f"calibration {mode}, {how}: {calibration}")
        _print_calibration(fitted)
        click.echo(f"wrote {written}; run `qa build` to copy it into an index")
        return
    questions = split_questions(load_questions(files[0]), split)
    retrievers = [Retriever.load(d, settings) for d in dirs]
    result = tune(retrievers, questions, log=lambda line: click.echo(f"  better: {line}"))
    data = result.to_json(str(files[0]), [str(d) for d in dirs])
    written = write(path, data | {k: current[k] for k in ("calibrations", "calibrated", "read") if k in current})
    click.echo(f"tuned on the {split} split of {files[0]} ({len(questions)} questions) over "
               f"{', '.join(map(str, dirs))}")
    click.echo(f"chosen: {result.config}")
    click.echo(f"wrote {written} (calibrations kept: re-fit them with `qa tune --calibration-only`); "
               "run `qa build` to copy it into an index")


def _tune_judged(beir_dir: Path, index_dirs: tuple[Path, ...], tune_split: str, test_split: str,
                 out: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from qa.evaluation.judged_tune import tune_judged
    from qa.evaluation.judgements import load_beir
    from qa.evaluation.tune import read_settings, write
    from qa.search.retriever import Retriever

    if len(index_dirs) > 1:
        raise click.UsageError("--beir tunes on one index (the one built from that BEIR folder)")
    settings = get_settings()
    index_dir = index_dirs[0] if index_dirs else settings.index
    tune_set, test_set = load_beir(beir_dir, tune_split), load_beir(beir_dir, test_split)
    retriever = Retriever.load(index_dir, settings)
    result = tune_judged(retriever, tune_set, test_set, log=lambda line: click.echo(f"  better: {line}"))
    path = out or settings.retrieval_file
    current = read_settings(path)
    written = write(path, result.to_json(str(beir_dir))
                    | {k: current[k] for k in ("calibrations", "calibrated", "read") if k in current})
    for split_name, rows in ((tune_set.name, result.tune), (test_set.name, result.test)):
        table = Table(title=f"{split_name} ({'tuned on' if rows is result.tune else 'reported'})")
        names = list(next(iter(rows.values())))
        for col in ("mode", *names):
            table.add_column(col, justify="left" if col == "mode" else "right")
        for mode, values in rows.items():
            table.add_row(mode, *(f"{values[n]:.4f}" for n in names))
        Console(width=120).print(table)
    click.echo(f"chosen: {result.config} (best mode on {tune_set.name}: {result.best_mode}; "
               f"{result.tried} settings tried)")
    click.echo(f"wrote {written} (calibrations and read settings kept); run `qa build` to copy it into an index"
               + ("" if result.best_mode == "hybrid" else f", and search with QA_MODE={result.best_mode}"))


def _question_index_pairs(files: list[Path], dirs: list[Path]) -> list[tuple[Path, Path]]:
    if len(files) == 1:
        return [(files[0], d) for d in dirs]
    if len(files) != len(dirs):
        raise click.UsageError(f"--calibration-only pairs the n-th --questions with the n-th --index: got "
                               f"{len(files)} questions files and {len(dirs)} indexes")
    return list(zip(files, dirs, strict=True))


def _calibrate(pairs: list[tuple[Path, Path]], split: str, recall: float | None, sure_recall: float, settings):  # type: ignore[no-untyped-def]
    from qa.evaluation import load_questions, split_questions
    from qa.evaluation.calibrate import fit_all, observe
    from qa.search.retriever import Retriever

    observations = []
    for questions_file, index_dir in pairs:
        retriever = Retriever.load(index_dir, settings)
        if retriever.reader is None:
            click.echo(f"note: {index_dir} has no reader installed: the `read` model is fitted on retrieval alone",
                       err=True)
        questions = split_questions(load_questions(questions_file), split)
        name = f"{questions_file.stem} on {index_dir.name}"
        click.echo(f"reading {len(questions)} questions: {name}")
        observations += observe(retriever, questions, name, log=click.echo)
    try:
        return fit_all(observations, recall, sure_recall)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _print_calibration(fitted) -> None:  # type: ignore[no-untyped-def]
    from qa.evaluation.calibrate import format_figures

    click.echo("answerability with reading, on the sets it was fitted on:")
    for line in format_figures(fitted.figures):
        click.echo("  " + line)


@main.command("train-reader")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=Path("../shared/qa-train"), show_default=True, help="SQuAD 1.1 train + NQ folder.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/reader"), show_default=True,
              help="Where the reader (and its checkpoint) go; running again resumes from the checkpoint.")
@click.option("--examples", type=click.IntRange(10, 10_000_000), default=48_000, show_default=True,
              help="Training examples (positives and made-up 'no answer' pairs).")
@click.option("--dev-examples", type=click.IntRange(10, 100_000), default=3_000, show_default=True,
              help="Dev examples, from held-out articles.")
@click.option("--seed", type=int, default=13, show_default=True, help="Fixes the dev split, selection and order.")
@click.option("--selection-seed", type=int, help="Draw the training examples and their order with this seed "
              "instead (the dev split stays the --seed one): continue a reader on examples it has not seen.")
@click.option("--max-length", type=click.IntRange(64, 512), default=192, show_default=True,
              help="Word-pieces per training pair.")
@click.option("--batch-size", type=click.IntRange(1, 1024), default=32, show_default=True, help="Pairs a step.")
@click.option("--lr", type=click.FloatRange(1e-7, 1e-2), default=5e-5, show_default=True, help="Peak learning rate.")
@click.option("--epochs", type=click.FloatRange(0.01, 20), default=1.0, show_default=True,
              help="Passes over the training examples.")
@click.option("--checkpoint-every", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="Steps between checkpoints.")
@click.option("--max-steps", type=click.IntRange(1, 10_000_000),
              help="Stop after this many steps (the learning-rate schedule still spans the whole run).")
@click.option("--base-model", type=click.Path(exists=True, file_okay=False), help="Start from this model folder "
              "instead of the bundled all-MiniLM-L6-v2.")
@click.option("--layers", type=click.IntRange(1, 48), help="Keep only the bottom N transformer layers of the base "
              "model: a smaller reader that reads faster (cost is linear in layers).")
@click.option("--mine-with", type=click.Path(exists=True, file_okay=False), help="Hard negatives: draw "
              "--mine-pool times the negatives the mix asks for and keep, per kind, those this reader folder "
              "most takes for answered (ids in <out>/hard-negatives.json).")
@click.option("--mine-pool", type=click.IntRange(2, 20), default=2, show_default=True,
              help="With --mine-with: how many times more negatives to draw than to keep.")
def train_reader(data_dir: Path, out: Path, examples: int, dev_examples: int, seed: int,
                 selection_seed: int | None, max_length: int,
                 batch_size: int, lr: float, epochs: float, checkpoint_every: int, max_steps: int | None,
                 base_model: str | None, layers: int | None, mine_with: str | None, mine_pool: int) -> None:
    """Fine-tune the reader (answer span + 'no answer') on SQuAD 1.1 + NQ; resumable; uses CUDA when present."""
    from qa.training.train import TrainConfig, train

    cfg = TrainConfig(data_dir=data_dir, out=out, examples=examples, dev_examples=dev_examples, seed=seed,
                      selection_seed=selection_seed, max_length=max_length, batch_size=batch_size, lr=lr, epochs=epochs,
                      checkpoint_every=checkpoint_every, max_steps=max_steps, base_model=base_model, layers=layers,
                      mine_with=mine_with, mine_pool=mine_pool)
    train(cfg, log=lambda line: click.echo(line))


@main.command("train-reader-prepare")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=Path("../shared/qa-train"), show_default=True, help="SQuAD 1.1 train + NQ folder.")
@click.option("--out", type=click.Path(path_type=Path), default=Path(".cache/accel-run"), show_default=True,
              help="The folder to write (git-ignored; carried to the accelerator).")
@click.option("--base", type=click.Path(path_type=Path, exists=True, file_okay=False), default=Path("models/reader"),
              show_default=True, help="Reader folder the run continues from (tracked: it travels, read in place).")
@click.option("--examples", type=click.IntRange(10, 10_000_000),
              help="Training examples [all SQuAD train questions, the other kinds in proportion].")
@click.option("--dev-examples", type=click.IntRange(10, 100_000), default=3_000, show_default=True,
              help="Dev examples, from held-out articles (the set `qa train-reader` scores).")
@click.option("--seed", type=int, default=13, show_default=True, help="Fixes the dev split, selection and order.")
@click.option("--budget-mib", type=click.FloatRange(0.1, 64), help="Size the folder may take "
              "[64 MiB less the tracked tree less 1 MiB]; examples are cut to fit.")
def train_reader_prepare(data_dir: Path, out: Path, base: Path, examples: int | None, dev_examples: int, seed: int,
                         budget_mib: float | None) -> None:
    """Make, tokenise and pack the reader's training and dev examples (every negative kind resolved) for one run
    of qa/training/accelerator.py on the accelerator machine (docs/training.md)."""
    from qa.training.prepare_run import PrepareConfig, Recipe, prepare

    cfg = PrepareConfig(data_dir=data_dir, out=out, base=base, examples=examples, dev_examples=dev_examples, seed=seed,
                        budget_bytes=int(budget_mib * 2**20) if budget_mib else None)
    prepare(cfg, Recipe(seed=seed), log=lambda line: click.echo(line))


@main.command("train-reader-collect")
@click.argument("returned", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The reader folder to write.")
@click.option("--base", type=click.Path(path_type=Path, exists=True, file_okay=False), default=Path("models/reader"),
              show_default=True, help="Reader folder the run continued from (config, tokenizer, shapes).")
@click.option("--run", "run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=Path(".cache/accel-run"), show_default=True, help="The prepared folder the run read.")
@click.option("--compare", type=click.IntRange(0, 100_000), default=200, show_default=True,
              help="Dev examples to read again here and compare with the device's readings.")
@click.option("--int8/--no-int8", default=True, show_default=True, help="Export the int8 ONNX copy.")
@click.option("--tune/--no-tune", default=True, show_default=True, help="Re-run `qa tune-reader` on it.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=Path("../shared/qa-train"),
              show_default=True, help="SQuAD 1.1 train + NQ folder (for `qa tune-reader`).")
def train_reader_collect(returned: Path, out: Path, base: Path, run_dir: Path, compare: int, int8: bool, tune: bool,
                         data_dir: Path) -> None:
    """Check and reassemble what the accelerator run returned into a reader folder, export int8, re-tune."""
    from qa.training.collect_run import CollectConfig, collect

    collect(CollectConfig(returned=returned, out=out, base=base, run=run_dir, compare=compare, int8=int8, tune=tune,
                          data_dir=data_dir), log=lambda line: click.echo(line))


@main.command("average-readers")
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The reader folder to write.")
def average_readers(folders: tuple[Path, ...], out: Path) -> None:
    """Average the weights of readers continued from the same model (a "model soup") into a new folder."""
    from qa.training.average import average

    try:
        record = average(list(folders), out)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    click.echo(f"averaged {len(folders)} readers ({record['tensors']} tensors) into {out}")


@main.command("tune-reader")
@click.option("--reader", "reader_dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=Path("models/reader"), show_default=True, help="The reader folder to tune (and write to).")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=Path("../shared/qa-train"), show_default=True, help="SQuAD 1.1 train + NQ folder.")
@click.option("--work", type=click.Path(path_type=Path), default=Path(".cache/reader-dev"), show_default=True,
              help="Where the dev corpus, its index and questions go.")
@click.option("--questions", "limit", type=click.IntRange(20, 100_000), default=600, show_default=True,
              help="Dev questions to read (a fixed hash order; answerable, nearby and off-topic mixed).")
def tune_reader(reader_dir: Path, data_dir: Path, work: Path, limit: int) -> None:
    """Choose how many passages the reader reads (whole, or a window of sentences) and its rank weight on the
    reader's dev split (held-out SQuAD articles and NQ paragraphs, made-up unanswerable questions); writes them as
    `read` in the tuned settings file (QA_RETRIEVAL_FILE; eval/retrieval.json) and the figures to
    <reader>/read-tuning.json. Then rebuild (`qa build`) and re-fit answerability (`make calibrate`)."""
    from qa.training.tune import run as run_tune

    config, report = run_tune(reader_dir, data_dir, work, get_settings(), limit, log=lambda line: click.echo(line))
    click.echo(f"chosen: {config}")
    click.echo(json.dumps({k: v for k, v in report.items() if not k.startswith("grid")}, indent=1))


def run() -> None:
    try:
        main()
    except QAError as exc:  # pragma: no cover - main() already maps these
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(1)
