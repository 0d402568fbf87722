"""Fit the shipped answerability calibration, and report it on the check halves.

    .venv/bin/python eval/calibrate.py [--out eval/retrieval.json] [--report eval/calibration/report.json]
                                       [--reuse] [--keep]

(`make calibrate` runs it.) What `qa tune --calibration-only` does for one user's labelled questions, done on
the project's own sets, each split in a tune half (fitted on) and a check half (only reported):

| set | tune half | check half | index |
| --- | --- | --- | --- |
| reader dev split (held-out SQuAD articles + NQ) | `half(id) == "tune"` | the rest | its own (`.cache/reader-dev`) |
| hand-written frontlines questions, by article | `frontlines-tune.jsonl` | `frontlines-check.jsonl` | all 191 frontlines articles, and that half's articles alone |
| plain Markdown notes, by note | `notes-tune.jsonl` | `notes-check.jsonl` | the 10 notes |
| `eval/kherson.jsonl` | — | all of it (a check only) | the seed alone, and frontlines |
| hand-written frontlines questions over six more articles | — | `frontlines-fresh.jsonl` (a check only) | all 191 frontlines articles, and its six alone |

Each set weighs the same in the fit. `--keep` refits nothing: it reports the calibrations already in `--out`
on every set (how a check set added after the fit, or another machine's arithmetic, is measured against what
ships). Indexes are built (incrementally) under `.cache/calibration/` and `index/frontlines`; the reader dev
split under `.cache/reader-dev` (as `qa tune-reader` makes it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALIBRATION = ROOT / "eval" / "calibration"
FRONTLINES = ROOT.parent / "shared" / "corpus" / "frontlines"
WORK = ROOT / ".cache" / "calibration"
OBSERVED = WORK / "observations.jsonl"  # every set's signals, so a refit need not read again (--reuse)


def articles_index(settings, questions_file: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    """An index of just the frontlines articles a questions file is written over (its `article` ids)."""
    from qa.build import build
    from qa.evaluation import load_questions

    ids = sorted({q.article for q in load_questions(questions_file) if q.article})
    folder = WORK / name / "articles"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in set(folder.glob("*.md")) - {folder / f"{i}.md" for i in ids}:
        stale.unlink()
    for i in ids:
        if not (folder / f"{i}.md").exists():
            shutil.copyfile(FRONTLINES / f"{i}.md", folder / f"{i}.md")
    build(settings, folder, WORK / name / "index")
    return WORK / name / "index"


def observe_all(settings, data: Path) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    """Build the indexes (incrementally) and read every set once: (tune observations, check observations)."""
    from qa.build import build
    from qa.evaluation import load_questions
    from qa.evaluation.calibrate import observe
    from qa.search.retriever import Retriever
    from qa.training import devset
    from qa.training.tune import half

    dev = ROOT / ".cache" / "reader-dev"
    if not (dev / "questions.jsonl").exists():
        devset.write(data, dev)
    build(settings, dev / "articles", dev / "index")
    build(settings, FRONTLINES, ROOT / "index" / "frontlines")
    build(settings, CALIBRATION / "notes", WORK / "notes" / "index")
    build(settings, ROOT / "seeds", WORK / "seed" / "index")
    tune_articles = articles_index(settings, CALIBRATION / "frontlines-tune.jsonl", "frontlines-tune")
    check_articles = articles_index(settings, CALIBRATION / "frontlines-check.jsonl", "frontlines-check")
    fresh_articles = articles_index(settings, CALIBRATION / "frontlines-fresh.jsonl", "frontlines-fresh")
    frontlines, notes = ROOT / "index" / "frontlines", WORK / "notes" / "index"
    sets = [  # (name, questions, index): a name with "tune" in it is fitted on; the dev split is halved by id
        ("dev", dev / "questions.jsonl", dev / "index"),
        ("frontlines-tune on frontlines", CALIBRATION / "frontlines-tune.jsonl", frontlines),
        ("frontlines-tune on its articles", CALIBRATION / "frontlines-tune.jsonl", tune_articles),
        ("notes-tune", CALIBRATION / "notes-tune.jsonl", notes),
        ("frontlines-check on frontlines", CALIBRATION / "frontlines-check.jsonl", frontlines),
        ("frontlines-check on its articles", CALIBRATION / "frontlines-check.jsonl", check_articles),
        ("frontlines-fresh on frontlines", CALIBRATION / "frontlines-fresh.jsonl", frontlines),
        ("frontlines-fresh on its articles", CALIBRATION / "frontlines-fresh.jsonl", fresh_articles),
        ("notes-check", CALIBRATION / "notes-check.jsonl", notes),
        ("kherson on the seed", ROOT / "eval" / "kherson.jsonl", WORK / "seed" / "index"),
        ("kherson on frontlines", ROOT / "eval" / "kherson.jsonl", frontlines),
    ]
    tune_obs, check_obs = [], []
    for name, questions_file, index in sets:
        retriever = Retriever.load(index, settings)
        questions = load_questions(questions_file)
        print(f"reading {len(questions)} questions: {name}", flush=True)
        observed = observe(retriever, questions, name, log=print)
        if name == "dev":
            tune_obs += [replace(o, set="dev-tune") for o in observed if half(o.id) == "tune"]
            check_obs += [replace(o, set="dev-check") for o in observed if half(o.id) == "check"]
        elif "tune" in name:
            tune_obs += observed
        else:
            check_obs += observed
    return tune_obs, check_obs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "retrieval.json")
    ap.add_argument("--report", type=Path, default=CALIBRATION / "report.json")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "qa-train")
    ap.add_argument("--reuse", action="store_true",
                    help=f"refit from the signals the last run saved ({OBSERVED}) without reading")
    ap.add_argument("--keep", action="store_true",
                    help="do not refit: report the calibrations already in --out on every set (a new check set, "
                         "or another machine); --out is left as it is")
    args = ap.parse_args(argv)

    from qa.evaluation.calibrate import (
        SURE_RECALL,
        Observation,
        figures,
        fit_all,
        format_figures,
        reliability,
    )
    from qa.evaluation.tune import read_settings, write
    from qa.index.retrieval import Calibration
    from qa.settings import get_settings

    settings = get_settings()
    if args.reuse:
        saved = [json.loads(line) for line in OBSERVED.read_text().splitlines()]
        halves = [o.pop("half") for o in saved]
        tune_obs = [Observation(**o) for o, h in zip(saved, halves, strict=True) if h == "tune"]
        check_obs = [Observation(**o) for o, h in zip(saved, halves, strict=True) if h == "check"]
    else:
        tune_obs, check_obs = observe_all(settings, args.data)
        OBSERVED.parent.mkdir(parents=True, exist_ok=True)
        OBSERVED.write_text("".join(json.dumps({"half": half_name, **o.__dict__, "features": dict(o.features)}) + "\n"
                                    for half_name, part in (("tune", tune_obs), ("check", check_obs)) for o in part))
    current = read_settings(args.out)
    if args.keep:
        calibrations = {m: Calibration.from_dict(c) for m, c in current.get("calibrations", {}).items()}
        if not {"read", "hybrid"} <= calibrations.keys():
            ap.error(f"--keep: {args.out} holds no fitted calibrations (run without --keep first)")
        tune_figures = figures(tune_obs, calibrations["read"])
        calibrated = current.get("calibrated", {})
    else:
        fitted = fit_all(tune_obs, None, SURE_RECALL)  # each mode's recall chosen by leaving a tune file out
        calibrations, tune_figures = fitted.calibrations, fitted.figures
        tune_sets = sorted({o.set for o in tune_obs})
        calibrated = {"sets": tune_sets, "recall": fitted.recall, "held_out_recall": fitted.held_out_json(),
                      "sure_recall": SURE_RECALL, "recipe": "eval/calibrate.py"}
        write(args.out, current | {"calibrations": {m: c.to_dict() for m, c in calibrations.items()},
                                   "calibrated": calibrated})
    read = calibrations["read"]
    hybrid = calibrations["hybrid"]
    check_sets = list(dict.fromkeys(o.set for o in check_obs))  # in reading order
    parts = {"tune": tune_figures, "check": figures(check_obs, read),
             "check_without_reading": figures(check_obs, hybrid)}
    report = {
        "calibrations": {m: c.to_dict() for m, c in calibrations.items()},
        "calibrated": calibrated,  # the recall each mode's threshold keeps
        **{name: {k: v.to_dict() for k, v in part.items()} for name, part in parts.items()},
        "reliability": {s: reliability([o for o in check_obs if o.set == s], read) for s in check_sets},
    }
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1) + "\n")
    for name, part in parts.items():
        print(f"\n{name.replace('_', ' ')}:")
        for line in format_figures(part):
            print("  " + line)
    print(f"\nthe threshold's recall per mode (chosen by leaving a tune file out): {calibrated.get('recall')}; "
          f"held out: {calibrated.get('held_out_recall')}")
    if args.keep:
        print(f"\nread: {read}\nkept {args.out} as it was; wrote {args.report}")
    else:
        print(f"\nread: {read}\nwrote {args.out} and {args.report}; run `qa build` to copy the calibration into an index")
    return 0


if __name__ == "__main__":
    sys.exit(main())
