package feedback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Where notifications may go (SSRF guard). A notification target is a URL that hr types in; the
// feedback service posts to it from inside the operator's network. Unless the operator allows
// it, voix refuses to post to loopback, link-local (the cloud metadata service at
// 169.254.169.254 among them), private, shared (100.64.0.0/10), unspecified and multicast
// addresses, and to the metadata host names. The rule is checked twice: when a target is set
// (an IP literal or a name that resolves there is InvalidArgument on target.url), and on every
// connection, on the address actually dialled, so that a name that resolved to a public
// address at SetNotificationTarget and to an internal one later (DNS rebinding) is still
// refused. Proxies from the environment are not used: a proxy would dial in our place.

// errEgressRefused marks a connection the guard refused.
var errEgressRefused = errors.New("address refused by the notification egress rule")

// blocked are the ranges refused unless allowed.
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// metadataHosts are names of cloud metadata services, refused by name too.
var metadataHosts = map[string]bool{"metadata.google.internal": true, "metadata": true, "metadata.azure.internal": true}

// egress is the operator's allow-list: addresses, ranges and host names that notifications
// may reach although the rule above refuses them.
type egress struct {
	prefixes []netip.Prefix
	hosts    map[string]bool
}

// parseEgress reads NotifyConfig.Allow: each entry an IP ("127.0.0.1"), a CIDR range
// ("10.20.0.0/16") or a host name ("hooks.internal", matched exactly, case-insensitively).
func parseEgress(allow []string) (egress, error) {
	e := egress{hosts: map[string]bool{}}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
			continue
		case strings.Contains(a, "/"):
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return egress{}, fmt.Errorf("notify allow-list entry %q: %v", a, err)
			}
			e.prefixes = append(e.prefixes, p.Masked())
		default:
			if ip, err := netip.ParseAddr(a); err == nil {
				ip = ip.Unmap()
				e.prefixes = append(e.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
				continue
			}
			e.hosts[strings.ToLower(strings.TrimSuffix(a, "."))] = true
		}
	}
	return e, nil
}

// addrAllowed says whether ip may be dialled, and if not, the rule it breaks.
func (e egress) addrAllowed(ip netip.Addr) (bool, string) {
	ip = ip.Unmap()
	for _, p := range e.prefixes {
		if p.Contains(ip) {
			return true, ""
		}
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false, fmt.Sprintf("must not point to a loopback, link-local, private, shared, multicast or metadata address (%s is in %s) unless the operator allows it (--notify-allow)", ip, p)
		}
	}
	return true, ""
}

// hostAllowed says whether host (a name or an IP literal, from a URL) may be used as given,
// and if not, the rule; a name that is allowed by name skips the address check.
func (e egress) hostAllowed(host string) (byName bool, ok bool, rule string) {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if e.hosts[h] {
		return true, true, ""
	}
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		ok, rule := e.addrAllowed(ip)
		return false, ok, rule
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || metadataHosts[h] {
		return false, false, fmt.Sprintf("must not point to %s, a loopback or metadata host, unless the operator allows it (--notify-allow)", h)
	}
	return false, true, ""
}

// checkURLHost is the check at SetNotificationTarget: the host as written, then the addresses
// it resolves to now (a name that does not resolve yet passes: the dial-time check applies).
func (e egress) checkURLHost(ctx context.Context, host string) (bool, string) {
	byName, ok, rule := e.hostAllowed(host)
	if byName || !ok {
		return ok, rule
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return true, ""
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return true, ""
	}
	for _, a := range addrs {
		if ok, rule := e.addrAllowed(a); !ok {
			return false, rule
		}
	}
	return true, ""
}

// client is the http.Client that posts notifications: every connection's remote address is
// checked when it is dialled, after name resolution.
func (e egress) client(timeout time.Duration) *http.Client {
	guarded := &net.Dialer{
		Timeout: timeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", errEgressRefused, address)
			}
			if ok, _ := e.addrAllowed(ap.Addr()); !ok {
				return fmt.Errorf("%w: %s", errEgressRefused, ap.Addr())
			}
			return nil
		},
	}
	plain := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			byName, ok, _ := e.hostAllowed(host)
			switch {
			case byName:
				return plain.DialContext(ctx, network, addr)
			case !ok:
				return nil, fmt.Errorf("%w: %s", errEgressRefused, host)
			}
			return guarded.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Timeout:       timeout,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
