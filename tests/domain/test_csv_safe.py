import io

import pandas as pd
import pytest

from domain.csv_safe import csv_bytes, neutralise


@pytest.mark.parametrize("cell", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_formula_cells_become_text(cell):
    assert neutralise(cell) == "'" + cell


def test_plain_text_and_numbers_are_unchanged():
    assert neutralise("Tailspin") == "Tailspin"
    assert neutralise(-3) == -3


def test_csv_bytes_quotes_formulas_and_keeps_numbers():
    frame = pd.DataFrame({"subject": ['=HYPERLINK("x")', "ok"], "delta": [-1, 2]})
    text = csv_bytes(frame).decode("utf-8-sig")
    back = pd.read_csv(io.StringIO(text))
    assert back["subject"].tolist() == ['\'=HYPERLINK("x")', "ok"]
    assert back["delta"].tolist() == [-1, 2]
