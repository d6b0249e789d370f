"""The CPU memory probe server, ``python -m metakan.bench.probe_server`` (started by CpuMemoryProbe)."""

from metakan.bench.peak import serve

serve()
