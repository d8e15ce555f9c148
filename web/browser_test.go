package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromium is Debian's browser, which .ci/run installs.
const chromium = "/usr/bin/chromium"

// tab is a headless Chromium tab driven by a test.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// browser starts headless Chromium for the test; without it the test is
// skipped, except as root (as CI runs it), where that fails it.
func browser(t *testing.T) tab {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Geteuid() != 0 {
			t.Skip("skipped: chromium not installed")
		}
		t.Fatalf("as root this test must run, but %s is missing (.ci/run installs chromium): %v", chromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser, for as long as ctx lives: no
	// timeout on it, only on the steps after.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return tab{t, ctx}
}

// run runs a, failing the test when it errs or takes over 30 s: a page
// that never shows what is awaited fails.
func run[T any](b tab, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// do runs steps in order, as run.
func (b tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	run(b, chromedp.Steps(steps...))
}

// text is the text of the element sel.
func (b tab) text(sel string) string {
	b.t.Helper()
	return run(b, chromedp.Text(sel))
}

// screenshot saves the page as web-name.png under $DNSWARD_ARTIFACTS,
// which CI keeps, or else the test's temporary directory, and says where.
func (b tab) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("DNSWARD_ARTIFACTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	png := run(b, chromedp.FullScreenshot(100))
	path := filepath.Join(dir, "web-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// waitFor waits until the JavaScript expression is true.
func waitFor(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))(ctx, t)
		return err
	})
}

// waitText waits until the element sel's text holds want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return waitFor(`(document.querySelector(` + quote(sel) + `)?.textContent ?? "").includes(` + quote(want) + `)`)
}

// quote is s as a JavaScript string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestBrowser drives the page in headless Chromium against a dnsward on
// loopback: the dashboard's figures, the top lists, the live stream with
// its pause, who is this IP, why is this name blocked, a client's page.
func TestBrowser(t *testing.T) {
	b := browser(t)
	s := startSite(t, flowsYAML)
	for _, name := range []string{"example.test", "example.test", "www.example.test", "ads.example.test"} {
		s.ask(t, name)
	}
	s.firewall(t, "SRC=127.0.0.1 DST=198.51.100.7 PROTO=TCP SPT=40003 DPT=443")

	t.Run("dashboard", func(t *testing.T) {
		b := tab{t, b.ctx}
		b.do(chromedp.Navigate(s.url+"#dashboard"), waitText("#fig-queries", "4"),
			waitFor(`document.querySelectorAll("#chart-qps polyline").length == 1`))
		if q, hit := b.text("#fig-queries"), b.text("#fig-hit"); q != "4" || hit == "0.0 %" || !strings.HasSuffix(hit, " %") {
			t.Errorf("queries %q, hit ratio %q", q, hit)
		}
		b.screenshot("dashboard")
	})

	t.Run("top", func(t *testing.T) {
		b := tab{t, b.ctx}
		b.do(chromedp.Navigate(s.url+"#top"), waitText("#top-blocked", "config"), waitText("#top-clients", "127.0.0.1"),
			waitText("#top-names", "example.test"))
		b.screenshot("top")
	})

	t.Run("stream", func(t *testing.T) {
		b := tab{t, b.ctx}
		b.do(chromedp.Navigate(s.url+"#stream"), waitText("#status", "live"))
		s.ask(t, "mail.example.test")
		b.do(waitText("#stream-rows", "mail.example.test"))
		// Paused, a query is held, not shown, and shown on resume.
		b.do(chromedp.Click("#pause"), waitText("#pause", "Resume"))
		s.ask(t, "two.example.test")
		b.do(waitText("#stream-held", "1 new"))
		if strings.Contains(b.text("#stream-rows"), "two.example.test") {
			t.Errorf("paused, the stream shows two.example.test")
		}
		b.screenshot("stream-paused")
		b.do(chromedp.Click("#pause"), waitText("#stream-rows", "two.example.test"))
	})

	t.Run("who", func(t *testing.T) {
		b := tab{t, b.ctx}
		b.do(chromedp.Navigate(s.url+"#who"), chromedp.SendKeys("#who-addr", "192.0.2.1"), chromedp.Click("#who-go"),
			waitText("#who-rows", "www.example.test"), waitText("#who-rows", "127.0.0.1"))
		b.screenshot("who")
	})

	t.Run("why", func(t *testing.T) {
		b := tab{t, b.ctx}
		b.do(chromedp.Navigate(s.url+"#why"), chromedp.SendKeys("#why-name", "ads.example.test"), chromedp.Click("#why-go"),
			waitText("#why-out", "blocked by"))
		if out, want := b.text("#why-out"), "ads.example.test is blocked by list config, rule ads.example.test"; out != want {
			t.Errorf("why: %q, want %q", out, want)
		}
		b.do(chromedp.SetValue("#why-name", "ok.ads.example.test"), chromedp.Click("#why-go"), waitText("#why-out", "allowed by"))
		if out, want := b.text("#why-out"), "ok.ads.example.test is allowed by list config, rule @@||ok.ads.example.test^"; out != want {
			t.Errorf("why: %q, want %q", out, want)
		}
		b.screenshot("why")
	})

	t.Run("client", func(t *testing.T) {
		b := tab{t, b.ctx}
		b.do(chromedp.Navigate(s.url+"#client/127.0.0.1"), waitText("#client-blocked", "ads.example.test"),
			waitText("#client-recent", "www.example.test"), waitText("#client-flows", "198.51.100.7:443"))
		b.screenshot("client")
	})
}

// TestBrowserCredentials opens a page served with credentials: without
// them Chromium gets no page, with the token it gets the live figures.
func TestBrowserCredentials(t *testing.T) {
	b := browser(t)
	s := startSite(t, "  token: tok3n\n")
	s.ask(t, "example.test")
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Navigate(s.url))
	if err == nil || !strings.Contains(err.Error(), "ERR_INVALID_AUTH_CREDENTIALS") {
		t.Errorf("page without credentials: %v, want ERR_INVALID_AUTH_CREDENTIALS (a 401)", err)
	}
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer tok3n"}})
		return err
	}), chromedp.Navigate(s.url), waitText("#fig-queries", "1"), waitText("#status", "live"))
	b.screenshot("token")
}
