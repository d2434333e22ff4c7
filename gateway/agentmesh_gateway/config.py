"""The gateway's configuration: a mesh file, overridden by command-line flags.

    gateway:
      host: 0.0.0.0                                 # default 127.0.0.1
      port: 50051
      store: .agentmesh/gateway.db                  # or sqlite:///path, postgresql://user@host/db
      max_runs: 20000                               # runs in flight; beyond: RESOURCE_EXHAUSTED
      max_watchers: 5000                            # WatchRun/RunWorkflow streams at once
      metrics_port: 9090                            # Prometheus /metrics; off unless given
      http_port: 8080                               # HTTP/JSON API, A2A, MCP; off unless given
      http_cors_origins: [https://console.example.com]  # browser pages of these origins may call it
      http_heartbeat_seconds: 15                    # an SSE comment on a stream idle this long
      lease_seconds: 6                              # PostgreSQL: a replica's lease on a run
      tls:                                          # PEM files, re-read when they change
        cert: /etc/agentmesh/tls/tls.crt            # serve TLS with these...
        key: /etc/agentmesh/tls/tls.key
        client_ca: /etc/agentmesh/tls/ca.crt        # ...demanding client certificates (mTLS)
        ca: /etc/agentmesh/tls/ca.crt               # call agents over TLS, trusting this CA
      auth:                                         # bearer tokens; off when neither is given
        tokens: /etc/agentmesh/auth/tokens.yaml     # static API tokens, stored hashed
        jwt:                                        # OIDC access tokens
          jwks: /etc/agentmesh/auth/jwks.json
          issuer: https://login.example.com/realms/mesh
          audience: agentmesh
          roles_claim: realm_access.roles           # default: roles
        tenant_isolation: true                      # principals see only their own runs
    agents:
      researcher: 127.0.0.1:50061                  # one address
      writer: [10.0.0.5:50063, 10.0.0.6:50063]     # replicas, shared round-robin
      critic:
        addresses: ["dns:///critic.agents.svc.cluster.local:50064"]
      weather:                                      # an A2A agent, by its card (or base) URL
        a2a: https://weather.example.com/.well-known/agent-card.json
        token_file: secrets/weather.token           # optional: Authorization: Bearer <its content>
        tls_ca: certs/weather-ca.pem                # optional: trust this CA for it
    workflows: [my-flows/, more/special.yaml]          # added to the defaults (a `version:` in one is kept)
    prices: {...}; schedules: [...]                 # and agents' limits: see operating.py
    llm: offline                                    # AGENTMESH_LLM for what `agentmesh up` starts

What a gateway knows without a mesh file (which agents, which workflows) is given
by whoever starts it: the command line passes the shipped agents on their default
ports and the shipped workflows. The gateway itself knows no agent by name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from agentmesh.llm import PROVIDERS
from agentmesh.server import DEFAULT_HOST
from agentmesh.tls import ClientTLS, ServerTLS, TLSConfigError
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh_gateway import operating
from agentmesh_gateway.admission import DEFAULT_MAX_RUNS, DEFAULT_MAX_WATCHERS
from agentmesh_gateway.auth import AuthConfig
from agentmesh_gateway.auth.jwt_tokens import JWTSettings
from agentmesh_gateway.pricing import Price
from agentmesh_gateway.remote.endpoint import A2AEndpoint, is_a2a_address
from agentmesh_gateway.store import STORE_SCHEMES
from agentmesh_gateway.throttle import AgentLimits

DEFAULT_PORT = 50051
DEFAULT_STORE = Path(".agentmesh/gateway.db")
T = TypeVar("T")


class ConfigError(ValueError):
    """The mesh file or a flag is wrong; the message says where."""


@dataclass
class GatewayConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: A SQLite file, `sqlite:///PATH`, or `postgresql://…` (see agentmesh_gateway.store.open_store).
    store: str = str(DEFAULT_STORE)
    agents: dict[str, list[str]] = field(default_factory=dict)
    workflow_paths: list[Path] = field(default_factory=list)
    llm: str | None = None
    # Files for TLS, by role: cert/key serve (and are presented to agents that ask), client_ca
    # demands client certificates, ca turns TLS on for calls to agents.
    tls: TLSFiles = field(default_factory=lambda: TLSFiles())
    auth: AuthConfig = field(default_factory=AuthConfig)
    max_runs: int = DEFAULT_MAX_RUNS
    max_watchers: int = DEFAULT_MAX_WATCHERS
    metrics_port: int | None = None
    #: The HTTP port (A2A's JSON-RPC and HTTP+JSON bindings, agent cards, MCP); off unless given.
    http_port: int | None = None
    #: Origins whose browser pages may call the HTTP port (CORS); none unless given.
    http_cors_origins: list[str] = field(default_factory=list)
    #: Seconds an event stream on the HTTP port may stay silent before a heartbeat is sent.
    http_heartbeat_seconds: float = 15.0
    #: With a store shared by replicas: how long a lease on a run lasts unless renewed.
    lease_seconds: float | None = None
    #: Agents' limits (calls in flight, calls a second), model prices, and schedules: see operating.py.
    agent_limits: dict[str, AgentLimits] = field(default_factory=dict)
    prices: dict[str, Price] = field(default_factory=dict)
    schedules: list[pb.Schedule] = field(default_factory=list)

    @property
    def server_tls(self) -> ServerTLS | None:
        try:
            return ServerTLS.from_settings(self.tls.cert, self.tls.key, self.tls.client_ca)
        except TLSConfigError as exc:
            raise ConfigError(f"gateway TLS: {exc}") from None

    @property
    def agent_tls(self) -> ClientTLS | None:
        try:
            return ClientTLS.from_settings(self.tls.ca, self.tls.cert, self.tls.key)
        except TLSConfigError as exc:
            raise ConfigError(f"gateway TLS: {exc}") from None


@dataclass
class TLSFiles:
    cert: str = ""
    key: str = ""
    client_ca: str = ""
    ca: str = ""

    def overlay(self, **values: str) -> TLSFiles:
        """These files, each replaced by the value given for it unless that is empty."""
        return dataclasses.replace(self, **{name: value for name, value in values.items() if value})


def load_config(path: Path | None, defaults: GatewayConfig | None = None) -> GatewayConfig:
    """The mesh file's settings over `defaults` (a copy): its agents replace theirs, its workflows add."""
    config = dataclasses.replace(defaults) if defaults is not None else GatewayConfig()
    config.agents = dict(config.agents)
    config.workflow_paths = list(config.workflow_paths)
    if path is None:
        return config
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read mesh file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the mesh file must be a mapping")
    gateway = _mapping(data.get("gateway", {}), f"{path}: gateway")
    config.host = str(gateway.get("host", config.host))
    config.port = _port(gateway.get("port", config.port), f"{path}: gateway.port")
    if "tls" in gateway:
        tls = _mapping(gateway["tls"] or {}, f"{path}: gateway.tls")
        unknown = set(tls) - {f.name for f in dataclasses.fields(TLSFiles)}
        if unknown:
            raise ConfigError(f"{path}: gateway.tls: unknown setting(s) {', '.join(sorted(unknown))}")
        config.tls = config.tls.overlay(
            **{str(name): str(_relative(path, str(value))) for name, value in tls.items() if value}
        )
    for limit in ("max_runs", "max_watchers"):
        if limit in gateway:
            value = gateway[limit]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{path}: gateway.{limit} must be a whole number of at least 1")
            setattr(config, limit, value)
    if gateway.get("lease_seconds") is not None:
        lease = gateway["lease_seconds"]
        if not isinstance(lease, int | float) or isinstance(lease, bool) or not 0.5 <= lease <= 3600:
            raise ConfigError(f"{path}: gateway.lease_seconds must be a number of seconds, 0.5 to 3600")
        config.lease_seconds = float(lease)
    if gateway.get("metrics_port") is not None:
        config.metrics_port = _port(gateway["metrics_port"], f"{path}: gateway.metrics_port")
    if gateway.get("http_port") is not None:
        config.http_port = _port(gateway["http_port"], f"{path}: gateway.http_port")
    if gateway.get("http_cors_origins") is not None:
        config.http_cors_origins = cors_origins(
            gateway["http_cors_origins"], f"{path}: gateway.http_cors_origins"
        )
    if gateway.get("http_heartbeat_seconds") is not None:
        config.http_heartbeat_seconds = heartbeat_seconds(
            gateway["http_heartbeat_seconds"], f"{path}: gateway.http_heartbeat_seconds"
        )
    if "auth" in gateway:
        config.auth = _auth(path, _mapping(gateway["auth"] or {}, f"{path}: gateway.auth"))
    if "store" in gateway:
        location = store_path(gateway["store"], f"{path}: gateway.store")
        config.store = location if "://" in location else str(_relative(path, location))
    if "agents" in data:
        agents = _mapping(data["agents"], f"{path}: agents")
        config.agents = {
            str(name): _agent(path, value, f"{path}: agents.{name}") for name, value in agents.items()
        }
        config.agent_limits = {}
        for name, value in agents.items():
            limits = (
                _operating(operating.agent_limits, value, f"agents.{name}", path)
                if isinstance(value, dict)
                else None
            )
            if limits is not None:
                config.agent_limits[str(name)] = limits
    if "prices" in data:
        config.prices = _operating(operating.prices, data["prices"], "prices", path)
    if "schedules" in data:
        config.schedules = _operating(operating.schedules, data["schedules"], "schedules", path)
    if "llm" in data:
        if data["llm"] not in PROVIDERS:
            raise ConfigError(f"{path}: llm must be one of {', '.join(PROVIDERS)}")
        config.llm = str(data["llm"])
    if "workflows" in data:
        entries = data["workflows"]
        if not isinstance(entries, list):
            raise ConfigError(f"{path}: workflows must be a list of files or directories")
        config.workflow_paths += [_relative(path, str(entry)) for entry in entries]
    return config


def _operating(parse: Callable[[Any, str], T], value: Any, where: str, path: Path) -> T:
    try:
        return parse(value, where)
    except operating.SettingError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def cors_origins(value: Any, where: str) -> list[str]:
    """Origins as a browser sends them: scheme://host[:port], no path; `*` is not taken (a bearer
    token is no cookie, but an open gateway should not be one flag away from any page)."""
    entries = value if isinstance(value, list) else [value]
    origins = []
    for entry in entries:
        text = str(entry).rstrip("/")
        scheme, sep, rest = text.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
            raise ConfigError(f"{where}: {text!r} is not an origin like https://console.example.com")
        origins.append(text)
    return origins


def heartbeat_seconds(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0.05 <= value <= 3600:
        raise ConfigError(f"{where} must be a number of seconds, 0.05 to 3600")
    return float(value)


def _auth(path: Path, auth: dict[str, Any]) -> AuthConfig:
    where = f"{path}: gateway.auth"
    unknown = set(auth) - {"tokens", "jwt", "tenant_isolation"}
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    tokens = _relative(path, str(auth["tokens"])) if auth.get("tokens") else None
    jwt = None
    if auth.get("jwt"):
        settings = _mapping(auth["jwt"], f"{where}.jwt")
        missing = [name for name in ("jwks", "issuer", "audience") if not settings.get(name)]
        if missing:
            raise ConfigError(f"{where}.jwt: give {', '.join(missing)}")
        jwt = JWTSettings(
            jwks=_relative(path, str(settings["jwks"])),
            issuer=str(settings["issuer"]),
            audience=str(settings["audience"]),
            roles_claim=str(settings.get("roles_claim", "roles")),
        )
    isolation = auth.get("tenant_isolation", False)
    if not isinstance(isolation, bool):
        raise ConfigError(f"{where}.tenant_isolation must be true or false")
    return AuthConfig(tokens=tokens, jwt=jwt, tenant_isolation=isolation)


def store_path(value: object, where: str) -> str:
    """A store file name or URL; an empty or missing one is an error (a null once became a file
    named None), and so is a URL of a kind no store serves."""
    if not isinstance(value, str | Path) or not str(value).strip():
        raise ConfigError(f"{where} must name a file or a postgresql:// URL")
    location = str(value)
    scheme = location.partition("://")[0] if "://" in location else ""
    if scheme and scheme not in STORE_SCHEMES:
        raise ConfigError(
            f"{where}: {scheme}:// is not a store (use a file, sqlite:///PATH or postgresql://)"
        )
    return location


def parse_agent_flag(flag: str) -> tuple[str, list[str]]:
    """`researcher=127.0.0.1:50061,127.0.0.1:50071` → ("researcher", [both addresses])."""
    name, sep, addresses = flag.partition("=")
    if not sep or not name or not addresses:
        raise ConfigError(f"--agent {flag!r}: expected NAME=ADDRESS[,ADDRESS...]")
    return name, [a.strip() for a in addresses.split(",") if a.strip()]


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping")
    return value


_A2A_SETTINGS = frozenset({"a2a", "token_file", "tls_ca"}) | operating.LIMIT_SETTINGS
# `run`: how `agentmesh up` starts the agent (the gateway does not read it).
_AGENT_SETTINGS = frozenset({"addresses", "run"}) | operating.LIMIT_SETTINGS


def _agent(mesh_file: Path, value: Any, where: str) -> list[str]:
    """An agent's addresses; an A2A agent's one address is its card URL with its settings."""
    if isinstance(value, dict) and "a2a" in value:
        return [_a2a_endpoint(mesh_file, value, where)]
    addresses = _addresses(value, where)
    if any(is_a2a_address(a) for a in addresses):
        if len(addresses) != 1:
            raise ConfigError(f"{where}: an A2A agent has one address, its card's URL")
        return [_a2a_endpoint(mesh_file, {"a2a": addresses[0]}, where)]
    return addresses


def _a2a_endpoint(mesh_file: Path, value: dict[str, Any], where: str) -> A2AEndpoint:
    unknown = set(value) - _A2A_SETTINGS
    if unknown:
        names = ", ".join(sorted(map(str, unknown)))
        raise ConfigError(f"{where}: unknown setting(s) {names} for an A2A agent")
    url = value["a2a"]
    if not isinstance(url, str):
        raise ConfigError(f"{where}.a2a: give the URL of the agent's card (or its base URL)")
    files: dict[str, Path | None] = {}
    for setting in ("token_file", "tls_ca"):
        entry = value.get(setting)
        if entry is not None and (not isinstance(entry, str) or not entry):
            raise ConfigError(f"{where}.{setting}: give a file")
        files[setting] = _relative(mesh_file, entry) if entry else None
    ca = files["tls_ca"]
    if ca is not None and not ca.is_file():
        raise ConfigError(f"{where}.tls_ca: {ca} is not a file")
    try:
        return A2AEndpoint(url, token_file=files["token_file"], tls_ca=ca)
    except ValueError as exc:
        raise ConfigError(f"{where}.a2a: {exc}") from None


def _addresses(value: Any, where: str) -> list[str]:
    if isinstance(value, dict):
        unknown = set(value) - _AGENT_SETTINGS
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(map(str, unknown)))}")
        value = value.get("addresses")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(a, str) and a for a in value):
        raise ConfigError(
            f"{where}: give an address, a list of addresses, {{addresses: [...]}}, or {{a2a: CARD_URL}}"
        )
    return list(value)


def _port(value: Any, where: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= 65535:
        raise ConfigError(f"{where} must be a port number")
    return value


def _relative(mesh_file: Path, entry: str) -> Path:
    candidate = Path(entry).expanduser()
    return candidate if candidate.is_absolute() else mesh_file.parent / candidate
