"""A node's load figures in /cluster/resources: the host's own share plus what its running guests use."""

GiB = 1024 ** 3


def nodes(api):
    return dict((e["node"], e) for e in api.ok("GET", "/cluster/resources", params={"type": "node"}))


def test_running_guests_load_their_node_and_a_migration_moves_the_load(api):
    idle = nodes(api)
    assert idle["pve1"]["mem"] == idle["pve1"]["maxmem"] // 8 and idle["pve1"]["cpu"] == 0.02
    api.create_vm(100, memory=8192, cores=4, scsi0="shared:4")
    assert nodes(api)["pve1"]["mem"] == idle["pve1"]["mem"]  # a stopped guest uses nothing
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    guest = [e for e in api.ok("GET", "/cluster/resources", params={"type": "vm"}) if e["vmid"] == 100][0]
    loaded = nodes(api)
    assert loaded["pve1"]["mem"] == idle["pve1"]["mem"] + guest["mem"] == idle["pve1"]["mem"] + 2 * GiB
    assert loaded["pve1"]["cpu"] == round(0.02 + guest["cpu"] * guest["maxcpu"] / loaded["pve1"]["maxcpu"], 4)
    api.run("POST", "/nodes/pve1/qemu/100/migrate", data={"target": "pve2", "online": 1})
    moved = nodes(api)
    assert moved["pve1"]["mem"] == idle["pve1"]["mem"] and moved["pve2"]["mem"] == loaded["pve1"]["mem"]
    assert moved["pve3"] == dict(moved["pve3"], mem=idle["pve3"]["mem"], cpu=0.02)
