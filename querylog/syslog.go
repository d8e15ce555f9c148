package querylog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dnsward/dnsward/internal/interrupt"
)

const (
	// syslogPri is facility daemon, severity info.
	syslogPri    = "<30>1 "
	syslogMsgID  = "query"
	dialTimeout  = 10 * time.Second
	writeTimeout = 30 * time.Second
	// streamSettle: see collector.settle.
	streamSettle = 2 * time.Second
	// udpSettle keeps datagrams replayable until the kernel has had time
	// to say they were lost: an ICMP error, reported on a later read or
	// write of the connected socket, comes a round trip later when the
	// port is closed, and about 3 s later (ARP giving up) when the
	// collector's host is down on the LAN.
	udpSettle = 5 * time.Second
	// udpFinishWait is how long shutdown waits for a port-unreachable
	// error before counting the last datagrams delivered: many LAN round
	// trips, and short enough not to slow a restart.
	udpFinishWait = 100 * time.Millisecond
	// udpMax keeps a datagram within the UDP limit; RFC 5426 allows
	// truncation, and a record this large is a pathological TXT answer.
	udpMax = 65000
)

// syslogTransport sends RFC 5424 messages over UDP, or over TCP or TLS with
// RFC 6587 octet counting so that a payload can never break framing.
type syslogTransport struct {
	cfg    SyslogConfig
	tls    *tls.Config
	header string // " HOSTNAME APP-NAME PROCID MSGID - "
	conn   net.Conn
	msg    []byte
	out    []byte
}

func newSyslog(cfg SyslogConfig) (*syslogTransport, error) {
	t := &syslogTransport{cfg: cfg}
	if cfg.Network == "tls" {
		host, _, _ := net.SplitHostPort(cfg.Address)
		conf, err := tlsConfig(host, cfg.CAFile, cfg.InsecureSkipVerify)
		if err != nil {
			return nil, err
		}
		t.tls = conf
	}
	host, app := cfg.Hostname, cfg.AppName
	if host == "" {
		host, _ = os.Hostname()
		if host == "" || !printableASCII(host) {
			host = "-"
		}
	}
	if app == "" {
		app = "dnsward"
	}
	t.header = " " + host + " " + app + " " + strconv.Itoa(os.Getpid()) + " " + syslogMsgID + " - "
	return t, nil
}

// syslogName is the stable name of a collector, also its spool directory.
func syslogName(c SyslogConfig) string {
	return "syslog-" + c.Network + "-" + sanitize(c.Address)
}

func (t *syslogTransport) dial(ctx context.Context) error {
	d := &net.Dialer{Timeout: dialTimeout}
	var err error
	switch t.cfg.Network {
	case "tls":
		t.conn, err = (&tls.Dialer{NetDialer: d, Config: t.tls}).DialContext(ctx, "tcp", t.cfg.Address)
	default:
		t.conn, err = d.DialContext(ctx, t.cfg.Network, t.cfg.Address)
	}
	if err != nil {
		return fmt.Errorf("syslog %s dial: %w", t.cfg.Network, err)
	}
	return nil
}

func (t *syslogTransport) send(ctx context.Context, lines [][]byte) error {
	if t.conn == nil {
		if err := t.dial(ctx); err != nil {
			return err
		}
	}
	conn := t.conn
	conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	defer interrupt.On(ctx, conn.SetWriteDeadline)()
	t.out = t.out[:0]
	for _, line := range lines {
		ts, payload := cutSpoolLine(line)
		t.msg = append(t.msg[:0], syslogPri...)
		t.msg = appendTS(t.msg, ts, 6) // RFC 5424: at most six fractional digits
		t.msg = append(t.msg, t.header...)
		t.msg = append(t.msg, payload...)
		if t.cfg.Network == "udp" {
			if _, err := conn.Write(t.msg[:min(len(t.msg), udpMax)]); err != nil {
				return fmt.Errorf("syslog udp write: %w", err)
			}
			continue
		}
		t.out = strconv.AppendInt(t.out, int64(len(t.msg)), 10)
		t.out = append(t.out, ' ')
		t.out = append(t.out, t.msg...)
	}
	if len(t.out) > 0 {
		if _, err := conn.Write(t.out); err != nil {
			return fmt.Errorf("syslog %s write: %w", t.cfg.Network, err)
		}
	}
	return nil
}

// check finds out whether the receiver went away (EOF, a reset, or over
// UDP an ICMP unreachable) and may not have read what was sent.
func (t *syslogTransport) check() error {
	if t.conn == nil {
		return errors.New("syslog: not connected")
	}
	if err := connAlive(t.conn); err != nil {
		return fmt.Errorf("syslog: connection lost: %w", err)
	}
	return nil
}

// connAlive reads with a tiny deadline from a connection whose receiver
// is not expected to talk: a timeout means it is still open, EOF or an
// error that it is gone. Bytes a receiver does send are ignored.
func connAlive(conn net.Conn) error {
	conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [1]byte
	_, err := conn.Read(b[:])
	if ne, ok := err.(net.Error); err == nil || ok && ne.Timeout() {
		return nil
	}
	return err
}

// finish half-closes and waits for the receiver to close in turn, which it
// does only after reading everything.
func (t *syslogTransport) finish(ctx context.Context) error {
	if t.cfg.Network == "udp" {
		if !sleep(ctx, udpFinishWait) {
			return ctx.Err()
		}
		return t.check()
	}
	if t.conn == nil {
		return errors.New("syslog: not connected")
	}
	if cw, ok := t.conn.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			return fmt.Errorf("syslog: close write: %w", err)
		}
	}
	deadline, _ := ctx.Deadline()
	t.conn.SetReadDeadline(deadline)
	if _, err := io.Copy(io.Discard, t.conn); err != nil {
		return fmt.Errorf("syslog: waiting for receiver to close: %w", err)
	}
	return nil
}

func (t *syslogTransport) close() {
	if t.conn != nil {
		t.conn.Close()
		t.conn = nil
	}
}

// sanitize makes a collector address usable as a directory name.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, s)
}
