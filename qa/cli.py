"""`qa` command line: build | search | serve | eval. Heavy imports happen inside the commands."""

from __future__ import annotations

import json
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
        report = run_build(settings, seeds, index_dir, reporter=reporter, force=force)
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
    from qa.retriever import Retriever
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

    from qa.api import create_app

    settings = get_settings()
    if index_dir:
        settings = settings.model_copy(update={"index": index_dir})
    app = create_app(settings)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info")


def run() -> None:
    try:
        main()
    except QAError as exc:  # pragma: no cover - main() already maps these
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(1)
