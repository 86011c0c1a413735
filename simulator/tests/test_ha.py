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
