package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseFlagsRejectsBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the error; "" for accepted input
	}{
		{nil, ""},
		{[]string{"-quick"}, ""},
		{[]string{"-delay", "0"}, "-delay 0s: must be positive"},
		{[]string{"-delay", "-5ms"}, "-delay -5ms: must be positive"},
		{[]string{"-timeout", "0"}, "-timeout 0s: must be positive"},
		{[]string{"-timeout", "-1m"}, "-timeout -1m0s: must be positive"},
		{[]string{"-hot", "5"}, "at least 20"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("rejected: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}
