# Turns the embedded default configuration (packaging/dnsward.yaml) into the
# /etc/dnsward/dnsward.yaml the Debian package installs. Only what a system
# service needs changes; every other line, comment and key passes through, so
# keys added to the default later reach the package without touching this.
#
# Variables (-v): user, state_dir, querylog_file, control_socket.

# The default's opening paragraph describes the embedded copy; this header
# replaces it.
NR == 1 {
	print "# dnsward configuration, installed by the Debian package."
	print "#"
	print "# This is the built-in default with listen, user, state_dir, querylog.file"
	print "# and control.socket set for the system service; a key left out keeps the"
	print "# built-in value shown here. Your edits survive upgrades. Check them with"
	print "#   dnsward check-config --config /etc/dnsward/dnsward.yaml"
	print "# and apply them with: systemctl reload dnsward (listen, user, state_dir,"
	print "# log, querylog, metrics.listen and control need: systemctl restart dnsward)."
	in_header = 1
}
in_header && /^#/ { next }
{ in_header = 0 }

# The items of the replaced listen list are indented; drop them until the
# next top-level line (a key, a comment or a blank line).
in_listen && /^[ \t]/ { next }
{ in_listen = 0 }

/^[A-Za-z_][A-Za-z0-9_]*:/ {
	section = $0
	sub(/:.*/, "", section)
}

section == "listen" && /^listen:/ {
	# ":53" binds every address, IPv4 and IPv6; allow_clients keeps it from
	# being an open resolver.
	print "listen:"
	print "  - \":53\""
	in_listen = 1
	done["listen"] = 1
	next
}

# The unit already starts dnsward as this user, which makes the switch a
# no-op there; it matters when an admin starts this configuration as root.
/^user:/ {
	print "user: " user
	done["user"] = 1
	next
}

/^state_dir:/ {
	print "state_dir: " state_dir
	done["state_dir"] = 1
	next
}

section == "control" && /^  socket:/ {
	print "  socket: " control_socket
	done["control.socket"] = 1
	next
}

section == "querylog" && /^  file:/ {
	print "  file: " querylog_file
	done["querylog.file"] = 1
	next
}

{ print }

# A renamed key must break the build, not ship a package listening on 5353
# or writing its log nowhere.
END {
	split("listen user state_dir querylog.file control.socket", want, " ")
	for (i = 1; i in want; i++)
		if (!done[want[i]]) {
			print "packaged-config.awk: key " want[i] " not found in the default configuration" > "/dev/stderr"
			failed = 1
		}
	if (failed)
		exit 1
}
