"""Retrieval evaluation: the eval set, pure metrics, an in-process runner, reports and a regression gate."""

from __future__ import annotations

from qa.evaluation.questions import SPLITS, Question, load_questions, split_questions
from qa.evaluation.report import EvalReport, ModeReport, QuestionResult, headline_names
from qa.evaluation.runner import encode_questions, run_eval, summarise

__all__ = [
    "SPLITS", "EvalReport", "ModeReport", "Question", "QuestionResult", "encode_questions", "headline_names",
    "load_questions", "run_eval", "split_questions", "summarise",
]
