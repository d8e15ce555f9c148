package main

import (
	"fmt"
	"net"
	"os"
)

// notifyReady tells systemd (Type=notify) that dnsward is serving: its
// sockets are bound and privileges dropped. Until then `systemctl start`
// waits, so a failure to bind port 53 fails the start, and the package's
// installer can say what holds the port. Outside systemd it does nothing.
func notifyReady() error {
	socket := os.Getenv("NOTIFY_SOCKET")
	if socket == "" {
		return nil
	}
	// A leading @ names an abstract socket, which Go spells the same way.
	conn, err := net.Dial("unixgram", socket)
	if err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("READY=1")); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	return nil
}
