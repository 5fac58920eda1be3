# shellcheck shell=bash
# Sourced by scripts/demo and scripts/bench. `wardd run` keeps
# ward.run/TENANT in every cgroup hierarchy for the runs that follow; a
# script that runs it on a shared machine leaves the cgroups as it found
# them: run_cgroups_mark before the first run, run_cgroups_restore at exit
# (rmdir only, deepest first: an empty cgroup made since the mark goes, a
# busy one stays).

run_cgroups_parents() {
	local h found=0
	for h in memory pids cpu cpuacct freezer; do
		if [ -d "/sys/fs/cgroup/$h" ]; then
			echo "/sys/fs/cgroup/$h/ward.run"
			found=1
		fi
	done
	[ $found = 1 ] || echo /sys/fs/cgroup/ward.run
}

run_cgroups_mark() {
	local p
	run_cgroups_before=$(for p in $(run_cgroups_parents); do
		if [ -d "$p" ]; then find "$p" -type d; fi
	done)
}

run_cgroups_restore() {
	local p d
	for p in $(run_cgroups_parents); do
		[ -d "$p" ] || continue
		find "$p" -depth -type d | while read -r d; do
			grep -qxF -- "$d" <<<"${run_cgroups_before:-}" || rmdir -- "$d" 2>/dev/null || true
		done
	done
}
