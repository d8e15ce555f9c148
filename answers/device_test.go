package answers

import "testing"

func TestParseMAC(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"AA:BB:CC:DD:EE:01", "aa:bb:cc:dd:ee:01", true},
		{"aa-bb-cc-dd-ee-02", "aa:bb:cc:dd:ee:02", true},
		{"00:00:00:00:00:00", "", false},                   // what an unresolved neighbour shows
		{"00:00:00:00:fe:80:00:00:00:00:00:00", "", false}, // EUI-64: not a device MAC here
		{"laptop", "", false},
	} {
		m, err := ParseMAC(tc.in)
		if (err == nil) != tc.ok || m.String() != tc.want {
			t.Errorf("ParseMAC(%q) = %q, %v; want %q, ok %v", tc.in, m, err, tc.want, tc.ok)
		}
	}
	if !(Device{}).IsZero() || (Device{Host: "laptop"}).IsZero() {
		t.Error("Device.IsZero")
	}
}
