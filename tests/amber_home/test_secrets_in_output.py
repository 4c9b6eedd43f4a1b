"""A database password with `%zz` and a space never appears in any command's output, whether the URL is
malformed (libpq quotes the part it cannot parse) or valid and the server unreachable; AMBER_API_BASE_URL's
password stays out of doctor's table; doctor prints rich markup in a detail as text. Real processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.servers import REPO, free_port

PASSWORD = "p%zz w0rd"
FRAGMENTS = ("%zz", "zz w0rd", "p%25zz", "w0rd")
COMMANDS = [
    ["migrate"], ["query", "summary"], ["query", "sql", "SELECT 1"], ["backfill"],
    ["collect", "--once"], ["doctor"], ["backup", "--output", "/tmp/never.dump"], ["restore", "/etc/hostname"],
]


def run(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AMBER_", "DATABASE_"))}
    environ.update({"AMBER_API_KEY": "psk_fake", "AMBER_API_BASE_URL": f"http://127.0.0.1:{free_port()}/v1", **env})
    return subprocess.run([sys.executable, "-m", "amber_home.cli", *argv], capture_output=True, text=True,
                          env=environ, cwd=REPO, timeout=120)


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("url", [
    f"postgresql://amber:{PASSWORD}@127.0.0.1:{{port}}/amber",  # as typed: malformed
    f"postgresql://amber:{PASSWORD.replace('%', '%25').replace(' ', '%20')}@127.0.0.1:{{port}}/amber",  # valid
], ids=["malformed", "encoded"])
def test_a_password_with_percent_and_space_never_appears(argv, url):
    result = run(argv, DATABASE_URL=url.format(port=free_port()))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    for fragment in FRAGMENTS:
        assert fragment not in output, output


def test_doctor_hides_the_api_url_password_and_prints_markup_as_text():
    result = run(["doctor"], AMBER_API_BASE_URL=f"http://user:apiS3cret@127.0.0.1:{free_port()}/v1",
                 DATABASE_URL=f"postgresql://amber@127.0.0.1:{free_port()}/[/x]")
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output
    assert "apiS3cret" not in output
    assert "[/x]" in output  # the database name, quoted by libpq's message, printed as it is
