"""Building an index: plan → chunk → embed → write the store → publish (`qa.build.build`)."""

from __future__ import annotations

from qa.build.pipeline import build
from qa.build.report import BuildReport, Reporter

__all__ = ["BuildReport", "Reporter", "build"]
