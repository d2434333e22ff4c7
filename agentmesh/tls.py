"""TLS for every agentmesh hop: PEM files named by flags, env or the mesh file, re-read when they change.

One identity per process, used both ways, as a service mesh issues it (cert-manager:
`usages: [server auth, client auth]`): a process serves with AGENTMESH_TLS_CERT/KEY and,
when a server it calls asks for a client certificate (mutual TLS), presents the same
pair. AGENTMESH_TLS_CLIENT_CA makes a server demand a client certificate from that CA;
AGENTMESH_TLS_CA is the CA a client trusts (and turns TLS on for its calls).

Certificates are files because that is what a Kubernetes Secret mounts; the kubelet
replaces them atomically (a symlink swap) when cert-manager renews them. A server picks
the new files up on the next handshake (grpc's dynamic server certificate
configuration), without a restart; a half-written or unreadable replacement is logged
and the previous certificate kept. Clients cannot swap credentials on a live channel
(grpc core has no client-side reload), so their owners make new channels when
`ClientTLS.version()` changes.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

from agentmesh.files import Stamp, stamp

log = logging.getLogger("agentmesh.tls")

CERT_ENV = "AGENTMESH_TLS_CERT"
KEY_ENV = "AGENTMESH_TLS_KEY"
CLIENT_CA_ENV = "AGENTMESH_TLS_CLIENT_CA"
CA_ENV = "AGENTMESH_TLS_CA"


class TLSConfigError(ValueError):
    """A TLS setting is incomplete or names a file that cannot be read."""


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TLSConfigError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise TLSConfigError(f"the {what} {path} is not PEM")
    return data


@dataclass(frozen=True, slots=True)
class ServerTLS:
    """A server's certificate and key; with `client_ca`, clients must present a certificate it signed."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    @classmethod
    def from_settings(
        cls, cert: str | None, key: str | None, client_ca: str | None = None
    ) -> ServerTLS | None:
        """None when neither cert nor key is given (plaintext); an error when only one is."""
        if not cert and not key:
            if client_ca:
                raise TLSConfigError("a client CA (mutual TLS) needs the server's own certificate and key")
            return None
        if not cert or not key:
            raise TLSConfigError("TLS needs both a certificate and its key")
        return cls(Path(cert), Path(key), Path(client_ca) if client_ca else None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ServerTLS | None:
        return cls.from_settings(env.get(CERT_ENV), env.get(KEY_ENV), env.get(CLIENT_CA_ENV))

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        pair = (_read(self.key, "TLS key"), _read(self.cert, "TLS certificate"))
        # grpc would take a key that does not match its certificate and fail every handshake.
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(self.cert, self.key)
        except (ssl.SSLError, OSError) as exc:
            raise TLSConfigError(
                f"the TLS certificate {self.cert} and key {self.key} do not load: {exc}"
            ) from None
        roots = _read(self.client_ca, "client CA") if self.client_ca is not None else None
        return grpc.ssl_server_certificate_configuration([pair], root_certificates=roots)

    def credentials(self) -> grpc.ServerCredentials:
        """Server credentials that re-read the files on the first handshake after they change.

        Raises TLSConfigError at once if the files cannot be read now.
        """
        reloader = _Reloader(self)
        return grpc.dynamic_ssl_server_credentials(
            reloader.initial,
            reloader.fetch,  # type: ignore[arg-type]  # grpc's docs: None means "no change"; the stubs omit it
            require_client_authentication=self.mutual,
        )


class _Reloader:
    def __init__(self, tls: ServerTLS) -> None:
        self._tls = tls
        self._paths = (tls.cert, tls.key, tls.client_ca)
        self._stamp = stamp(*self._paths)
        self.initial = tls._configuration()

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by grpc before each handshake: the new configuration, or None for no change."""
        now = stamp(*self._paths)
        if now == self._stamp:
            return None
        try:
            configuration = self._tls._configuration()
        except TLSConfigError as exc:
            # Mid-rotation (one file replaced, not yet the other) or a broken Secret: keep serving.
            log.warning(
                "cannot reload the TLS certificate; keeping the previous one", extra={"error": str(exc)}
            )
            return None
        self._stamp = now
        log.info("reloaded the TLS certificate", extra={"certificate": str(self._tls.cert)})
        return configuration


@dataclass(frozen=True, slots=True)
class ClientTLS:
    """What a client trusts (`ca`; None: the system's roots) and the pair it presents if asked."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def from_settings(
        cls, ca: str | None, cert: str | None = None, key: str | None = None
    ) -> ClientTLS | None:
        """None when no CA is given (plaintext); a certificate without its key is an error."""
        if bool(cert) != bool(key):
            raise TLSConfigError("a client certificate needs its key, and a key its certificate")
        if not ca:
            return None
        return cls(Path(ca), Path(cert) if cert else None, Path(key) if key else None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ClientTLS | None:
        return cls.from_settings(env.get(CA_ENV), env.get(CERT_ENV), env.get(KEY_ENV))

    def credentials(self) -> grpc.ChannelCredentials:
        """Channel credentials from the files as they are now."""
        roots = _read(self.ca, "CA certificate") if self.ca is not None else None
        key = _read(self.key, "TLS key") if self.key is not None else None
        cert = _read(self.cert, "TLS certificate") if self.cert is not None else None
        return grpc.ssl_channel_credentials(roots, key, cert)

    def version(self) -> Stamp:
        """Changes when any of the files does: time to make new channels."""
        return stamp(self.ca, self.cert, self.key)


_LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps a server to this machine."""
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def tls_mode(tls: ServerTLS | None) -> str:
    """How a server's listening line describes its transport: off, on or mutual."""
    if tls is None:
        return "off"
    return "mutual" if tls.mutual else "on"
