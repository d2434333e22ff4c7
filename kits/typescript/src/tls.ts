// TLS for an agent's server from PEM files, as every agentmesh runtime reads them: --tls-cert and
// --tls-key (AGENTMESH_TLS_CERT/KEY), and --tls-client-ca (AGENTMESH_TLS_CLIENT_CA) to demand
// client certificates signed by that CA (mutual TLS). The files are re-read when they change
// (cert-manager renews a Secret and the kubelet swaps the mounted files), without a restart.
//
// grpc-js's own FileWatcherCertificateProvider re-reads on a timer too, but a missing or broken
// file there withdraws the credentials and the server drops every new connection; this provider
// checks a replacement with node:tls first and keeps the previous pair if it does not load.
import { readFileSync, statSync } from "node:fs";
import { createSecureContext } from "node:tls";

import * as grpc from "@grpc/grpc-js";
import { experimental } from "@grpc/grpc-js";

import type { Logger } from "./log.js";

export interface TlsFiles {
  cert?: string | undefined;
  key?: string | undefined;
  clientCa?: string | undefined;
}

/** Why the files cannot serve (half a configuration), or undefined if they can or TLS is off. */
export function tlsProblem(files: TlsFiles): string | undefined {
  const enabled = Boolean(files.cert) || Boolean(files.key);
  if (!enabled && files.clientCa) {
    return "a client CA (mutual TLS) needs the server's own certificate and key";
  }
  if (enabled && (!files.cert || !files.key)) {
    return "TLS needs both a certificate and its key";
  }
  return undefined;
}

/** How the listening log line describes the transport. */
export function tlsMode(files: TlsFiles): "off" | "on" | "mutual" {
  if (!files.cert) {
    return "off";
  }
  return files.clientCa ? "mutual" : "on";
}

interface Loaded {
  stamp: string;
  identity: experimental.IdentityCertificateUpdate;
  ca: experimental.CaCertificateUpdate | null;
}

/** Reads the files now (throwing if they do not make a TLS context), then every `pollMs`. */
class ReloadingFiles implements experimental.CertificateProvider {
  private loaded: Loaded;
  private readonly identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  private readonly caListeners = new Set<experimental.CaCertificateUpdateListener>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly files: Required<Pick<TlsFiles, "cert" | "key">> & TlsFiles,
    private readonly log: Logger,
    private readonly pollMs: number,
  ) {
    this.loaded = this.load();
  }

  private stamp(): string {
    return [this.files.cert, this.files.key, this.files.clientCa]
      .map((path) => {
        if (!path) {
          return "-";
        }
        try {
          const stat = statSync(path, { bigint: true });
          return `${String(stat.mtimeNs)}/${String(stat.size)}`;
        } catch {
          return "missing";
        }
      })
      .join(";");
  }

  private load(): Loaded {
    const stamp = this.stamp();
    const certificate = readFileSync(this.files.cert);
    const privateKey = readFileSync(this.files.key);
    const caCertificate = this.files.clientCa ? readFileSync(this.files.clientCa) : undefined;
    // Throws on a key that does not match its certificate, or anything that is not PEM.
    createSecureContext({ cert: certificate, key: privateKey, ca: caCertificate });
    return { stamp, identity: { certificate, privateKey }, ca: caCertificate ? { caCertificate } : null };
  }

  private poll(): void {
    if (this.stamp() === this.loaded.stamp) {
      return;
    }
    try {
      this.loaded = this.load();
    } catch (error) {
      this.log.warning("cannot reload the TLS certificate; keeping the previous one", {
        error: error instanceof Error ? error.message : String(error),
      });
      this.loaded = { ...this.loaded, stamp: this.stamp() };
      return;
    }
    this.log.info("reloaded the TLS certificate", { certificate: this.files.cert });
    for (const listener of this.identityListeners) {
      listener(this.loaded.identity);
    }
    for (const listener of this.caListeners) {
      listener(this.loaded.ca);
    }
  }

  private watch(): void {
    if (this.timer === undefined) {
      this.timer = setInterval(() => {
        this.poll();
      }, this.pollMs);
      this.timer.unref();
    }
  }

  private unwatch(): void {
    if (this.identityListeners.size === 0 && this.caListeners.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  // grpc-js reads the credentials' first options before it adds its own watcher, so the first
  // update has to come on a later tick (as its own providers do).
  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    this.watch();
    process.nextTick(listener, this.loaded.identity);
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
    this.unwatch();
  }

  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    this.watch();
    process.nextTick(listener, this.loaded.ca);
  }

  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
    this.unwatch();
  }
}

/** How often the files are looked at for a renewal. */
export const TLS_POLL_MS = 1000;

/**
 * Server credentials from the files: TLS, or mutual TLS with a client CA. Throws at once if the
 * files cannot be read or do not make a TLS context; later replacements are picked up live.
 */
export function serverCredentials(files: TlsFiles, log: Logger, pollMs = TLS_POLL_MS): grpc.ServerCredentials {
  if (!files.cert || !files.key) {
    return grpc.ServerCredentials.createInsecure();
  }
  const provider = new ReloadingFiles({ ...files, cert: files.cert, key: files.key }, log, pollMs);
  // grpc-js names this function's parameters the wrong way round: the first is the identity
  // (certificate and key) provider, the second the CA provider (null: no client certificates).
  return experimental.createCertificateProviderServerCredentials(provider, files.clientCa ? provider : null, Boolean(files.clientCa));
}

/** Whether binding `host` keeps a server to this machine. */
export function isLoopback(host: string): boolean {
  const name = host.replace(/^\[|\]$/g, "").toLowerCase();
  return name === "localhost" || name === "::1" || /^127\./.test(name);
}
