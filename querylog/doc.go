// Package querylog writes dnsward's query log: every query and its answers
// as self-contained records, so that an IP address found in a firewall log
// leads straight to the client that asked and the name it asked for.
//
// # Records
//
// A response with answers yields one record per answer RR; a response
// without (NXDOMAIN, NODATA, SERVFAIL, REFUSED, blocked without an answer,
// no response at all) yields exactly one record. Every record repeats the
// query's fields, so one line stands on its own: grepping an IP returns
// lines that each name the client and the domain.
//
// Fields, in the order written (optional ones are left out when empty):
//
//	v            schema version, 1
//	ts           when the query arrived, RFC 3339 UTC with 9 fractional digits
//	qid          query id shared by the records of one query: a random
//	             per-process prefix and a hex counter, unique across restarts
//	proto        listener protocol: udp or tcp
//	client       client IP address (IPv4-mapped IPv6 shown as IPv4)
//	client_port  client port
//	client_mac   optional: the client's MAC address (aa:bb:cc:dd:ee:ff) from
//	             the neighbour table at query time; absent when the client
//	             is not on a directly attached network
//	client_host  optional: the client's hostname from the DHCP leases at
//	             query time
//	qname        question name, without the trailing dot
//	qtype        question type, e.g. A, AAAA, HTTPS, TYPE65534
//	rcode        response code, e.g. NOERROR, NXDOMAIN, SERVFAIL, REFUSED
//	source       cache, upstream, local, blocked, stale (served past expiry
//	             while upstreams fail), refused (client not allowed),
//	             ratelimited, rebind (rebinding answer refused) or busy
//	             (SERVFAIL: too many queries already waiting on upstreams)
//	upstream     optional: the upstream that answered
//	latency_us   microseconds from arrival to response
//	block_list   optional: the list that blocked the query
//	block_rule   optional: the rule in block_list that matched
//	error        optional: why a SERVFAIL had no upstream answer behind it
//	             (every upstream failed, or source busy)
//	rebind_address  optional: with source rebind, the private address in
//	             the upstream answer that was refused
//	name         answer owner name        } present together, only on
//	type         answer type              } records that carry an answer
//	data         answer data as text (the IP for A/AAAA, the target for CNAME)
//	ttl          answer TTL in seconds
//	chain        optional: the names from qname through the CNAME targets to
//	             the owner; absent when the owner is not reachable from qname
//
// Two formats carry the same fields. JSON lines (the default):
//
//	{"v":1,"ts":"2026-11-23T09:30:00.123456789Z","qid":"5f1c0a9b3e2d-1a","proto":"udp","client":"10.0.0.5","client_port":51334,"qname":"www.shop.example","qtype":"A","rcode":"NOERROR","source":"upstream","upstream":"9.9.9.9:53","latency_us":1234,"name":"www.shop.example","type":"CNAME","data":"shop.cdn.example","ttl":300,"chain":["www.shop.example"]}
//	{"v":1,"ts":"2026-11-23T09:30:00.123456789Z","qid":"5f1c0a9b3e2d-1a","proto":"udp","client":"10.0.0.5","client_port":51334,"qname":"www.shop.example","qtype":"A","rcode":"NOERROR","source":"upstream","upstream":"9.9.9.9:53","latency_us":1234,"name":"shop.cdn.example","type":"A","data":"192.0.2.1","ttl":20,"chain":["www.shop.example","shop.cdn.example"]}
//	{"v":1,"ts":"2026-11-23T09:30:00.123456789Z","qid":"5f1c0a9b3e2d-1b","proto":"udp","client":"10.0.0.5","client_port":51335,"qname":"nope.example","qtype":"AAAA","rcode":"NXDOMAIN","source":"cache","latency_us":41}
//	{"v":1,"ts":"2026-11-23T09:30:00.123456789Z","qid":"5f1c0a9b3e2d-1c","proto":"udp","client":"10.0.0.9","client_port":40000,"qname":"ads.tracker.example","qtype":"A","rcode":"NOERROR","source":"blocked","latency_us":12,"block_list":"stevenblack","block_rule":"0.0.0.0 ads.tracker.example","name":"ads.tracker.example","type":"A","data":"0.0.0.0","ttl":10,"chain":["ads.tracker.example"]}
//
// and key=value, for Splunk and grep. A value that is empty or holds a
// space, quote, '=', backslash or non-printable byte is double-quoted with
// Go escapes; chain is comma-separated:
//
//	ts=2026-11-23T09:30:00.123456789Z v=1 qid=5f1c0a9b3e2d-1a proto=udp client=10.0.0.5 client_port=51334 qname=www.shop.example qtype=A rcode=NOERROR source=upstream upstream=9.9.9.9:53 latency_us=1234 name=www.shop.example type=CNAME data=shop.cdn.example ttl=300 chain=www.shop.example
//	ts=2026-11-23T09:30:00.123456789Z v=1 qid=5f1c0a9b3e2d-1a proto=udp client=10.0.0.5 client_port=51334 qname=www.shop.example qtype=A rcode=NOERROR source=upstream upstream=9.9.9.9:53 latency_us=1234 name=shop.cdn.example type=A data=192.0.2.1 ttl=20 chain=www.shop.example,shop.cdn.example
//	ts=2026-11-23T09:30:00.123456789Z v=1 qid=5f1c0a9b3e2d-1b proto=udp client=10.0.0.5 client_port=51335 qname=nope.example qtype=AAAA rcode=NXDOMAIN source=cache latency_us=41
//	ts=2026-11-23T09:30:00.123456789Z v=1 qid=5f1c0a9b3e2d-1c proto=udp client=10.0.0.9 client_port=40000 qname=ads.tracker.example qtype=A rcode=NOERROR source=blocked latency_us=12 block_list=stevenblack block_rule="0.0.0.0 ads.tracker.example" name=ads.tracker.example type=A data=0.0.0.0 ttl=10 chain=ads.tracker.example
//
// Readers should ignore unknown fields; new fields may be added within
// version 1, and a change of meaning bumps v.
//
// # Flow records
//
// The same stream carries flow records ([Logger.LogFlow]): a connection
// or firewall-logged packet from a LAN client, joined to the lookups
// behind its destination. They carry kind "flow" right after v, and have
// their own version (FlowVersion, 1); DNS records have no kind field, and a
// reader takes a record without kind for a DNS record. [ParseLine],
// [Export] and [Who] skip flow records; [ParseFlowLine] and [ScanFlows]
// read them. Fields, in the order written:
//
//	v            flow schema version, 1
//	kind         flow
//	ts           when the source saw the flow (for a summary record, the
//	             latest flow folded into it), as ts above
//	client       the LAN client's address
//	client_port  the client's port (0 for ICMP)
//	dest         the destination address
//	dest_port    the destination port (0 for ICMP)
//	proto        tcp, udp, icmp or other
//	verdict      new (a connection conntrack saw), dropped or logged (a
//	             packet the firewall logged, and dropped or let through)
//	prefix       optional: the nflog or log prefix of the rule that logged it
//	attribution  same_client (the client was given dest by a lookup still
//	             valid), other_client (only other clients were) or no_lookup
//	             (nobody was: an address reached without DNS)
//	names        optional: the answers behind dest, each with
//	               name         the name asked
//	               client       with other_client: the client that asked
//	               chain        optional: the CNAME chain after name
//	               first_asked, last_asked  first and latest answer times
//	               valid_until  when the latest answer (TTL and grace) ends
//	repeats      optional: how many more flows of the same client, dest,
//	             port, protocol and verdict the suppression window folded
//	             into this summary record
//
// JSON lines:
//
//	{"v":1,"kind":"flow","ts":"2026-11-23T09:30:01.123456789Z","client":"10.0.0.5","client_port":40000,"dest":"2001:db8::25","dest_port":25,"proto":"tcp","verdict":"dropped","prefix":"egress drop: ","attribution":"other_client","names":[{"name":"mx.mail.example","client":"10.0.0.9","first_asked":"2026-11-23T08:30:00.123456789Z","last_asked":"2026-11-23T09:29:00.123456789Z","valid_until":"2026-11-23T09:34:00.123456789Z"}],"repeats":29}
//
// key=value numbers the names (name1, name1_client, name1_chain,
// name1_first_asked, ..., name2, ...), so each key holds one value:
//
//	ts=2026-11-23T09:30:00.123456789Z v=1 kind=flow client=10.0.0.5 client_port=51334 dest=192.0.2.1 dest_port=443 proto=tcp verdict=new attribution=same_client name1=www.shop.example name1_chain=shop.cdn.example name1_first_asked=2026-11-23T08:30:00.123456789Z name1_last_asked=2026-11-23T09:29:00.123456789Z name1_valid_until=2026-11-23T09:34:00.123456789Z
//	ts=2026-11-23T09:30:02.123456789Z v=1 kind=flow client=10.0.0.7 client_port=0 dest=198.51.100.7 dest_port=0 proto=icmp verdict=logged prefix=log attribution=no_lookup
//
// Flow records go to the file, syslog and HEC like DNS records, through the
// same queue and spools; dnstap sinks skip them (dnstap has no flow
// message).
//
// # Delivery
//
// [Logger.Log] never blocks: it queues the entry, or counts it as dropped
// when the queue is full. One goroutine encodes and appends to the file and
// to one spool per collector, [Config.FlushInterval] after the first entry
// of a spell: what is still queued is what a kill -9 loses. Each collector (syslog RFC 5424 over udp, or
// over tcp/tls with RFC 6587 octet counting; Splunk HEC) has its own
// goroutine that sends from its spool and commits what was delivered, so a
// slow collector delays only itself, survives restarts, and gets records
// at least once and in order. An HTTP 2xx confirms HEC delivery. A TCP or
// TLS write only means the kernel took the data, so stream records stay
// replayable for a settling time and are replayed, possibly twice, if the
// connection dies. UDP records likewise stay replayable until an ICMP
// error (port or host unreachable) would have come back; a datagram lost
// without one is lost. A full spool drops new records, counted in [Stats]
// and reported in the program log. The file and the spools are synced to
// disk about a second after they are written, so a host crash loses at
// most that second.
//
// # dnstap
//
// A dnstap sink ([DnstapConfig]) is a collector too, whose spool holds
// dnstap messages rather than records: CLIENT_QUERY and CLIENT_RESPONSE for
// each entry, FORWARDER_QUERY and FORWARDER_RESPONSE for each
// [Logger.LogExchange]. Over a Unix or TCP socket it speaks Frame Streams
// with the bidirectional handshake, and a stop waits for the receiver's
// FINISH; a file target is one Frame Streams stream across restarts.
package querylog
