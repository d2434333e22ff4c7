package kit

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"

	"google.golang.org/grpc/credentials"
)

// TLSFiles names the PEM files an agent serves TLS with, as every agentmesh runtime reads them:
// --tls-cert/--tls-key (AGENTMESH_TLS_CERT/KEY), and --tls-client-ca (AGENTMESH_TLS_CLIENT_CA)
// to demand client certificates signed by that CA (mutual TLS).
type TLSFiles struct {
	Cert, Key, ClientCA string
}

// Enabled says whether TLS was asked for; Check says whether what was asked is complete.
func (f TLSFiles) Enabled() bool { return f.Cert != "" || f.Key != "" }

// Check refuses half a configuration: a certificate without its key, a client CA without either.
func (f TLSFiles) Check() error {
	switch {
	case !f.Enabled() && f.ClientCA != "":
		return errors.New("a client CA (mutual TLS) needs the server's own certificate and key")
	case f.Enabled() && (f.Cert == "" || f.Key == ""):
		return errors.New("TLS needs both a certificate and its key")
	}
	return nil
}

// Mode is how the listening log line describes the transport: off, on or mutual.
func (f TLSFiles) Mode() string {
	switch {
	case !f.Enabled():
		return "off"
	case f.ClientCA != "":
		return "mutual"
	}
	return "on"
}

// Credentials serve TLS from the files, re-reading them on the first handshake after any of them
// changes (cert-manager renews a Secret; the kubelet swaps the mounted files), without a restart.
// A replacement that does not load (half-written, mid-rotation) is logged and the previous kept.
func (f TLSFiles) Credentials(log *slog.Logger) (credentials.TransportCredentials, error) {
	r := &reloader{files: f, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	config := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.current(), nil
		},
	}
	return credentials.NewTLS(config), nil
}

type reloader struct {
	files  TLSFiles
	log    *slog.Logger
	mu     sync.Mutex
	stamp  string
	config *tls.Config
}

func (r *reloader) stampNow() string {
	var b strings.Builder
	for _, path := range []string{r.files.Cert, r.files.Key, r.files.ClientCA} {
		if info, err := os.Stat(path); err == nil {
			fmt.Fprintf(&b, "%d/%d;", info.ModTime().UnixNano(), info.Size())
		} else {
			b.WriteString("-;")
		}
	}
	return b.String()
}

func (r *reloader) load() error {
	stamp := r.stampNow()
	pair, err := tls.LoadX509KeyPair(r.files.Cert, r.files.Key)
	if err != nil {
		return fmt.Errorf("cannot load the TLS certificate and key: %w", err)
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if r.files.ClientCA != "" {
		pem, err := os.ReadFile(r.files.ClientCA)
		if err != nil {
			return fmt.Errorf("cannot read the client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("the client CA %s holds no PEM certificate", r.files.ClientCA)
		}
		config.ClientCAs = pool
		config.ClientAuth = tls.RequireAndVerifyClientCert
	}
	r.stamp, r.config = stamp, config
	return nil
}

// current is the configuration for a new handshake, reloaded first if a file has changed.
func (r *reloader) current() *tls.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stampNow() != r.stamp {
		previous := r.config
		if err := r.load(); err != nil {
			r.log.Warn("cannot reload the TLS certificate; keeping the previous one", "error", err.Error())
			r.config, r.stamp = previous, r.stampNow()
		} else {
			r.log.Info("reloaded the TLS certificate", "certificate", r.files.Cert)
		}
	}
	return r.config
}

// isLoopback says whether binding host keeps a server to this machine.
func isLoopback(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
