"""Throwaway certificate authorities (trustme) written where a Kubernetes Secret would mount them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import grpc
import trustme
from grpc_health.v1 import health_pb2

from agentmesh import health

HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Identity:
    """A certificate (chain) and key as PEM files, plus the CA file that signed them."""

    cert: Path
    key: Path
    ca: Path


def authority(directory: Path, name: str) -> tuple[trustme.CA, Path]:
    """A new CA and its certificate written to DIRECTORY/NAME-ca.crt."""
    ca = trustme.CA()
    path = directory / f"{name}-ca.crt"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


def issue(ca: trustme.CA, ca_file: Path, directory: Path, name: str) -> Identity:
    """A leaf for 127.0.0.1/localhost, usable for serving and as a client certificate."""
    leaf = ca.issue_cert(*HOSTS, common_name=name)
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    return Identity(cert, key, ca_file)


class SecretVolume:
    """A directory laid out as the kubelet mounts a Secret: each file a symlink through `..data`,
    which a renewal swaps atomically, so that a certificate and its key change together."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._versions = 0
        root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.root / name

    def write(self, files: dict[str, bytes]) -> None:
        """A new version of the Secret: these files changed, the others kept as they were."""
        kept = {p.name: p.read_bytes() for p in self.root.iterdir() if p.is_symlink() and p.is_file()}
        files = {**kept, **files}
        self._versions += 1
        version = self.root / f"..{self._versions}"
        version.mkdir()
        for name, data in files.items():
            (version / name).write_bytes(data)
            link = self.root / name
            if not link.is_symlink():
                link.symlink_to(Path("..data") / name)
        fresh = self.root / "..data_tmp"
        fresh.symlink_to(version.name)
        os.replace(fresh, self.root / "..data")

    def hold(self, identity: Identity) -> Identity:
        """Mount this identity's files (tls.crt, tls.key, ca.crt) and name them here."""
        self.write(
            {
                "tls.crt": identity.cert.read_bytes(),
                "tls.key": identity.key.read_bytes(),
                "ca.crt": identity.ca.read_bytes(),
            }
        )
        return Identity(self.path("tls.crt"), self.path("tls.key"), self.path("ca.crt"))


def credentials(trust: Path, client: Identity | None = None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        trust.read_bytes(),
        client.key.read_bytes() if client else None,
        client.cert.read_bytes() if client else None,
    )


async def health_over(target: str, creds: grpc.ChannelCredentials | None, timeout: float = 5) -> str:
    """Health.Check over a new channel (a new handshake): the status name, or the failed code's name."""
    channel = grpc.aio.insecure_channel(target) if creds is None else grpc.aio.secure_channel(target, creds)
    async with channel:
        try:
            status = await health.check(channel, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
        return health_pb2.HealthCheckResponse.ServingStatus.Name(status)
