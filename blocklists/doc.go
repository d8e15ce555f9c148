// Package blocklists loads domain blocklists and allowlists from local files,
// HTTP(S) URLs and inline rules, and answers whether a query name is blocked.
//
// A Manager keeps the last good version of every list: a source that fails to
// load, download or parse never empties the running set. The compiled matcher
// is immutable and swapped atomically, so lookups take no locks.
package blocklists
