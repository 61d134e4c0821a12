"""vmha's recovery-time benchmark (``tox -e bench``; see README "Benchmark").

It drives the real-Nova lab (tools/lab) exactly as the functional tests do:
servers on one host, the host powered off through its BMC, a real
vmha-monitor and real vmha-agents on Redis notice and recover it. Every
figure comes from the timestamps vmha itself recorded in its database,
compared with the same evacuations issued straight at Nova.

Pure modules (plan, phases, stats, targets, report) know nothing of the lab
and are unit-tested; the lab-touching ones (recovery_case, baseline,
monitor_load) hold the lab lock for one case at a time.
"""
