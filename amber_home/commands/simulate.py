"""`amber-home simulate`: the Amber API simulator (all options are the simulator's own)."""

from collections.abc import Mapping, Sequence


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    from simulator.__main__ import main as simulator_main

    return simulator_main(list(argv))
