"""`qa` command line: build | search | serve | eval | tune. Heavy imports happen inside the commands."""

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
@click.option("--seeds", type=click.Path(path_type=Path), help="Folder of *.md articles [QA_SEEDS; seeds].")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder [QA_INDEX; index/default].")
@click.option("--force", is_flag=True, help="Rebuild everything, reusing nothing from the previous index.")
@click.option("--quiet", "-q", is_flag=True, help="Print only problems and the summary line.")
def build(seeds: Path | None, index_dir: Path | None, force: bool, quiet: bool) -> None:
    """Build (or incrementally update) an index from every *.md under the seeds folder."""
    from qa.build import build as run_build
    from qa.progress import RichReporter

    settings = get_settings()
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
def search(
    question: str, k: int | None, mode: str | None, index_dir: Path | None, articles: tuple[str, ...], as_json: bool
) -> None:
    """Answer QUESTION with the best passages and their citations."""
    from qa.search.retriever import Retriever
    from qa.serialize import result_to_dict

    settings = get_settings()
    retriever = Retriever.load(index_dir or settings.index, settings)
    result = retriever.search(question, k=k or settings.k, mode=mode or settings.mode, articles=list(articles) or None)
    if as_json:
        click.echo(json.dumps(result_to_dict(result, retriever.info()), ensure_ascii=False, indent=2))
        return
    from qa.progress import print_result

    print_result(result)


@main.command()
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder [QA_INDEX].")
@click.option("--host", help="Address to bind [QA_HOST; 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [QA_PORT; 8000].")
def serve(index_dir: Path | None, host: str | None, port: int | None) -> None:
    """Serve the HTTP API (and the search page) from an index."""
    import uvicorn

    from qa.serve.api import create_app

    settings = get_settings()
    if index_dir:
        settings = settings.model_copy(update={"index": index_dir})
    app = create_app(settings)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info")


@main.command("eval")
@click.option("--questions", "questions_file", type=click.Path(path_type=Path), default=Path("eval/kherson.jsonl"),
              show_default=True, help="Eval set, one JSON question a line.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder [QA_INDEX].")
@click.option("--modes", default="hybrid,dense,lexical", show_default=True, help="Comma-separated retrieval modes.")
@click.option("--split", type=click.Choice(["all", "tune", "heldout"]), default="all", show_default=True,
              help="Questions to use: tune = odd id numbers, heldout = even.")
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
def eval_command(
    questions_file: Path, index_dir: Path | None, modes: str, split: str, k: int, json_file: Path | None,
    html_file: Path | None, baseline: Path | None, tolerance: float, save_baseline: Path | None, verbose: bool,
) -> None:
    """Score retrieval on an eval set: recall/MRR/nDCG, answer-in-passage, answerability, latency."""
    from rich.console import Console

    from qa.evaluation import EvalReport, load_questions, run_eval, split_questions
    from qa.evaluation.gate import compare
    from qa.evaluation.html import write_html
    from qa.evaluation.terminal import render
    from qa.search.retriever import MODES, Retriever

    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    bad = [m for m in mode_list if m not in MODES]
    if bad or not mode_list:
        raise click.BadParameter(f"modes must be among {', '.join(MODES)}", param_hint="--modes")
    settings = get_settings()
    index_dir = index_dir or settings.index
    questions = split_questions(load_questions(questions_file), split)
    old = EvalReport.load(baseline) if baseline else None  # fail on a bad baseline before the slow part
    retriever = Retriever.load(index_dir, settings)
    report = run_eval(retriever, questions, modes=mode_list, k=k, split=split, questions_file=str(questions_file))
    comparison = compare(report, old, tolerance) if old else None
    console = Console(width=max(Console().width, 150))
    render(report, console, comparison, verbose=verbose)
    stem = Path("eval/reports") / f"{Path(index_dir).name}-{split}"
    json_path = report.save(json_file or stem.with_suffix(".json"))
    html_path = write_html(report, html_file or stem.with_suffix(".html"), comparison)
    click.echo(f"wrote {json_path} and {html_path}")
    if save_baseline:
        click.echo(f"saved baseline {report.save(save_baseline, hits=False)}")
    if comparison is not None and not comparison.passed:
        sys.exit(1)


@main.command("tune")
@click.option("--questions", "questions_file", type=click.Path(path_type=Path), default=Path("eval/kherson.jsonl"),
              show_default=True, help="Eval set; only its `tune` split (odd ids) is read.")
@click.option("--index", "index_dirs", type=click.Path(path_type=Path), multiple=True,
              help="Index to tune on (repeatable; the objective is averaged; answerability is fitted on the first).")
@click.option("--out", type=click.Path(path_type=Path), help="Where to write [QA_RETRIEVAL_FILE; eval/retrieval.json].")
@click.option("--precision", type=click.FloatRange(0.5, 1.0), default=0.9, show_default=True,
              help="Precision the `answerable` threshold must reach on the tuning half.")
def tune_command(questions_file: Path, index_dirs: tuple[Path, ...], out: Path | None, precision: float) -> None:
    """Choose fusion/ranking settings and fit answerability on the tuning half; `qa build` then copies them
    into the index manifest."""
    from qa.evaluation import load_questions, split_questions
    from qa.evaluation.tune import tune, write
    from qa.search.retriever import Retriever

    settings = get_settings()
    dirs = list(index_dirs) or [settings.index]
    questions = split_questions(load_questions(questions_file), "tune")
    retrievers = [Retriever.load(d, settings) for d in dirs]
    result = tune(retrievers, questions, precision=precision, log=lambda line: click.echo(f"  better: {line}"))
    path = write(out or settings.retrieval_file, result.to_json(str(questions_file), [str(d) for d in dirs]))
    click.echo(f"tuned on the tune split of {questions_file} ({len(questions)} questions) over {', '.join(map(str, dirs))}")
    click.echo(f"chosen: {result.config}")
    for mode, calibration in result.calibrations.items():
        click.echo(f"calibration {mode}: {calibration} (fit {result.fit.get(mode)})")
    click.echo(f"wrote {path}; run `qa build` to copy it into an index")


def run() -> None:
    try:
        main()
    except QAError as exc:  # pragma: no cover - main() already maps these
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(1)
