"""netlib.py - loopback ports for the integration tests (imported by
serve_test.py, build_test.py, tls_test.py and opensearch_client_run.py).

free_port binds port 0 and releases it, so the port was free a moment ago;
it never returns a port it has already returned in this process: the kernel
may hand a released port out again before the process meant to take it has
bound it, and two test servers would then race for one port (a leaf's HTTP
port once came back as another leaf's nng port).
"""
import socket

_given = set()


def free_port():
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p not in _given:
            _given.add(p)
            return p
