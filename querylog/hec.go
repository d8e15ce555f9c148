package querylog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const hecPath = "/services/collector/event"

// hecTransport posts batches of events to a Splunk HTTP Event Collector;
// a 2xx response acknowledges the whole batch.
type hecTransport struct {
	url    string
	auth   string
	meta   []byte // trailing `,"sourcetype":…,"index":…`
	client *http.Client
	body   []byte
}

func newHEC(cfg HECConfig) (*hecTransport, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("URL: %w", err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = hecPath
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if u.Scheme == "https" {
		if tr.TLSClientConfig, err = tlsConfig(u.Hostname(), cfg.CAFile, cfg.InsecureSkipVerify); err != nil {
			return nil, err
		}
	}
	t := &hecTransport{
		url:    u.String(),
		auth:   "Splunk " + cfg.Token,
		client: &http.Client{Transport: tr, Timeout: writeTimeout},
	}
	if cfg.Sourcetype != "" {
		t.meta = append(t.meta, `,"sourcetype":`...)
		t.meta = appendJSONString(t.meta, cfg.Sourcetype)
	}
	if cfg.Index != "" {
		t.meta = append(t.meta, `,"index":`...)
		t.meta = appendJSONString(t.meta, cfg.Index)
	}
	return t, nil
}

// hecName is the stable name of a collector, also its spool directory.
func hecName(c HECConfig) string {
	name := "hec-" + c.URL
	if c.Index != "" {
		name += "-" + c.Index
	}
	return sanitize(name)
}

func (t *hecTransport) send(ctx context.Context, lines [][]byte) error {
	t.body = t.body[:0]
	for _, line := range lines {
		ts, payload := cutSpoolLine(line)
		t.body = append(t.body, `{"time":`...)
		t.body = appendEpoch(t.body, ts)
		t.body = append(t.body, `,"event":`...)
		t.body = append(t.body, payload...)
		t.body = append(t.body, t.meta...)
		t.body = append(t.body, "}\n"...)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(t.body))
	if err != nil {
		return fmt.Errorf("hec: %w", err)
	}
	req.Header.Set("Authorization", t.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("hec: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("hec: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// check and finish have nothing to do: a 2xx response is the receipt.
func (t *hecTransport) check() error                 { return nil }
func (t *hecTransport) finish(context.Context) error { return nil }
func (t *hecTransport) close()                       { t.client.CloseIdleConnections() }

// appendEpoch writes seconds with microseconds, the form HEC's time takes.
func appendEpoch(b []byte, ts time.Time) []byte {
	b = strconv.AppendInt(b, ts.Unix(), 10)
	us := ts.Nanosecond() / 1000
	b = append(b, '.')
	for d := 100000; d > 0; d /= 10 {
		b = append(b, byte('0'+us/d%10))
	}
	return b
}
