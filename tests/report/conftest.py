"""Shared fixtures: a scratch copy of the made-up sde_ablation study, and an HTML table reader."""
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
STUDY = "sde_ablation"


class Dirs:
    """studies/, results/ and reports/ under a temporary folder, the fixture copied in."""

    def __init__(self, root: Path):
        self.studies, self.results = root / "studies", root / "results"
        self.reports = root / "reports"
        self.studies.mkdir()
        shutil.copy(FIXTURES / f"{STUDY}.yaml", self.studies / f"{STUDY}.yaml")
        shutil.copytree(FIXTURES / "results" / STUDY, self.results / STUDY)

    @property
    def cells(self) -> Path:
        return self.results / STUDY / "cells.csv"

    def table(self) -> pd.DataFrame:
        return pd.read_csv(self.cells, dtype=str, keep_default_na=False)

    def save(self, table: pd.DataFrame) -> None:
        table.to_csv(self.cells, index=False)

    def args(self) -> tuple:
        return STUDY, self.results, self.reports, self.studies


@pytest.fixture
def dirs(tmp_path) -> Dirs:
    return Dirs(tmp_path)


class Tables(HTMLParser):
    """Every <table> as rows of (text, css classes) cells."""

    def __init__(self, html: str):
        super().__init__()
        self.tables, self._cell = [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = ["", (dict(attrs).get("class") or "").split()]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append((self._cell[0].strip(), self._cell[1]))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data


def read_tables(html: str) -> list[list[list[tuple[str, list[str]]]]]:
    return Tables(html).tables
