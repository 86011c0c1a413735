"""HA resources and rules as pve-ha-manager's API (src/PVE/API2/HA/Resources.pm, Rules.pm) answers them."""


def test_resource_defaults_and_requested_state(api):
    api.create_vm(100)
    api.ok("POST", "/cluster/ha/resources", data={"sid": "vm:100", "state": "enabled"})
    res = api.ok("GET", "/cluster/ha/resources/vm:100")
    assert (res["state"], res["max_restart"], res["max_relocate"], res["failback"]) == ("started", 1, 1, 1)
    # the manager starts a resource requested 'started' and stops one 'stopped' or 'disabled'
    assert api.ok("GET", "/nodes/pve1/qemu/100/status/current")["status"] == "running"
    api.ok("PUT", "/cluster/ha/resources/vm:100", data={"state": "disabled"})
    assert api.ok("GET", "/nodes/pve1/qemu/100/status/current")["status"] == "stopped"
    api.ok("PUT", "/cluster/ha/resources/vm:100", data={"state": "ignored"})
    assert api.ok("GET", "/nodes/pve1/qemu/100/status/current")["status"] == "stopped"
    api.ok("DELETE", "/cluster/ha/resources/vm:100")  # an ignored resource is still configured
    r = api.delete("/cluster/ha/resources/vm:100")
    assert r.status_code == 500 and r.reason == "cannot delete service 'vm:100', not HA managed!"


def test_rules(api):
    api.create_vm(100)
    api.create_vm(101)
    r = api.post("/cluster/ha/rules", data={"rule": "web", "type": "node-affinity", "resources": "vm:100",
                                            "nodes": "pve1:2,pve2"})
    assert r.status_code == 500 and r.reason == "cannot use unmanaged resource(s) vm:100."
    for sid in ("vm:100", "vm:101"):
        api.ok("POST", "/cluster/ha/resources", data={"sid": sid, "state": "stopped"})
    r = api.post("/cluster/ha/rules", data={"rule": "web", "type": "node-affinity", "resources": "vm:100",
                                            "nodes": "pve1:2,pve9"})
    assert r.status_code == 500 and r.reason == "cannot use non-existant node(s) pve9."
    api.ok("POST", "/cluster/ha/rules", data={"rule": "web", "type": "node-affinity", "resources": "vm:101,vm:100",
                                              "nodes": "pve2,pve1:2"})
    api.ok("POST", "/cluster/ha/rules", data={"rule": "apart", "type": "resource-affinity",
                                              "resources": "vm:100,vm:101", "affinity": "negative"})
    r = api.post("/cluster/ha/rules", data={"rule": "web", "type": "node-affinity", "resources": "vm:100",
                                            "nodes": "pve1"})
    assert r.status_code == 500 and r.reason == "HA rule 'web' already defined"
    rules = api.ok("GET", "/cluster/ha/rules")
    assert [x["rule"] for x in rules] == ["web", "apart"] and [x["order"] for x in rules] == [1, 2]
    web = api.ok("GET", "/cluster/ha/rules/web")
    assert (web["resources"], web["nodes"], web["strict"], web["disable"]) == ("vm:100,vm:101", "pve1:2,pve2", 0, 0)
    assert api.ok("GET", "/cluster/ha/rules", params={"type": "resource-affinity"})[0]["affinity"] == "negative"
    api.ok("PUT", "/cluster/ha/rules/web", data={"strict": 1, "nodes": "pve3", "digest": web["digest"]})
    r = api.put("/cluster/ha/rules/web", data={"strict": 0, "digest": web["digest"]})
    assert r.status_code == 500 and r.reason.startswith("detected modified configuration")
    assert api.ok("GET", "/cluster/ha/rules/web")["nodes"] == "pve3"
    r = api.put("/cluster/ha/rules/nope", data={"strict": 1})
    assert r.status_code == 500 and r.reason == "HA rule 'nope' does not exist"
    api.ok("DELETE", "/cluster/ha/rules/web")
    api.ok("DELETE", "/cluster/ha/rules/web")  # a missing rule is no error
    r = api.get("/cluster/ha/rules/web")
    assert r.status_code == 500 and r.reason == "no such ha rule 'web'"


# --- PVE 8.4 mode: HA groups instead of rules ---------------------------------------------------------------------

def test_pve8_version_and_routes(pvesim, api):
    pvesim.load_scenario({"version": "8.4"})
    assert api.ok("GET", "/version")["release"] == "8.4"
    assert api.ok("GET", "/nodes/pve1/version")["version"].startswith("8.4.")
    r = api.get("/cluster/ha/rules")
    assert r.status_code == 501 and r.reason == "Method 'GET /cluster/ha/rules' not implemented"
    assert {x["id"] for x in api.ok("GET", "/cluster/ha")} == {"groups", "resources", "status"}
    api.create_vm(100)
    # failback is a PVE 9 resource option; 8.4's schema refuses it like any unknown parameter
    r = api.post("/cluster/ha/resources", data={"sid": "vm:100", "failback": 0})
    assert r.status_code == 400 and r.json()["errors"] == {
        "failback": "property is not defined in schema and the schema does not allow additional properties"}
    api.ok("POST", "/cluster/ha/resources", data={"sid": "vm:100", "state": "stopped"})
    assert "failback" not in api.ok("GET", "/cluster/ha/resources/vm:100")
    pvesim.reset_state()
    assert api.ok("GET", "/version")["release"] == "9.2"
    r = api.get("/cluster/ha/groups/web")
    assert r.status_code == 501 and r.reason == "Method 'GET /cluster/ha/groups/web' not implemented"


def test_pve8_groups(pvesim, api):
    pvesim.load_scenario({"version": "8.4"})
    api.create_vm(100)
    api.ok("POST", "/cluster/ha/groups", data={"group": "web", "nodes": "pve2,pve1:2", "restricted": 1})
    r = api.post("/cluster/ha/groups", data={"group": "web", "nodes": "pve1"})
    assert r.status_code == 500 and r.reason == "create ha group failed: ha group ID 'web' already defined"
    web = api.ok("GET", "/cluster/ha/groups/web")
    assert (web["type"], web["nodes"], web["restricted"]) == ("group", "pve1:2,pve2", 1) and "nofailback" not in web
    assert [g["group"] for g in api.ok("GET", "/cluster/ha/groups")] == ["web"]
    r = api.post("/cluster/ha/resources", data={"sid": "vm:100", "group": "nope"})
    assert r.status_code == 500 and r.reason == "HA group 'nope' does not exist"
    api.ok("POST", "/cluster/ha/resources", data={"sid": "vm:100", "group": "web", "state": "stopped"})
    assert api.ok("GET", "/cluster/ha/resources/vm:100")["group"] == "web"
    api.ok("PUT", "/cluster/ha/groups/web", data={"nofailback": 1, "nodes": "pve3", "digest": web["digest"]})
    r = api.put("/cluster/ha/groups/web", data={"comment": "x", "digest": web["digest"]})
    assert r.status_code == 500 and r.reason.startswith("update ha group failed: detected modified configuration")
    r = api.put("/cluster/ha/groups/web", data={"delete": "nodes"})
    assert r.status_code == 500 and r.reason == "update ha group failed: unable to delete required option 'nodes'"
    assert api.ok("GET", "/cluster/ha/groups/web")["nodes"] == "pve3"
    r = api.delete("/cluster/ha/groups/web")
    assert r.status_code == 500 and r.reason == "delete ha group failed: ha group is used by service 'vm:100'"
    api.ok("PUT", "/cluster/ha/resources/vm:100", data={"delete": "group"})
    api.ok("DELETE", "/cluster/ha/groups/web")
    api.ok("DELETE", "/cluster/ha/groups/web")  # a missing group is no error
    r = api.get("/cluster/ha/groups/web")
    assert r.status_code == 500 and r.reason == "no such ha group 'web'"


# --- node failure: fence, then recovery -----------------------------------------------------------------------------

def _ha_services(api):
    return {x["sid"]: x for x in api.ok("GET", "/cluster/ha/status/current") if x["type"] == "service"}


def _guests(api):
    return {x["vmid"]: x for x in api.ok("GET", "/cluster/resources", params={"type": "vm"})}


def test_node_failure_recovers_ha_guests_by_rule(pvesim, api):
    for vmid in (100, 101, 102, 103):
        api.create_vm(vmid, node="pve1", scsi0="shared:8")
    for sid, state in (("vm:100", "started"), ("vm:101", "started"), ("vm:102", "disabled")):
        api.ok("POST", "/cluster/ha/resources", data={"sid": sid, "state": state})
    api.run("POST", "/nodes/pve1/qemu/103/status/start")  # running, not HA
    api.ok("POST", "/cluster/ha/rules", data={"rule": "prefer3", "type": "node-affinity", "resources": "vm:100",
                                              "nodes": "pve2:1,pve3:2"})
    pvesim.fault(kind="node_offline", node="pve1")
    assert _guests(api)[100]["status"] == "unknown"
    pvesim.advance(59)
    assert _ha_services(api)["vm:100"]["state"] == "started"
    pvesim.advance(1)  # NodeStatus.pm $fence_delay
    services = _ha_services(api)
    assert [services[s]["state"] for s in ("vm:100", "vm:101", "vm:102")] == ["fence", "fence", "disabled"]
    assert _guests(api)[100]["hastate"] == "fence"
    lrm = {x["node"]: x for x in api.ok("GET", "/cluster/ha/status/current") if x["type"] == "lrm"}
    assert "old timestamp - dead?" in lrm["pve1"]["status"]
    pvesim.advance(60)  # the dead node's agent lock expires: fenced, recovered
    guests = _guests(api)
    # vm:100 follows its rule to the highest priority; vm:101 (no rule) goes to the least used node by name
    assert (guests[100]["node"], guests[100]["status"], guests[100]["hastate"]) == ("pve3", "running", "started")
    assert (guests[101]["node"], guests[101]["status"]) == ("pve2", "running")
    assert (guests[102]["node"], guests[102]["status"]) == ("pve1", "unknown")  # disabled: not recovered
    assert (guests[103]["node"], guests[103]["status"]) == ("pve1", "unknown")  # not HA: stays on the dead node
    assert api.ok("GET", "/nodes/pve3/qemu/100/status/current")["status"] == "running"
    services = _ha_services(api)
    assert (services["vm:100"]["node"], services["vm:100"]["state"]) == ("pve3", "started")
    pvesim.clear_faults()  # pve1 is back; the watchdog reset it, so what ran there is stopped
    assert _guests(api)[103]["status"] == "stopped"
    assert _guests(api)[100]["node"] == "pve3"


def test_node_back_before_fencing_keeps_its_guests(pvesim, api):
    api.create_vm(100, node="pve2")
    api.ok("POST", "/cluster/ha/resources", data={"sid": "vm:100"})
    pvesim.fault(kind="node_offline", node="pve2")
    pvesim.advance(90)
    assert _ha_services(api)["vm:100"]["state"] == "fence"
    pvesim.clear_faults()
    pvesim.advance(200)
    guest = _guests(api)[100]
    assert (guest["node"], guest["status"], guest["hastate"]) == ("pve2", "running", "started")


def test_strict_rule_without_online_node_stays_in_recovery(pvesim, api):
    api.create_vm(100, node="pve1")
    api.ok("POST", "/cluster/ha/resources", data={"sid": "vm:100"})
    api.ok("POST", "/cluster/ha/rules", data={"rule": "only1", "type": "node-affinity", "resources": "vm:100",
                                              "nodes": "pve1", "strict": 1})
    pvesim.fault(kind="node_offline", node="pve1")
    pvesim.advance(300)
    assert _ha_services(api)["vm:100"]["state"] == "recovery" and _guests(api)[100]["node"] == "pve1"


def test_scenario_event_and_pve8_group_placement(pvesim, api):
    pvesim.load_scenario({
        "version": "8.4",
        "guests": [{"type": "qemu", "vmid": 100, "node": "pve1", "status": "running", "config": {"memory": 512}},
                   {"type": "lxc", "vmid": 200, "node": "pve1", "status": "running",
                    "config": {"rootfs": "local-lvm:1", "hostname": "ct"}}],
        "events": [{"at": 10, "node_offline": "pve1"}]})
    api.ok("POST", "/cluster/ha/groups", data={"group": "grp", "nodes": "pve2:1,pve3:5"})
    api.ok("POST", "/cluster/ha/resources", data={"sid": "ct:200", "group": "grp"})
    api.ok("POST", "/cluster/ha/resources", data={"sid": "vm:100", "state": "stopped"})
    pvesim.advance(9)
    assert api.ok("GET", "/cluster/resources", params={"type": "node"})[0]["status"] == "online"
    pvesim.advance(1)
    assert {x["node"]: x["status"] for x in api.ok("GET", "/cluster/resources", params={"type": "node"})}["pve1"] \
        == "offline"
    pvesim.advance(120)
    guests = _guests(api)
    assert (guests[200]["node"], guests[200]["status"]) == ("pve3", "running")
    # a 'stopped' resource is recovered too, and stays stopped
    assert (guests[100]["node"], guests[100]["status"]) == ("pve2", "stopped")
