package forward

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// certError tells which file failed, so that FromEnv can name the variable.
type certError struct {
	client bool
	err    error
}

func (e *certError) Error() string { return e.err.Error() }
func (e *certError) Unwrap() error { return e.err }

// loadTLS builds the client TLS configuration, or nil for an insecure
// endpoint. It reads the files every time: FromEnv calls it to validate, New
// to use.
func loadTLS(c Config) (*tls.Config, error) {
	if c.Insecure {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CertificateFile != "" {
		pem, err := os.ReadFile(c.CertificateFile)
		if err != nil {
			return nil, &certError{err: fmt.Errorf("read CA certificate: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &certError{err: fmt.Errorf("no PEM certificate in %s", c.CertificateFile)}
		}
		t.RootCAs = pool
	}
	if c.ClientCertificateFile != "" || c.ClientKeyFile != "" {
		if c.ClientCertificateFile == "" || c.ClientKeyFile == "" {
			return nil, &certError{client: true, err: errors.New("client certificate and key must be set together")}
		}
		pair, err := tls.LoadX509KeyPair(c.ClientCertificateFile, c.ClientKeyFile)
		if err != nil {
			// LoadX509KeyPair's errors name files, never key material.
			return nil, &certError{client: true, err: fmt.Errorf("load client certificate: %w", err)}
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}
