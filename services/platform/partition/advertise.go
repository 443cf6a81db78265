package partition

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Advertised is the address a replica registers in its leases (Config.Address), where the
// other replicas dial it: advertise when set, else the address it listens on, which must then
// name one host. A replica listening on every interface (0.0.0.0, [::], an empty host) or
// reached through a translation (NAT, a container's published port) cannot tell which of its
// addresses the others reach: it must be told (--advertise), or the others would dial an
// address that leads nowhere, or to themselves. The error says which and why; it names no flag
// (the caller does).
func Advertised(listen, advertise string) (string, error) {
	if advertise != "" {
		host, port, err := net.SplitHostPort(advertise)
		if err != nil {
			return "", fmt.Errorf("%q is not host:port: %v", advertise, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: the port must be a number in 1..65535 (the one the other replicas dial)", advertise)
		}
		if wildcard(host) {
			return "", fmt.Errorf("%q: the host must be one the other replicas can dial, not a wildcard address", advertise)
		}
		return advertise, nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("the listen address %q is not host:port: %v", listen, err)
	}
	if wildcard(host) {
		return "", fmt.Errorf("required when the listen address %q is every interface: the other replicas forward reads to the address a replica registers, and cannot dial %q; give the host:port they reach this replica at", listen, listen)
	}
	return listen, nil
}

// wildcard reports whether host is empty or an unspecified address (0.0.0.0, ::).
func wildcard(host string) bool {
	if host == "" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}
