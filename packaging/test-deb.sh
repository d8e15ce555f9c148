#!/usr/bin/env bash
# Checks the Debian package the way an admin meets it: builds it for amd64
# and arm64 with `make deb`, lints it, bootstraps a fresh Debian root, installs
# the previous version there, runs the service as its unit would, edits the
# conffile, upgrades, removes and purges, checking what an admin would look
# at after each step. Fails at the first difference, saying what it expected.
#
# Usage: packaging/test-deb.sh  (as root: debootstrap, chroot, namespaces)
# Environment:
#   GO                   the go command (go)
#   DEB_TEST_SUITE       release to bootstrap (the host's, from /etc/os-release)
#   DEB_TEST_MIRROR      mirror for it (the host's apt source for that release)
#   DEB_TEST_ROOT_CACHE  a tarball of the bootstrapped root: unpacked when it
#                        exists, written when it does not. For working on the
#                        package; CI bootstraps every time.
#   DEB_TEST_DEB_CACHE   where debootstrap keeps the .debs it fetched, for the
#                        next run on this machine (~/.cache/dnsward/debootstrap;
#                        empty: fetch them every time)
#
# In the chroot the unit is checked with systemd-analyze, and its User=,
# Group=, capabilities, umask and directories are reproduced with setpriv
# to run its ExecStartPre= and ExecStart= commands. Then systemd-nspawn boots
# the root with systemd as init, where the unit runs with its whole sandbox
# (the system call filter, ProtectSystem= and the rest) and postinst meets a
# running systemd.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
self=$here/test-deb.sh

fail() {
	echo "test-deb.sh: FAIL: $*" >&2
	exit 1
}
step() { printf '\n== [%3ds] %s\n' "$SECONDS" "$*"; }

# --- Inside the namespaces: a private network (port 53 is free and nothing
# leaves the machine), mounts that vanish with it, and a PID namespace whose
# end kills every server started here.

# root, debs and the versions come from the outer run's environment.
# Commands are argv arrays, not functions, so that `CMD... &` makes $! the
# server itself (chroot, env, setpriv and sh each exec the next).
# in_root_argv is set at the start of inside(), and by booted() to enter
# the booted container instead.
in_root() { "${in_root_argv[@]}" "$@"; }
unit_value() { # KEY: the last KEY= in the installed unit
	sed -n "s/^$1=//p" "$root/lib/systemd/system/dnsward.service" | tail -n 1
}
# Reads the installed unit: its commands, and how systemd runs them: as User=
# and Group=, with AmbientCapabilities= as the only capabilities, no new
# privileges, and the unit's umask.
load_unit() {
	local caps user group umask
	caps=$(unit_value AmbientCapabilities | tr 'A-Z ' 'a-z\n' | sed -n 's/^cap_\(.*\)/+\1/p' | paste -sd,)
	user=$(unit_value User) group=$(unit_value Group) umask=$(unit_value UMask)
	as_service_argv=("${in_root_argv[@]}" setpriv --reuid="$user" --regid="$group" --init-groups
		--inh-caps="-all,$caps" --ambient-caps="-all,$caps" --bounding-set="-all,$caps" --no-new-privs
		/bin/sh -c 'umask "$0" && exec "$@"' "$umask")
	read -r -a start_pre <<<"$(unit_value ExecStartPre)"
	read -r -a start <<<"$(unit_value ExecStart)"
	# "+": systemd runs it as root, outside the sandbox.
	read -r -a stop_post <<<"$(unit_value ExecStopPost | sed 's/^+//')"
}
as_service() { "${as_service_argv[@]}" "$@"; }
# What StateDirectory=, LogsDirectory= and RuntimeDirectory= make before
# systemd starts the unit.
make_unit_dirs() {
	local user group
	user=$(unit_value User) group=$(unit_value Group)
	install -d -o "$(in_root id -u "$user")" -g "$(in_root id -g "$group")" -m "$(unit_value StateDirectoryMode)" \
		"$root/var/lib/$(unit_value StateDirectory)"
	install -d -o "$(in_root id -u "$user")" -g "$(in_root id -g "$group")" -m "$(unit_value LogsDirectoryMode)" \
		"$root/var/log/$(unit_value LogsDirectory)"
	# The previous release's unit has none.
	if [[ -n $(unit_value RuntimeDirectory) ]]; then
		install -d -o "$(in_root id -u "$user")" -g "$(in_root id -g "$group")" -m "$(unit_value RuntimeDirectoryMode)" \
			"$root/run/$(unit_value RuntimeDirectory)"
	fi
}

# dig's status and answer, or the reason there is none; dig runs in the
# network namespace net_argv enters, if any.
net_argv=()
ask() { # NAME [SERVER]
	"${net_argv[@]}" dig "@${2:-127.0.0.1}" -p 53 +time=1 +tries=1 "$1" A 2>&1 | sed -n 's/.*status: \([A-Z]*\),.*/\1/p; /^;; ANSWER SECTION:/{n;p}'
}
# Tries a command every 0.2s for up to SECS seconds.
poll_for() { # SECS CMD...
	local tries=$(($1 * 5))
	shift
	for _ in $(seq "$tries"); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
poll() { poll_for 10 "$@"; }
# Waits for the server with PID to answer NAME with any status.
wait_answer() { # PID NAME PROGRAM_LOG [SERVER]
	answered() {
		kill -0 "$1" 2>/dev/null || { cat "$3" >&2; fail "dnsward exited before answering (its log is above)"; }
		[[ -n $(ask "$2" "${4:-}") ]]
	}
	poll answered "$@" || { cat "$3" >&2; fail "no answer for $2 on ${4:-127.0.0.1}:53 within 10s (dnsward's log is above)"; }
}
wait_grep() { # PATTERN FILE WHAT
	poll grep -q -- "$1" "$2" 2>/dev/null || fail "$3: no line matching $1 in ${2#"$root"} within 10s"
}
stop_server() { # PID
	kill -TERM "$1"
	local rc=0
	wait "$1" || rc=$?
	[[ $rc == 0 ]] || fail "dnsward exited $rc on SIGTERM, not 0"
}
mode_owner() { # PATH in the root
	in_root stat -c '%a %U:%G' "$1"
}
expect_mode() { # PATH MODE OWNER:GROUP
	local got
	got=$(mode_owner "$1") || fail "$1 is missing"
	[[ $got == "$2 $3" ]] || fail "$1 is $got, want $2 $3"
}
proc_status() { # PID FIELD: the field's values from /proc/PID/status in the root, space-separated
	in_root awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"
}
expect_identity() { # PID UID CAPEFF: real, effective, saved and fs uid; effective capabilities
	local uids caps
	uids=$(proc_status "$1" Uid) caps=$(proc_status "$1" CapEff)
	[[ $uids == "$2 $2 $2 $2" ]] || fail "dnsward runs with uids $uids, want $2"
	[[ $caps == "$3" ]] || fail "dnsward's effective capabilities are $caps, want $3"
}
status_of() { in_root dpkg-query -W -f='${Status} ${Version}' dnsward 2>/dev/null || true; }

inside() {
	local uid gid pid log conf qlog out man
	SECONDS=$outer_seconds
	in_root_argv=(chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8)
	in_root ip link set lo up
	mount -t proc proc "$root/proc"
	# A real system has these; debootstrap leaves them to the installer.
	printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	cp "$prev_deb" "$root/tmp/prev.deb"
	cp "$cur_deb" "$root/tmp/cur.deb"
	conf=/etc/dnsward/dnsward.yaml
	qlog=/var/log/dnsward/queries.log

	step "install $prev_version into the fresh root"
	in_root dpkg -i /tmp/prev.deb </dev/null || fail "dpkg -i of $prev_version failed"
	[[ $(status_of) == "install ok installed $prev_version" ]] || fail "after install: dpkg says '$(status_of)'"

	step "files, modes and owners"
	# The package's own files, as dpkg lists them.
	diff <(in_root dpkg-query -L dnsward | while read -r f; do [[ -d $root$f ]] || echo "$f"; done | sort) - <<-'EOF' ||
		/etc/dnsward/dnsward.yaml
		/etc/logrotate.d/dnsward
		/lib/systemd/system/dnsward.service
		/usr/bin/dnsward
		/usr/lib/dnsward/port53-hint
		/usr/share/doc/dnsward/changelog.Debian.gz
		/usr/share/doc/dnsward/copyright
		/usr/share/doc/dnsward/examples/egress.nft
		/usr/share/lintian/overrides/dnsward
		/usr/share/man/man8/dnsward.8.gz
	EOF
		fail "installed files differ from the list above (< installed, > expected)"
	for f in /usr/bin/dnsward /usr/lib/dnsward/port53-hint; do expect_mode "$f" 755 root:root; done
	for f in /etc/logrotate.d/dnsward /lib/systemd/system/dnsward.service /usr/share/man/man8/dnsward.8.gz \
		/usr/share/doc/dnsward/copyright /usr/share/doc/dnsward/changelog.Debian.gz /usr/share/doc/dnsward/examples/egress.nft; do
		expect_mode "$f" 644 root:root
	done
	expect_mode /etc/dnsward 755 root:root
	expect_mode "$conf" 640 root:dnsward
	in_root dpkg-statoverride --list "$conf" | grep -qx "root dnsward 640 $conf" ||
		fail "no dpkg-statoverride for $conf, so an upgrade would reset its mode"

	step "conffiles, system user, enabled unit, man page"
	in_root dpkg-query -W -f='${Conffiles}\n' dnsward | awk 'NF { print $1 }' | sort |
		diff - <(printf '%s\n' /etc/dnsward/dnsward.yaml /etc/logrotate.d/dnsward) ||
		fail "registered conffiles differ (< dpkg, > expected)"
	IFS=: read -r _ _ uid gid _ home shell < <(in_root getent passwd dnsward) || fail "no dnsward user"
	((uid < 1000)) || fail "dnsward has uid $uid, not a system uid"
	[[ $(in_root getent group dnsward | cut -d: -f3) == "$gid" ]] || fail "dnsward's primary group is not the dnsward group"
	[[ $home == /var/lib/dnsward && $shell == /usr/sbin/nologin ]] || fail "dnsward has home $home and shell $shell"
	[[ $(readlink "$root/etc/systemd/system/multi-user.target.wants/dnsward.service") == /lib/systemd/system/dnsward.service ]] ||
		fail "dnsward.service is not enabled (no multi-user.target.wants link)"
	man=$(zcat "$root/usr/share/man/man8/dnsward.8.gz")
	grep -q '^\.TH DNSWARD "8"' <<<"$man" || fail "the man page is not dnsward(8)"
	for section in 'COMMAND FLAGS' SIGNALS 'PORT 53 CONFLICTS' FILES 'PACKAGE REMOVAL'; do
		grep -Eq "^\.SH \"?$section\"?\$" <<<"$man" || fail "the man page has no $section section"
	done
	[[ $(in_root dnsward --version) == "dnsward $prev_upstream" ]] || fail "dnsward --version says '$(in_root dnsward --version)'"

	step "the installed binary checks the installed config (as root, and as the unit's ExecStartPre)"
	out=$(in_root dnsward check-config --config "$conf") || fail "check-config as root: $out"
	[[ $out == "configuration OK" ]] || fail "check-config as root said: $out"
	load_unit
	out=$(as_service "${start_pre[@]}" 2>&1) || fail "ExecStartPre as the service user: $out"

	step "systemd-analyze: the unit is valid and its sandbox rates OK"
	out=$(in_root systemd-analyze verify --man=no dnsward.service 2>&1) || fail "systemd-analyze verify: $out"
	[[ -z $out ]] || fail "systemd-analyze verify complains: $out"
	# Exposure is printed 0.0-10.0 and compared as 0-100; up to 2.0 is "OK".
	out=$(in_root systemd-analyze security --offline=true --threshold=20 dnsward.service 2>&1) ||
		fail "systemd-analyze security rates the unit worse than 2.0: $(tail -n 3 <<<"$out")"
	grep 'Overall exposure' <<<"$out"

	step "run the unit's ExecStart: port 53 as dnsward with CAP_NET_BIND_SERVICE only, query log, SIGHUP"
	make_unit_dirs
	log=$work/service.log
	"${as_service_argv[@]}" "${start[@]}" 2>"$log" &
	pid=$!
	wait_answer "$pid" teredo.ipv6.microsoft.com "$log"
	[[ $(ask teredo.ipv6.microsoft.com) == NXDOMAIN ]] || fail "teredo.ipv6.microsoft.com is not blocked: $(ask teredo.ipv6.microsoft.com)"
	# 0x400 is CAP_NET_BIND_SERVICE alone.
	expect_identity "$pid" "$uid" 0000000000000400
	[[ $(proc_status "$pid" NoNewPrivs) == 1 ]] || fail "dnsward runs without no_new_privs"
	wait_grep '"qname":"teredo.ipv6.microsoft.com".*"source":"blocked"' "$root$qlog" "query log"
	expect_mode "$qlog" 640 dnsward:dnsward
	expect_mode /run/dnsward/control.sock 660 dnsward:dnsward
	out=$(in_root dnsward who 192.0.2.1 --config "$conf" 2>&1) || fail "dnsward who over the control socket: $out"
	[[ $out == FIRST* ]] || fail "dnsward who printed: $out"
	kill -HUP "$pid"
	wait_grep 'SIGHUP: reloading' "$log" "ExecReload (SIGHUP)"

	step "logrotate rotates the query log; SIGUSR1 (its postrotate under systemd) reopens it"
	in_root logrotate --force /etc/logrotate.d/dnsward || fail "logrotate failed"
	[[ -s $root$qlog.1 ]] || fail "logrotate did not move $qlog to $qlog.1"
	expect_mode "$qlog" 640 dnsward:dnsward
	kill -USR1 "$pid"
	wait_grep 'SIGUSR1: query log reopened' "$log" "SIGUSR1"
	ask teredo.trex.fi >/dev/null
	wait_grep '"qname":"teredo.trex.fi"' "$root$qlog" "query log after SIGUSR1"
	! grep -q '"qname":"teredo.trex.fi"' "$root$qlog.1" || fail "dnsward kept writing to the rotated file after SIGUSR1"
	stop_server "$pid"
	! grep -E 'level=(WARN|ERROR)' "$log" || fail "the service logged warnings or errors (above)"

	step "started as root with the installed config, dnsward switches to its user after binding"
	"${in_root_argv[@]}" dnsward serve --config "$conf" 2>"$log" &
	pid=$!
	wait_answer "$pid" teredo.ipv6.microsoft.com "$log"
	expect_identity "$pid" "$uid" 0000000000000000
	stop_server "$pid"

	step "port 53 taken: the unit fails and its ExecStopPost names the holder and the fix"
	# The real programs are not in this root; a copy of dnsward under their
	# name holds the port the same way, and ss reports it under that name.
	for holder in "systemd-resolved 127.0.0.53:53 DNSStubListener=no" "dnsmasq 127.0.0.1:53 systemctl disable --now dnsmasq"; do
		read -r name addr advice <<<"$holder"
		cp "$root/usr/bin/dnsward" "$root/tmp/$name"
		"${in_root_argv[@]}" "/tmp/$name" serve --listen "$addr" 2>"$work/$name.log" &
		pid=$!
		wait_answer "$pid" teredo.ipv6.microsoft.com "$work/$name.log" "${addr%:53}"
		if out=$(as_service timeout 20 "${start[@]}" 2>&1); then
			fail "dnsward started although $name holds $addr"
		fi
		grep -q 'address already in use' <<<"$out" || fail "dnsward's error does not say the address is in use: $out"
		out=$(in_root SERVICE_RESULT=exit-code "${stop_post[@]}" 2>&1)
		[[ $out == "dnsward: port 53 is held by ${name:0:15} (pid "*"): "*"$advice"* ]] ||
			fail "with $name on port 53 the hint said: '$out'"
		echo "$out"
		stop_server "$pid"
	done

	step "edit the conffile, then upgrade to $cur_version"
	sed -i 's/^  records: \[\]$/  records:\n    - "probe.lan. 300 IN A 192.0.2.53"/' "$root$conf"
	grep -q probe.lan "$root$conf" || fail "could not edit $conf: its local.records line changed"
	local edited
	edited=$(sha256sum <"$root$conf")
	# --force-confold answers dpkg's conffile question as unattended-upgrades
	# does: keep the admin's file, put the new default beside it.
	out=$(in_root dpkg -i --force-confold /tmp/cur.deb 2>&1 </dev/null) || fail "upgrade failed: $out"
	echo "$out"
	[[ $(status_of) == "install ok installed $cur_version" ]] || fail "after upgrade: dpkg says '$(status_of)'"
	[[ $(in_root dnsward --version) == "dnsward $cur_upstream" ]] || fail "after upgrade dnsward --version says '$(in_root dnsward --version)'"
	[[ $(sha256sum <"$root$conf") == "$edited" ]] || fail "the upgrade changed the edited $conf"
	[[ $(find "$root/etc/dnsward" -name '*.dpkg-*') == "$root$conf.dpkg-dist" ]] ||
		fail "want the new default beside the kept config as $conf.dpkg-dist, found: $(find "$root/etc/dnsward" -name '*.dpkg-*')"
	grep -q "(previous release)" "$root$conf.dpkg-dist" && fail "$conf.dpkg-dist is the previous release's config, not the new one"
	expect_mode "$conf" 640 root:dnsward
	# dpkg still knows the file is the admin's: its verify lists the edit and nothing else.
	out=$(in_root dpkg --verify dnsward) || true
	[[ $out == "??5?????? c $conf" ]] || fail "dpkg --verify after the upgrade: '$out', want only $conf changed"

	step "the upgraded service answers from the edited config"
	load_unit
	as_service "${start_pre[@]}" >/dev/null || fail "ExecStartPre fails on the edited config"
	"${as_service_argv[@]}" "${start[@]}" 2>"$log" &
	pid=$!
	wait_answer "$pid" probe.lan "$log"
	[[ $(ask probe.lan) == *192.0.2.53* ]] || fail "probe.lan from the edited config: $(ask probe.lan)"
	stop_server "$pid"

	step "remove: configuration, state and logs stay; the unit is masked"
	in_root dpkg -r dnsward </dev/null || fail "dpkg -r failed"
	[[ $(status_of) == "deinstall ok config-files $cur_version" ]] || fail "after remove: dpkg says '$(status_of)'"
	[[ ! -e $root/usr/bin/dnsward ]] || fail "remove left /usr/bin/dnsward"
	[[ $(sha256sum <"$root$conf") == "$edited" ]] || fail "remove changed or deleted $conf"
	[[ -s $root$qlog && -s $root$qlog.1 && -d $root/var/lib/dnsward ]] || fail "remove deleted the logs or the state"
	[[ $(readlink "$root/etc/systemd/system/dnsward.service") == /dev/null ]] || fail "remove did not mask dnsward.service"

	step "purge: configuration, state, logs, statoverride and unit links go; the user stays"
	in_root dpkg -P dnsward </dev/null || fail "dpkg -P failed"
	[[ -z $(status_of) || $(status_of) == "unknown ok not-installed"* ]] || fail "after purge: dpkg says '$(status_of)'"
	for d in /etc/dnsward /var/lib/dnsward /var/log/dnsward /etc/logrotate.d/dnsward; do
		[[ ! -e $root$d ]] || fail "purge left $d"
	done
	[[ -z $(in_root dpkg-statoverride --list "$conf") ]] || fail "purge left the statoverride of $conf"
	[[ -z $(find "$root/etc/systemd" -name 'dnsward*') ]] || fail "purge left $(find "$root/etc/systemd" -name 'dnsward*')"
	[[ $(in_root id -u dnsward) == "$uid" ]] || fail "purge removed the dnsward user"

	step "install again after the purge: the kept user is reused"
	in_root dpkg -i /tmp/cur.deb </dev/null || fail "reinstall failed"
	[[ $(in_root id -u dnsward) == "$uid" ]] || fail "reinstall changed dnsward's uid"
	in_root dnsward check-config --config "$conf" >/dev/null || fail "check-config after reinstall"
}

# --- Booted: the root as a container whose init is systemd.

# timeout's child is systemd-nspawn, whose child is the container's init.
find_init() {
	local nspawn
	nspawn=$(pgrep -P "$boot_pid" -x systemd-nspawn) && boot_init=$(pgrep -P "$nspawn" -x systemd)
}
unit_prop() { in_root systemctl show --property="$1" --value dnsward.service; }
unit_active() { [[ $(unit_prop ActiveState) == active ]]; }
# Waits up to 30s for the unit to be active; a boot takes a few seconds.
wait_active() { # WHAT
	poll_for 30 unit_active && return 0
	in_root systemctl status --no-pager dnsward.service >&2 || true
	in_root journalctl --no-pager -u dnsward.service -n 30 >&2 || true
	fail "$1: dnsward.service is $(unit_prop ActiveState), not active, after 30s (status and journal above)"
}
boot_journal() { in_root journalctl --no-pager -o cat -u dnsward.service; }
journal_has() { boot_journal | grep -q -- "$1"; }

booted() {
	local uid main qlog=/var/log/dnsward/queries.log
	cp "$cur_deb" "$root/var/tmp/cur.deb"

	step "systemd-nspawn boots the root; systemd starts dnsward.service and gets READY=1"
	timeout --kill-after=10 180 systemd-nspawn --quiet --directory="$root" --boot --private-network \
		--register=no --keep-unit --console=passive >"$work/boot.log" 2>&1 &
	boot_pid=$!
	poll find_init || fail "the container's systemd did not start within 10s: $(tail -n 5 "$work/boot.log")"
	# From here on the root's commands run in the container's namespaces,
	# and dig in its network.
	in_root_argv=(nsenter --target "$boot_init" --all /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8)
	net_argv=(nsenter --target "$boot_init" --net)
	wait_active "after boot"

	step "under systemd: the dnsward user, CAP_NET_BIND_SERVICE alone, no_new_privs, the system call filter"
	main=$(unit_prop MainPID)
	uid=$(in_root id -u dnsward)
	expect_identity "$main" "$uid" 0000000000000400
	[[ $(proc_status "$main" NoNewPrivs) == 1 ]] || fail "the unit's dnsward runs without no_new_privs"
	# 2 is SECCOMP_MODE_FILTER: SystemCallFilter= is in force, and dnsward runs under it.
	[[ $(proc_status "$main" Seccomp) == 2 ]] || fail "the unit's dnsward has seccomp mode $(proc_status "$main" Seccomp), want 2 (filter)"

	step "under systemd: it answers on port 53 and logs the query, 0640 dnsward:dnsward"
	[[ $(ask teredo.ipv6.microsoft.com) == NXDOMAIN ]] || fail "under systemd, teredo.ipv6.microsoft.com got: $(ask teredo.ipv6.microsoft.com)"
	poll in_root grep -q '"qname":"teredo.ipv6.microsoft.com".*"source":"blocked"' "$qlog" ||
		fail "under systemd, the query is not in $qlog within 10s"
	expect_mode "$qlog" 640 dnsward:dnsward
	expect_mode /run/dnsward/control.sock 660 dnsward:dnsward
	out=$(in_root dnsward who 192.0.2.1 2>&1) || fail "under systemd, dnsward who over the control socket: $out"

	step "systemctl reload: the same process reads the lists and local names again"
	in_root systemctl reload dnsward.service || fail "systemctl reload failed"
	poll journal_has 'SIGHUP: reloading blocklists and local names' || {
		boot_journal | tail -n 20 >&2
		fail "no reload in dnsward's journal within 10s (its end is above)"
	}
	[[ $(unit_prop MainPID) == "$main" ]] && unit_active || fail "systemctl reload restarted or stopped dnsward"

	step "logrotate under systemd: its postrotate finds dnsward's PID over D-Bus and the log is reopened"
	in_root logrotate --force /etc/logrotate.d/dnsward || fail "logrotate failed under systemd"
	# Only the signal handler says this; a log moved away without the
	# signal is reopened silently.
	poll journal_has 'SIGUSR1: query log reopened' || {
		boot_journal | tail -n 20 >&2
		fail "logrotate's postrotate did not reach dnsward within 10s (its journal's end is above)"
	}
	in_root test -s "$qlog.1" || fail "under systemd, logrotate did not move $qlog to $qlog.1"
	expect_mode "$qlog" 640 dnsward:dnsward

	step "dpkg -i over the running service: postinst restarts it"
	in_root dpkg -i /var/tmp/cur.deb </dev/null >"$work/boot-dpkg.out" 2>&1 || {
		cat "$work/boot-dpkg.out"
		fail "dpkg -i in the booted root failed (output above)"
	}
	wait_active "after dpkg -i"
	[[ $(unit_prop MainPID) != "$main" ]] || fail "postinst did not restart dnsward (same main PID $main)"
	[[ $(ask teredo.ipv6.microsoft.com) == NXDOMAIN ]] || fail "after the restart, teredo.ipv6.microsoft.com got: $(ask teredo.ipv6.microsoft.com)"

	step "systemctl stop: dnsward exits cleanly, having logged no warning"
	in_root systemctl stop dnsward.service || fail "systemctl stop failed"
	[[ $(unit_prop ActiveState) == inactive && $(unit_prop Result) == success ]] ||
		fail "after stop the unit is $(unit_prop ActiveState), result $(unit_prop Result)"
	! boot_journal | grep -E 'level=(WARN|ERROR)' || fail "dnsward logged warnings or errors under systemd (above)"

	# systemd-nspawn halts the container on SIGTERM, which timeout passes
	# on. Its exit status is not checked: the checks above can end before
	# the container's own boot has, and how a half-booted container stops
	# is systemd's business, not dnsward's.
	kill -TERM "$boot_pid"
	wait "$boot_pid" || true
	boot_pid=
}

if [[ ${1:-} == --inside ]]; then
	inside
	exit 0
fi

# --- Outside: build, lint, bootstrap, then the install steps in namespaces.

[[ $(id -u) == 0 ]] || fail "run as root: it bootstraps a Debian root and installs into it"
# The tools run here on the host, each as TOOL:PACKAGE, the Debian package
# that has it. deb_test.go reads this list: as root it fails when one is
# missing, and it checks that .ci/run installs every package.
host_tools=(dpkg-deb:dpkg help2man:help2man lintian:lintian debootstrap:debootstrap unshare:util-linux chroot:coreutils
	dig:dnsutils make:make systemd-nspawn:systemd-container nsenter:util-linux pgrep:procps)
missing=() packages=()
for tool in "${host_tools[@]}"; do
	if ! command -v "${tool%%:*}" >/dev/null; then
		missing+=("${tool%%:*}") packages+=("${tool#*:}")
	fi
done
((${#missing[@]} == 0)) || fail "missing: ${missing[*]} (apt-get install ${packages[*]})"
export GO=${GO:-go}
# A `make test` around this must not pass its jobserver to the inner make.
unset MAKEFLAGS MFLAGS MAKELEVEL

work=$(mktemp -d "${TMPDIR:-/tmp}/dnsward-deb-test.XXXXXX")
export work root=$work/root
# Runs a command for at most SECS seconds. timeout gives the command its own
# process group, out of reach of a signal sent to this script's group, so
# the command runs in the background and the TERM trap stops it.
bounded() { # SECS CMD...
	local rc=0
	timeout --kill-after=10 "$@" &
	bounded_pid=$!
	wait "$bounded_pid" || rc=$?
	bounded_pid=
	return "$rc"
}
cleanup() {
	# Stopping timeout stops systemd-nspawn, which shuts the container down.
	if [[ -n ${boot_pid:-} ]]; then
		kill -TERM "$boot_pid" 2>/dev/null || true
		wait "$boot_pid" || true
	fi
	local pid
	for pid in ${bounded_pid:-} ${bootstrap_pid:-}; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" || true
	done
	# Nothing is mounted here: the mounts lived in the namespace, gone with it.
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

host_arch=$(dpkg --print-architecture)
upstream=$(<"$here/VERSION")
# The previous version sorts just below this one ("~"), so the same tree
# serves as both sides of the upgrade.
export cur_upstream=$upstream prev_upstream=$upstream~prev
export cur_version=$cur_upstream-1 prev_version=$prev_upstream-1

suite=${DEB_TEST_SUITE:-$(. /etc/os-release && echo "$VERSION_CODENAME")}
[[ -n $suite ]] || fail "no VERSION_CODENAME in /etc/os-release; set DEB_TEST_SUITE"
# The first apt source of the host that carries this release, in either
# the deb822 or the one-line format.
host_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		if [[ -f $f ]]; then
			awk -v suite="$suite" '
				BEGIN { RS = ""; FS = "\n" }
				{
					types = uris = suites = ""
					for (i = 1; i <= NF; i++) {
						if ($i ~ /^Types:/) types = " " substr($i, 7) " "
						if ($i ~ /^URIs:/) uris = substr($i, 6)
						if ($i ~ /^Suites:/) suites = " " substr($i, 8) " "
					}
					if (types ~ / deb / && suites ~ (" " suite " ")) { split(uris, u, " "); print u[1] }
				}' "$f"
		fi
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		if [[ -f $f ]]; then
			sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2 }'
		fi
	done
}
mirror=${DEB_TEST_MIRROR:-$(host_mirror | awk 'NR == 1')}
mirror=${mirror:-http://deb.debian.org/debian}

# Besides minbase: the package's Depends (dpkg -i does not fetch them),
# logrotate to rotate for real, systemd for systemd-analyze and to boot,
# and D-Bus, which a standard install has and through which logrotate's
# postrotate, running as dnsward, asks systemd for the service's PID.
include=adduser,iproute2,procps,logrotate,systemd,dbus
if [[ -n ${DEB_TEST_ROOT_CACHE:-} && -f $DEB_TEST_ROOT_CACHE ]]; then
	step "fresh root from $DEB_TEST_ROOT_CACHE"
	mkdir "$root"
	tar -xzf "$DEB_TEST_ROOT_CACHE" -C "$root"
else
	# In the background while the packages are built and linted: each
	# took two minutes or more, debootstrap waiting on the mirror and dpkg,
	# the builds on the CPU. timeout, in its own process group, is what
	# cleanup stops.
	step "debootstrap --variant=minbase $suite from $mirror, in the background"
	# Only to go faster: a .deb in the cache is used when its checksum is
	# the mirror's, and one that cannot be kept is fetched every time.
	bootstrap_opts=(--variant=minbase --include="$include")
	deb_cache=${DEB_TEST_DEB_CACHE-${HOME:+$HOME/.cache/dnsward/debootstrap}}
	if [[ -n $deb_cache ]] && mkdir -p "$deb_cache" 2>/dev/null; then
		bootstrap_opts+=(--cache-dir="$(cd "$deb_cache" && pwd)")
	fi
	# dpkg in the new root skips its fsync calls (4 ms each here) while
	# debootstrap installs it; the file is removed before the checks.
	mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
	echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/bootstrap-unsafe-io"
	bootstrap_epoch=$(date +%s)
	timeout --kill-after=10 420 debootstrap "${bootstrap_opts[@]}" "$suite" "$root" "$mirror" >"$work/debootstrap.out" 2>&1 &
	bootstrap_pid=$!
fi

step "make deb: $cur_version for amd64 and arm64 (CGO off), $prev_version for $host_arch"
bounded 480 make -s -C "$repo" deb GO="$GO" VERSION="$cur_upstream" DEB_ARCHS="amd64 arm64" DEB_OUTDIR="$work/cur"
# The previous version ships a different default configuration, so the
# upgrade meets dpkg's changed-conffile case, as a real release would.
{ cat "$repo/packaging/dnsward.yaml"; echo "# (previous release)"; } >"$work/prev.yaml"
DEB_CONFIG=$work/prev.yaml bounded 300 make -s -C "$repo" deb GO="$GO" VERSION="$prev_upstream" DEB_ARCHS="$host_arch" DEB_OUTDIR="$work/prev"
export cur_deb=$work/cur/dnsward_${cur_version}_$host_arch.deb prev_deb=$work/prev/dnsward_${prev_version}_$host_arch.deb
[[ -f $cur_deb && -f $prev_deb ]] || fail "make deb did not produce $cur_deb and $prev_deb"

for arch in amd64 arm64; do
	deb=$work/cur/dnsward_${cur_version}_$arch.deb
	step "lintian $(basename "$deb")"
	bounded 300 lintian --fail-on error --display-info --show-overrides "$deb" >"$work/lintian.$arch" 2>&1 || {
		cat "$work/lintian.$arch"
		fail "lintian reports errors for $arch"
	}
	out=$(<"$work/lintian.$arch")
	echo "$out"
	echo "lintian: $(grep -c '^E:' <<<"$out") errors, $(grep -c '^W:' <<<"$out") warnings, $(grep -c '^O:' <<<"$out") overridden"

	[[ $(dpkg-deb -f "$deb" Architecture) == "$arch" ]] || fail "$deb says Architecture: $(dpkg-deb -f "$deb" Architecture)"
	# e_machine of the ELF header: 3e 00 is x86-64, b7 00 is AArch64.
	dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/dnsward >"$work/dnsward.$arch"
	machine=$(od -An -tx1 -j18 -N2 "$work/dnsward.$arch" | tr -d ' ')
	case $arch:$machine in
	amd64:3e00 | arm64:b700) ;;
	*) fail "/usr/bin/dnsward in the $arch package has ELF machine $machine" ;;
	esac
	# Owners and modes as packed; the installed ones are checked in the root.
	bad=$(dpkg-deb -c "$deb" | awk '$2 != "root/root" || ($1 !~ /^d/ && $1 != "-rw-r--r--" && $1 != "-rwxr-xr-x") || ($1 ~ /^d/ && $1 != "drwxr-xr-x")')
	[[ -z $bad ]] || fail "unexpected owner or mode in $arch package: $bad"
done

if [[ -n ${bootstrap_pid:-} ]]; then
	step "waiting for debootstrap"
	rc=0
	wait "$bootstrap_pid" || rc=$?
	bootstrap_pid=
	if ((rc != 0)); then
		tail -n 20 "$work/debootstrap.out" "$root/debootstrap/debootstrap.log" 2>/dev/null
		fail "debootstrap of $suite from $mirror failed (output above)"
	fi
	echo "debootstrap took $(($(stat -c %Y "$work/debootstrap.out") - bootstrap_epoch))s"
	rm "$root/etc/dpkg/dpkg.cfg.d/bootstrap-unsafe-io"
	if [[ -n ${DEB_TEST_ROOT_CACHE:-} ]]; then
		tar -czf "$DEB_TEST_ROOT_CACHE" -C "$root" .
	fi
fi

export outer_seconds=$SECONDS
bounded 300 unshare --net --mount --pid --fork --kill-child --mount-proc "$BASH" "$self" --inside
booted

step "all checks passed in ${SECONDS}s"
