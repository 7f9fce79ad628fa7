package forward

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// checkCertificate reads a PEM file of CAs as the exporter will, which would
// otherwise skip a bad file with a log line and fall back to the system roots.
func checkCertificate(file string) (string, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read CA certificate: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return "", errors.New("no PEM certificate in the file")
	}
	return file, nil
}

// checkClientPair loads a client certificate and key as the exporter will.
// LoadX509KeyPair's errors name files, never key material.
func checkClientPair(certFile, keyFile string) error {
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		return fmt.Errorf("load client certificate: %w", err)
	}
	return nil
}
