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

	"github.com/dnsward/dnsward/testserver"
)

func main() {
	plain := flag.String("plain", "127.0.0.1:5300", "plain DNS listen `address`")
	crypt := flag.String("dnscrypt", "127.0.0.1:5443", "DNSCrypt listen `address`")
	delay := flag.Duration("delay", 0, "delay before every answer, modelling a distant resolver")
	keyCache := flag.Bool("key-cache", false, "serve DNSCrypt over UDP with each client's shared key computed once, as production resolvers do")
	flag.Parse()
	opts := testserver.Options{PlainAddr: *plain, CryptAddr: *crypt, Delay: *delay, KeyCache: *keyCache}
	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "dnscrypt-testserver:", err)
		os.Exit(1)
	}
}

func run(opts testserver.Options) error {
	s, err := testserver.Start(opts)
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
