package querylog

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The fast JSON decoder reads what encoding/json reads, and leaves to it
// whatever it does not handle.
func TestParseFlatJSON(t *testing.T) {
	golden := `{"v":1,"ts":"2026-11-23T09:30:00.123456789Z","qid":"5f1c0a9b3e2d-1a","proto":"udp","client":"10.0.0.5","client_port":51334,"client_mac":"aa:bb:cc:dd:ee:ff","client_host":"laptop","qname":"www.shop.example","qtype":"A","rcode":"NOERROR","source":"upstream","upstream":"9.9.9.9:53","latency_us":1234,"name":"shop.cdn.example","type":"A","data":"192.0.2.1","ttl":20,"chain":["www.shop.example","shop.cdn.example"]}`
	tests := []struct {
		line string
		fast bool // the fast decoder takes it
	}{
		{golden, true},
		{` { "v" : 1 , "qname" : "é.example" , "chain" : [ "a" , "b" ] , "extra" : "x" } `, true},
		{`{"v":1,"chain":[]}`, true},
		{`{"v":1,"qname":"a\"b"}`, false},              // escape
		{`{"v":1,"qname":"bad` + "\xff" + `"}`, false}, // invalid UTF-8: encoding/json replaces it
		{`{"v":1,"extra":{"a":1}}`, false},             // nested
		{`{"v":1,"extra":true}`, false},                // not a string or an integer
		{`{"v":1,"upstream":null}`, false},
		{`{"v":"1"}`, false},   // a string where an integer belongs
		{`{"v":1.5}`, false},   // not an integer
		{`{"qname":5}`, false}, // an integer where a string belongs
		{`{"v":1,}`, false},    // trailing comma
		{`{"v":1} x`, false},   // trailing garbage
		{`{}`, false},
		{`{"v":1,"client":""}`, true},
		{`{"v":1,"client_port":70000}`, false}, // out of range
	}
	for _, tc := range tests {
		var fast Record
		ok := parseFlatJSON([]byte(strings.TrimSpace(tc.line)), &fast)
		if ok != tc.fast {
			t.Errorf("%s: fast decoder took it: %v, want %v", tc.line, ok, tc.fast)
		}
		if !ok {
			continue
		}
		var std Record
		if err := json.Unmarshal([]byte(tc.line), &std); err != nil {
			t.Errorf("%s: encoding/json: %v", tc.line, err)
		} else if !reflect.DeepEqual(fast, std) {
			t.Errorf("%s:\nfast %+v\n std %+v", tc.line, fast, std)
		}
	}
}

func TestFinder(t *testing.T) {
	hay := []byte(`{"ts":"2026-11-23T09:30:00.123456789Z","client":"192.0.2.17","qname":"WWW.Shop.example","data":"192.0.2.1"}` + "\n")
	for _, tc := range []struct {
		needle string
		want   int
	}{
		{"192.0.2.1", bytes.Index(hay, []byte("192.0.2.1"))},
		{`"192.0.2.1"`, bytes.Index(hay, []byte(`"192.0.2.1"`))},
		{"}\n", len(hay) - 2},
		{"\n", len(hay) - 1},
		{"192.0.2.2", -1},
		{"2026", 7},
		{"shop.example", bytes.Index(hay, []byte("Shop.example"))},
		{"www.shop", bytes.Index(hay, []byte("WWW.Shop"))},
		{"w", bytes.Index(hay, []byte("W"))},
		{"shop.examplf", -1},
		{"@", -1}, // not '`' nor any byte that differs from it in bit 5
	} {
		f := newFinder([]byte(tc.needle))
		lower := bytes.ToLower(hay)
		for start := range hay {
			want := bytes.Index(lower[start:], []byte(tc.needle))
			if got := f.index(hay[start:]); got != want {
				t.Fatalf("%q from %d: %d, want %d", tc.needle, start, got, want)
			}
		}
		if got := f.index(hay); got != tc.want {
			t.Errorf("%q: %d, want %d", tc.needle, got, tc.want)
		}
	}
}

func TestLowerASCII(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	for start := range 9 { // every alignment of the word loop's tail
		got := lowerASCII([]byte("x"), all[start:])
		want := append([]byte("x"), all[start:]...)
		for i, c := range want {
			if c >= 'A' && c <= 'Z' {
				want[i] = c + 'a' - 'A'
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("from %d: %q, want %q", start, got, want)
		}
	}
}
