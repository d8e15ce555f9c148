package resolver

import "testing"

func TestUnderAny(t *testing.T) {
	domains := []string{"lan.", "168.192.in-addr.arpa."}
	tests := []struct {
		name string
		want bool
	}{
		{"lan.", true},
		{"nas.lan.", true},
		{"a.b.lan.", true},
		{"plan.", false},
		{"nas.plan.", false},
		{"1.168.192.in-addr.arpa.", true},
		{"1.1168.192.in-addr.arpa.", false},
		{"example.com.", false},
		{".", false},
	}
	for _, tt := range tests {
		if got := underAny(tt.name, domains); got != tt.want {
			t.Errorf("underAny(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
