"""`amber-home query`'s parser and loader.reports.Request agree: every subcommand's options make a Request,
and each report subcommand names a report."""

from __future__ import annotations

import datetime as dt

import pytest

from amber_home.commands.query import build_parser
from loader.reports import REPORTS, Request

ARGV = [
    ["summary"],
    ["costs", "30", "--until", "2025-04-08"],
    ["prices", "--channel", "feedIn"],
    ["usage", "--site", "S1"],
    ["bill", "2", "--daily"],
    ["compare", "5", "--by", "hour"],
    ["plan"],
    ["sql", "SELECT 1", "--timeout", "5", "--format", "csv"],
]


@pytest.mark.parametrize("argv", ARGV, ids=lambda argv: argv[0])
def test_every_subcommand_parses_into_a_request(argv):
    request = Request(**vars(build_parser().parse_args(argv)))
    assert request.what == "sql" or request.what in REPORTS


def test_options_and_defaults_reach_the_request():
    parse = build_parser().parse_args
    assert Request(**vars(parse(["costs", "30", "--until", "2025-04-08"]))).count == 30
    assert Request(**vars(parse(["costs", "--until", "2025-04-08"]))).until == dt.date(2025, 4, 8)
    assert [Request(**vars(parse([what]))).count for what in ("costs", "prices", "usage", "bill", "compare")] == [
        7, 30, 7, 3, 12,
    ]
    sql = Request(**vars(parse(["--site", "S1", "sql", "SELECT 1", "--format", "json"])))
    assert (sql.statement, sql.format, sql.site, sql.timeout) == ("SELECT 1", "json", "S1", 60.0)
