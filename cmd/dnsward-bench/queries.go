package main

import (
	"bufio"
	"fmt"
	"os"
)

// Query files are dnsperf's input format, "name type" per line. Every name
// lives under gen.test., for which the test resolver synthesises an A
// record, so any number of distinct names resolve and can be checked.

// hotName is the i-th name of the hot set.
func hotName(i int) string { return fmt.Sprintf("h%d.hot.gen.test", i) }

// uniqueName is the i-th name of a set of distinct names.
func uniqueName(set string, i int) string { return fmt.Sprintf("n%d.%s.gen.test", i, set) }

// writeQueries writes n queries for A records of name(0) … name(n-1).
func writeQueries(path string, n int, name func(int) string) error {
	return writeLines(path, "", n, func(i int) string { return name(i) + " A" })
}

// writeLines writes header (when not empty) and line(0) … line(n-1), one
// a line.
func writeLines(path, header string, n int, line func(int) string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if header != "" {
		w.WriteString(header + "\n")
	}
	for i := range n {
		w.WriteString(line(i))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// blockedName is the i-th name of the generated blocklist.
func blockedName(i int) string { return fmt.Sprintf("ads%d.tracker%d.block.example", i, i%997) }

// writeBlocklist writes n domain-per-line rules (each also blocking its
// subdomains), none of which covers a gen.test. name.
func writeBlocklist(path string, n int) error {
	return writeLines(path, fmt.Sprintf("# %d generated rules for dnsward-bench", n), n, blockedName)
}

// sample picks k names spread over 0 … n-1, for spot checks.
func sample(n, k int, name func(int) string) []string {
	if n <= 0 {
		return nil
	}
	k = min(k, n)
	out := make([]string, 0, k)
	for j := range k {
		out = append(out, name(j*n/k))
	}
	return out
}
