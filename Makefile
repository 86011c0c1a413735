# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
CHECKS := sanity units pvesim integration ansible-lint yamllint changelog molecule build ee doc-lint tarball \
          sanity-oldest integration-oldest
.PHONY: demo test $(CHECKS) venv bench chaos clean docs release

demo:  ## start pvesim (3 nodes) and provision the demo fleet
	bash playbooks/demo/run.sh

test:  ## every check, in order, stopping at the first failure
	bash .ci/checks.sh all

$(CHECKS):
	bash .ci/checks.sh $@

docs:  ## the collection's HTML docs (antsibull-docs, Sphinx) in .work/docs/html
	bash .ci/checks.sh docs-html

release:  ## dist/: CHANGELOG.md, CHANGELOG.rst and the checked tarball for galaxy.yml's version (repo unchanged)
	bash .ci/checks.sh release

venv:
	source .ci/env.sh && setup_venv

chaos:  ## benchmark (not in make test): 30 VMs with -f 5 while 10% of all calls fail; no duplicate, no orphan
	source .ci/env.sh && setup_venv && sync_collection && python benchmarks/chaos.py $(CHAOS_ARGS)

bench:  ## benchmarks (not tests): pvesim throughput; pve.cloud next to community.proxmox 2.0.0; guest calls; upload memory; fleet scale
	bash benchmarks/bench.sh $(BENCH_ARGS)

clean:
	rm -rf .work tests/output .ansible collections dist
