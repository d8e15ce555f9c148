package answers

import (
	"fmt"
	"net"
)

// Device is a client's identity on the LAN at query time: what an address
// alone cannot say once DHCP has moved it to another machine. The zero
// Device means none is known (a client routed from another subnet).
type Device struct {
	// MAC is the client's link-layer address from the neighbour table.
	MAC MAC
	// Host is the client's name from the DHCP leases.
	Host string
}

// IsZero reports whether nothing is known of the device.
func (d Device) IsZero() bool { return d == Device{} }

// MAC is an Ethernet (EUI-48) address, comparable and copied by value so
// that it can sit in map keys on the hot path; the zero MAC means none.
type MAC [6]byte

// MACFrom returns b as a MAC, and false when b is not 6 bytes long or is
// all zeros (what the kernel reports for a neighbour it has not resolved).
func MACFrom(b net.HardwareAddr) (MAC, bool) {
	var m MAC
	if len(b) != len(m) {
		return m, false
	}
	copy(m[:], b)
	return m, !m.IsZero()
}

// ParseMAC reads "aa:bb:cc:dd:ee:ff" (or the other forms net.ParseMAC
// takes) as a MAC.
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return MAC{}, err
	}
	m, ok := MACFrom(hw)
	if !ok {
		return MAC{}, fmt.Errorf("MAC %q: want 6 non-zero bytes", s)
	}
	return m, nil
}

// IsZero reports whether m is the zero MAC.
func (m MAC) IsZero() bool { return m == MAC{} }

// String is the colon-separated lowercase form, or "" for the zero MAC.
func (m MAC) String() string {
	if m.IsZero() {
		return ""
	}
	return net.HardwareAddr(m[:]).String()
}
