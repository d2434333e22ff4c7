"""Command-line options every agentmesh server takes, as flags or from the environment.

Shared by the agent runtime's `python -m` entry point and the `agentmesh` command, so
that an agent started either way (or as a Go or TypeScript program) reads the same
flags and the same variables, which is what a pod's `env` sets.
"""

from __future__ import annotations

import typer

from agentmesh.tls import CA_ENV, CERT_ENV, CLIENT_CA_ENV, KEY_ENV

TLSCertOption = typer.Option(
    "", "--tls-cert", envvar=CERT_ENV, help="PEM certificate to serve TLS with (re-read when it changes)."
)
TLSKeyOption = typer.Option("", "--tls-key", envvar=KEY_ENV, help="PEM private key of --tls-cert.")
TLSClientCAOption = typer.Option(
    "", "--tls-client-ca", envvar=CLIENT_CA_ENV, help="Demand client certificates signed by this CA (mTLS)."
)
TLSCAOption = typer.Option(
    "",
    "--tls-ca",
    envvar=CA_ENV,
    help="Call over TLS, trusting this CA (and presenting --tls-cert if asked).",
)
MetricsPortOption = typer.Option(
    "",
    "--metrics-port",
    envvar="AGENTMESH_METRICS_PORT",
    help="Serve Prometheus /metrics on this port (0 picks one); off unless given.",
)
