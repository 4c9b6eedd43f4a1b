"""`amber-home export`: the Prometheus exporter and alert relay (the service lives in exporter/__main__.py)."""

from collections.abc import Mapping, Sequence


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    from exporter.__main__ import main as exporter_main

    return exporter_main(argv, environ)
