from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from qa.cli import main
from tests.conftest import SEEDS


def test_help_is_instant_and_lists_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import sys, qa.cli; print('torch' in sys.modules, 'faiss' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.split() == ["False", "False"]  # no heavy imports for --help
    result = CliRunner().invoke(main, ["--help"])
    for cmd in ("build", "search", "serve"):
        assert cmd in result.output


def test_build_then_search_json(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / "bad.md").write_text("---\ntitle: [x\n---\n")
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    from qa.settings import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    index = tmp_path / "idx"
    r = runner.invoke(main, ["build", "--seeds", str(seeds), "--index", str(index)])
    assert r.exit_code == 0, r.output
    assert "1 articles" in r.output and "1 skipped files" in r.output and "bad.md:" in r.output
    r = runner.invoke(main, ["search", "How many soldiers did Russia say it withdrew across the Dnipro?",
                             "--index", str(index), "--json", "--k", "2"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    first = data["results"][0]
    assert first["section"]["path"] == ["Withdrawal and liberation", "Russian withdrawal efforts"]
    assert first["section"]["anchor"] == "russian-withdrawal-efforts"
    assert set(first) >= {"rank", "score", "scores", "text", "article", "section", "citation", "source", "highlight"}
    assert first["article"] == {"id": "liberation_of_kherson", "title": "Liberation of Kherson"}
    assert len(data["results"]) == 2 and isinstance(data["confidence"], float)
    r = runner.invoke(main, ["search", "Kherson", "--index", str(index)])
    assert r.exit_code == 0 and "Liberation of Kherson" in r.output
    get_settings.cache_clear()


def test_search_without_index_is_a_one_line_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["search", "x", "--index", str(tmp_path / "none")])
    assert r.exit_code == 1
    assert "no index at" in r.output and "qa build" in r.output and "Traceback" not in r.output
