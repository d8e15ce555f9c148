// Command dnscrypt-testserver serves dnsward's synthetic test zone over
// plain DNS and DNSCrypt on loopback and prints the DNSCrypt stamp, so the
// whole path can be run with no internet.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dnsward/dnsward/testserver"
)

func main() {
	plain := flag.String("plain", "127.0.0.1:5300", "plain DNS listen `address`")
	crypt := flag.String("dnscrypt", "127.0.0.1:5443", "DNSCrypt listen `address`")
	delay := flag.Duration("delay", 0, "delay before every answer, modelling a distant resolver")
	flag.Parse()
	if err := run(*plain, *crypt, *delay); err != nil {
		fmt.Fprintln(os.Stderr, "dnscrypt-testserver:", err)
		os.Exit(1)
	}
}

func run(plain, crypt string, delay time.Duration) error {
	s, err := testserver.Start(testserver.Options{PlainAddr: plain, CryptAddr: crypt, Delay: delay})
	if err != nil {
		return err
	}
	// The stamp alone on the first line, for scripts to read.
	fmt.Println(s.Stamp)
	fmt.Fprintf(os.Stderr, "serving zone %s: plain DNS on %s, DNSCrypt on %s\n", testserver.Zone, s.PlainAddr, s.CryptAddr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	return s.Close()
}
