"""`eval/calibrate.py --reuse --keep`: the shipped calibration reported on saved signals, nothing refitted."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest

from qa.evaluation.calibrate import Observation, figures
from qa.index.retrieval import Calibration

ROOT = Path(__file__).resolve().parent.parent


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("calibrate_script", ROOT / "eval" / "calibrate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _observations(rng: random.Random) -> list[tuple[str, Observation]]:
    """Signals shaped like a real run's: answerable questions score higher than unanswerable ones."""
    out = []
    for half, name in (("tune", "notes-tune"), ("check", "notes-check"), ("check", "kherson on the seed")):
        for i in range(60):
            kind = ("answerable", "nearby", "off-topic")[i % 3]
            lift = {"answerable": 0.3, "nearby": 0.1, "off-topic": -0.2}[kind]
            features = {"top_relevance": rng.gauss(4 * lift, 1.0), "max_relevance": rng.gauss(4 * lift, 1.0),
                        "top_sentence": 0.4 + lift + rng.gauss(0, 0.1), "gap_sentence": rng.random() * 0.1,
                        "top_dense": 0.4 + lift + rng.gauss(0, 0.1), "gap_dense": rng.random() * 0.1,
                        "agreement": rng.random(), "lexical_coverage": 0.5 + lift + rng.gauss(0, 0.1),
                        "top_lexical": 5 + rng.random(), "gap_lexical": rng.random()}
            out.append((half, Observation(name, f"{name}-{i}", kind, features)))
    return out


def test_keep_reports_the_shipped_calibration_and_leaves_it_as_it_is(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script()
    saved = _observations(random.Random(7))
    observed = tmp_path / "observations.jsonl"
    observed.write_text("".join(json.dumps({"half": h, **o.__dict__, "features": dict(o.features)}) + "\n"
                                for h, o in saved))
    monkeypatch.setattr(script, "OBSERVED", observed)
    shipped = ROOT / "eval" / "retrieval.json"
    out, report_path = tmp_path / "retrieval.json", tmp_path / "report.json"
    out.write_bytes(shipped.read_bytes())

    assert script.main(["--reuse", "--keep", "--out", str(out), "--report", str(report_path)]) == 0
    assert out.read_bytes() == shipped.read_bytes()  # nothing refitted, nothing written
    report = json.loads(report_path.read_text())
    shipped_calibrations = json.loads(shipped.read_text())["calibrations"]
    assert report["calibrations"] == shipped_calibrations
    read = Calibration.from_dict(shipped_calibrations["read"])
    check = [o for h, o in saved if h == "check"]
    assert report["check"] == {k: v.to_dict() for k, v in figures(check, read).items()}
    assert set(report["check"]) == {"notes-check", "kherson on the seed"}
    assert set(report["tune"]) == {"notes-tune"}

    # a refit (no --keep) writes a calibration of its own over the file
    assert script.main(["--reuse", "--out", str(out), "--report", str(report_path)]) == 0
    assert json.loads(out.read_text())["calibrations"] != shipped_calibrations


def test_keep_without_a_calibration_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    script = _script()
    observed = tmp_path / "observations.jsonl"
    observed.write_text("".join(json.dumps({"half": h, **o.__dict__, "features": dict(o.features)}) + "\n"
                                for h, o in _observations(random.Random(3))))
    monkeypatch.setattr(script, "OBSERVED", observed)
    out = tmp_path / "retrieval.json"
    out.write_text("{}\n")
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--reuse", "--keep", "--out", str(out), "--report", str(tmp_path / "report.json")])
    assert exit_info.value.code == 2
    assert "holds no fitted calibrations" in capsys.readouterr().err
    assert out.read_text() == "{}\n"
