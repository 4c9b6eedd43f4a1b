"""The simulator's HTTP server stays quiet when a client hangs up (a healthcheck exiting mid-connection)."""

from __future__ import annotations

import socket
import struct
import time

from simulator.config import SimulatorConfig
from simulator.server import SimulatorServer


def test_a_client_resetting_its_connection_leaves_no_traceback(capfd):
    with SimulatorServer(SimulatorConfig()) as server:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", server.port))
            # SO_LINGER 0: close() sends RST, as a healthcheck process exiting with unread data does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        time.sleep(0.5)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ConnectionResetError" not in err
