# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
CHECKS := sanity units pvesim integration ansible-lint yamllint changelog molecule build ee \
          sanity-oldest integration-oldest
.PHONY: demo test $(CHECKS) venv bench clean

demo:  ## start pvesim (3 nodes) and provision the demo fleet
	bash playbooks/demo/run.sh

test:  ## every check, in order, stopping at the first failure
	bash .ci/checks.sh all

$(CHECKS):
	bash .ci/checks.sh $@

venv:
	source .ci/env.sh && setup_venv

bench:  ## benchmarks (not tests): pvesim throughput; pve.cloud next to community.proxmox 2.0.0 on pvesim
	bash benchmarks/bench.sh $(BENCH_ARGS)

clean:
	rm -rf .work tests/output .ansible collections dist
