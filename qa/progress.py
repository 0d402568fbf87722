"""Terminal output for the CLI: build progress bars (rich) and search result tables."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from qa.build import Reporter
from qa.records import Problem, SearchResult

err = Console(stderr=True)


class RichReporter(Reporter):
    """Progress on stderr: one bar per stage, passages/s while embedding; problems as they come."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet or not sys.stderr.isatty()
        self.progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=err,
            disable=self.quiet,
        )
        self.task: TaskID | None = None
        self.name = ""

    def __enter__(self) -> Self:
        self.progress.__enter__()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.__exit__(t, e, tb)

    def stage(self, name: str, total: int | None = None) -> None:
        self.name = name
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[-1].total or 0)
        self.task = self.progress.add_task(name, total=total, rate="")
        if self.quiet and name == "embed" and total:
            err.print(f"embedding {total} passages…")

    def advance(self, done: int, total: int, seconds: float) -> None:
        if self.task is None:
            return
        rate = f"{done / seconds:.0f} passages/s" if self.name == "embed" and seconds > 0 else ""
        self.progress.update(self.task, completed=done, total=total, rate=rate)
        if self.quiet and self.name == "embed" and seconds > 0 and (done == total or done % 1024 < 64):
            err.print(f"  embedded {done}/{total} ({done / seconds:.0f} passages/s)")

    def problem(self, problem: Problem) -> None:
        err.print(Text(str(problem), style="yellow"), highlight=False)


VERDICTS = {"answered": "answered", "unsure": "unsure", "not_answered": "probably not answered by this corpus"}


def print_result(result: SearchResult) -> None:
    out = Console()
    verdict = VERDICTS.get(result.answerability, result.answerability)
    out.print(f"[bold]{escape(result.query)}[/bold]  ({result.mode}, confidence {result.confidence:.2f}: {verdict}, "
              f"{result.took_ms:.0f} ms)", highlight=False)
    if result.answer is not None and result.answerability in ("answered", "unsure"):
        a = result.answer
        label = "[bold green]Answer:[/bold green]" if result.answerable else "[yellow]Possible answer:[/yellow]"
        out.print(f"{label} {escape(a.text)}  [dim]— [{a.rank}] {escape(a.citation)}[/dim]", highlight=False)
    if result.answerability == "unsure":
        out.print("[yellow]Not sure these articles answer this[/yellow] (check the passages that follow)",
                  highlight=False)
    elif result.answerability == "not_answered":
        out.print("[yellow]No answer in these articles[/yellow] (the closest passages follow)", highlight=False)
    for hit in result.hits:
        c = hit.chunk
        s, e = hit.highlight
        out.print(f"\n[bold cyan]{hit.rank}. {escape(c.citation)}[/bold cyan]  score {hit.score:.4f}  "
                  f"[dim]{escape(c.file)}:{c.start}-{c.end}[/dim]", highlight=False)
        text = Text(c.text)
        text.stylize("bold yellow", s, e)
        out.print(text, highlight=False)
