"""Allocation: starts that do not fit are refused with resource, request and what is free; the
host view shows capacity, reservation, allocation and overcommit."""


def test_vcpu_overcommit_and_refusal(make_hvd):
    h = make_hvd(config="[allocation]\ncpu-overcommit = 1.5\nreserved-memory-mib = 0\n").start()
    host = h.hvctl_json("host")
    cap = host["vcpus_capacity"]
    assert cap == int(host["cpus_available"] * 1.5)
    h.hvctl("create", "big", "--vcpus", str(cap), check=True)
    h.hvctl("create", "one", "--vcpus", "1", check=True)
    h.hvctl("start", "big", check=True)
    p = h.hvctl("start", "one")
    assert p.returncode == 1
    assert f"not enough vCPUs: requested 1, free 0 (capacity {cap}" in p.stderr
    assert h.hvctl_json("info", "one")["state"] == "shutoff"
    host = h.hvctl_json("host")
    assert host["vcpus_allocated"] == cap and host["vcpus_free"] == 0
    h.hvctl("destroy", "big", check=True)
    h.hvctl("start", "one", check=True)
    assert h.hvctl_json("host")["vcpus_allocated"] == 1


def test_memory_refusal_names_request_and_free(make_hvd):
    h = make_hvd().start()
    host = h.hvctl_json("host")
    free = host["memory_free_mib"]
    h.hvctl("create", "huge", "--memory", str(free + 1), check=True)
    p = h.hvctl("start", "huge")
    assert p.returncode == 1
    assert f"not enough memory: requested {free + 1} MiB, free {free} MiB" in p.stderr
    assert h.db_query("SELECT COUNT(*) FROM allocations")[0][0] == 0


def test_allocation_rows_follow_states(hvd):
    hvd.hvctl("create", "x", "--vcpus", "2", "--memory", "100", check=True)
    hvd.hvctl("start", "x", check=True)
    assert hvd.db_query("SELECT vcpus, memory_mib FROM allocations") == [(2, 100)]
    hvd.hvctl("pause", "x", check=True)
    assert hvd.db_query("SELECT COUNT(*) FROM allocations")[0][0] == 1
    hvd.hvctl("destroy", "x", check=True)
    assert hvd.db_query("SELECT COUNT(*) FROM allocations")[0][0] == 0


def test_pinning_to_reserved_or_missing_cpus_is_refused(make_hvd):
    h = make_hvd(config="[allocation]\nreserved-cpus = 0\n").start()
    p = h.hvctl("create", "pin", "--cpuset", "0")
    assert p.returncode == 1
    assert "'cpuset' names CPU(s) 0" in p.stderr and "reserved for DOM0: 0" in p.stderr
    p = h.hvctl("create", "pin", "--cpuset", "512")
    assert p.returncode == 1 and "are not online" in p.stderr
    host = h.hvctl_json("host")
    assert host["cpus_reserved"] == "0"
    assert host["cpus_available"] == host["cpus"] - 1


def test_host_table_for_people(hvd):
    out = hvd.hvctl("host", check=True).stdout
    assert "RESOURCE" in out and "OVERCOMMIT" in out
    assert "vCPUs" in out and "memory" in out
    assert "kvm     available" in out
