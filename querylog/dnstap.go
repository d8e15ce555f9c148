package querylog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/dnsward/dnsward/internal/interrupt"
	framestream "github.com/farsightsec/golang-framestream"
)

// dnstapContentType is the Frame Streams content type every dnstap reader
// asks for.
const dnstapContentType = "protobuf:dnstap.Dnstap"

// dnstapTransport sends dnstap messages as Frame Streams data frames: over a
// Unix or TCP socket after the bidirectional handshake (READY, ACCEPT,
// START; STOP and FINISH at shutdown), or appended to a Frame Streams file.
type dnstapTransport struct {
	cfg DnstapConfig
	// tail is the identity and version, protobuf-encoded: appending it to
	// a spooled message sets those fields (protobuf merges concatenated
	// messages), so the spool holds one encoding for every receiver.
	tail []byte
	conn net.Conn
	w    *framestream.Writer // the handshake's writer, for STOP and FINISH
	file *os.File
	out  []byte
	// rotate asks the collector's goroutine, the file's only user, to end
	// the file and open its path afresh (Logger.Reopen, after logrotate).
	rotate atomic.Bool
}

func newDnstap(cfg DnstapConfig) (*dnstapTransport, error) {
	tail, err := marshalPartial(&dnstap.Dnstap{Identity: []byte(cfg.Identity), Version: []byte(cfg.Version)})
	if err != nil {
		return nil, err
	}
	t := &dnstapTransport{cfg: cfg, tail: tail}
	if cfg.Network == "file" {
		// Opened now, so that a file that cannot be written or is not
		// dnstap fails the start.
		if err := t.open(context.Background()); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// dnstapName is the stable name of a receiver, also its spool directory.
func dnstapName(c DnstapConfig) string {
	return "dnstap-" + c.Network + "-" + sanitize(c.Address)
}

// dnstapSettle is how long sent frames stay replayable: over a socket, as
// for any stream (see collector.settle); for a file, until the check's
// fsync, about as often as the logger syncs its own file.
func dnstapSettle(network string) time.Duration {
	if network == "file" {
		return syncEvery
	}
	return streamSettle
}

func (t *dnstapTransport) open(ctx context.Context) error {
	if t.cfg.Network == "file" {
		f, err := openTapFile(t.cfg.Address)
		if err != nil {
			return fmt.Errorf("dnstap file: %w", err)
		}
		t.file = f
		return nil
	}
	conn, err := (&net.Dialer{Timeout: dialTimeout}).DialContext(ctx, t.cfg.Network, t.cfg.Address)
	if err != nil {
		return fmt.Errorf("dnstap %s dial: %w", t.cfg.Network, err)
	}
	conn.SetDeadline(time.Now().Add(dialTimeout))
	defer interrupt.On(ctx, conn.SetDeadline)()
	w, err := framestream.NewWriter(conn, &framestream.WriterOptions{
		ContentTypes:  [][]byte{[]byte(dnstapContentType)},
		Bidirectional: true,
	})
	if err != nil {
		conn.Close()
		return fmt.Errorf("dnstap %s handshake: %w", t.cfg.Network, err)
	}
	conn.SetDeadline(time.Time{})
	t.conn, t.w = conn, w
	return nil
}

// openTapFile opens path to append frames: a new or empty file gets the
// START frame; an existing one must be a dnstap Frame Streams file, and
// loses the STOP frame a clean shutdown left, so that it stays one stream
// across restarts.
func openTapFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	if err := resumeTapFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func resumeTapFile(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() == 0 {
		start := framestream.ControlStart
		start.SetContentType([]byte(dnstapContentType))
		return start.Encode(f)
	}
	_, err = framestream.NewReader(io.NewSectionReader(f, 0, st.Size()),
		&framestream.ReaderOptions{ContentTypes: [][]byte{[]byte(dnstapContentType)}})
	if err != nil {
		return fmt.Errorf("not a %s Frame Streams file: %w", dnstapContentType, err)
	}
	var stop bytes.Buffer
	framestream.ControlStop.Encode(&stop)
	end := make([]byte, stop.Len())
	if _, err := f.ReadAt(end, st.Size()-int64(len(end))); err == nil && bytes.Equal(end, stop.Bytes()) {
		return f.Truncate(st.Size() - int64(len(end)))
	}
	return nil
}

// reopen has the next send end the file and start a new one at its path.
func (t *dnstapTransport) reopen() { t.rotate.Store(true) }

// reopenFile ends the file with STOP, so that the rotated file is a whole
// stream, and opens the path afresh.
func (t *dnstapTransport) reopenFile() error {
	f := t.file
	t.file = nil
	err := framestream.ControlStop.Encode(f)
	if err == nil {
		err = fsync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dnstap file: ending it for reopening: %w", err)
	}
	return nil
}

func (t *dnstapTransport) send(ctx context.Context, lines [][]byte) error {
	if t.rotate.Swap(false) && t.file != nil {
		if err := t.reopenFile(); err != nil {
			return err
		}
	}
	if t.conn == nil && t.file == nil {
		if err := t.open(ctx); err != nil {
			return err
		}
	}
	t.out = t.out[:0]
	for _, line := range lines {
		_, payload := cutSpoolLine(line)
		at := len(t.out)
		out, err := base64.StdEncoding.AppendDecode(append(t.out, 0, 0, 0, 0), payload)
		if err != nil {
			continue // not written by appendTapLine: nothing to send
		}
		t.out = append(out, t.tail...)
		binary.BigEndian.PutUint32(t.out[at:], uint32(len(t.out)-at-4))
	}
	if t.file != nil {
		if _, err := t.file.Write(t.out); err != nil {
			return fmt.Errorf("dnstap file write: %w", err)
		}
		return nil
	}
	conn := t.conn
	conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	defer interrupt.On(ctx, conn.SetWriteDeadline)()
	if _, err := conn.Write(t.out); err != nil {
		return fmt.Errorf("dnstap %s write: %w", t.cfg.Network, err)
	}
	return nil
}

// check syncs the file, or makes sure the receiver has not gone away:
// after the handshake it sends nothing until FINISH.
func (t *dnstapTransport) check() error {
	switch {
	case t.file != nil:
		if err := fsync(t.file); err != nil {
			return fmt.Errorf("dnstap file sync: %w", err)
		}
		return nil
	case t.conn == nil:
		return errors.New("dnstap: not connected")
	}
	if err := connAlive(t.conn); err != nil {
		return fmt.Errorf("dnstap: connection lost: %w", err)
	}
	return nil
}

// finish sends STOP and waits for the receiver's FINISH, which it sends
// only after reading every frame before the STOP.
func (t *dnstapTransport) finish(ctx context.Context) error {
	if t.file != nil || t.conn == nil {
		return t.check()
	}
	deadline, _ := ctx.Deadline()
	t.conn.SetDeadline(deadline)
	err := t.w.Close()
	t.conn.Close()
	t.conn, t.w = nil, nil
	if err != nil {
		return fmt.Errorf("dnstap: waiting for FINISH: %w", err)
	}
	return nil
}

// close ends a file with STOP, so that it reads as complete, and drops a
// connection.
func (t *dnstapTransport) close() {
	if t.file != nil {
		framestream.ControlStop.Encode(t.file)
		t.file.Close()
		t.file = nil
	}
	if t.conn != nil {
		t.conn.Close()
		t.conn, t.w = nil, nil
	}
}
