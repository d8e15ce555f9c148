package config

import (
	"fmt"
	"net"
	"net/netip"
)

// Web is the read-only web page and its JSON API.
type Web struct {
	// Listen is host:port for the page; empty turns it off. On an address
	// other than loopback it needs PasswordHash or Token.
	Listen string `mapstructure:"listen"`
	// User is the name the browser's login asks for with PasswordHash.
	User string `mapstructure:"user"`
	// PasswordHash is a bcrypt hash (htpasswd -nbB) of User's password,
	// checked on HTTP basic authentication; never a password itself.
	PasswordHash string `mapstructure:"password_hash"`
	// Token is a bearer token for scripts (Authorization: Bearer TOKEN).
	Token string `mapstructure:"token"`
}

// HasCredentials says whether the page asks who is there.
func (w Web) HasCredentials() bool { return w.PasswordHash != "" || w.Token != "" }

// validateWeb checks the web section: an address that is not loopback is
// served only with credentials, as anyone on the network could read it.
func (c *Config) validateWeb() []Problem {
	w := c.Web
	if w.Listen == "" {
		return nil
	}
	if err := checkListen(w.Listen); err != nil {
		return []Problem{{"web.listen", err}}
	}
	var ps []Problem
	if !LoopbackListen(w.Listen) && !w.HasCredentials() {
		ps = append(ps, Problem{"web.listen", fmt.Errorf("%q is not a loopback address: set web.password_hash (with web.user) or web.token, or listen on 127.0.0.1 or [::1]", w.Listen)})
	}
	if w.PasswordHash != "" && w.User == "" {
		ps = append(ps, Problem{"web.password_hash", fmt.Errorf("needs web.user, the user name it is for")})
	}
	return ps
}

// LoopbackListen says whether addr, a host:port checkListen accepted,
// listens on a loopback address only; an empty host is every address.
func LoopbackListen(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
