"""What AWX does for the guide's job templates and inventory source, with ansible-runner against pvesim.

As an administrator (root token), prepare the cluster as docs/awx/README.md says: a user and a
privilege-separated token for jobs with the ACLs of docs/awx/pve-privileges.yml (qemu, qemu_info and
placement: what the fleet role runs), and a user with a password for inventory updates (the inventory
plugin's ACLs). Then, for each job, build a private data directory as AWX does: the project, the credential
type's injectors rendered in a Jinja2 sandbox, the CA written to a file under env/, the job template's extra
variables with the survey's answers, and run the roles' playbook with ansible-runner, with no PROXMOX_*
variable in the process environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
import tempfile

import ansible_runner
import requests
import yaml
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.environ['COLLECTION_ROOT']
AWX_DOCS = os.path.join(ROOT, 'docs', 'awx')
OUTPUT = os.environ['OUTPUT_DIR']
API = os.environ['PVESIM_URL'] + '/api2/json'
CA = os.environ['PROXMOX_CA_PATH']
ROOT_AUTH = {'Authorization': 'PVEAPIToken=%s=%s' % (os.environ['PROXMOX_TOKEN_ID'], os.environ['PROXMOX_TOKEN_SECRET'])}
# what a user types into the surveys; the rest are the surveys' defaults
# (the golden image's node: full clones onto the local storage local-lvm stay on the template's node)
ANSWERS = {'fleet_count': 2, 'fleet_node': 'pve1', 'fleet_disk_size': '8G', 'fleet_tags': 'awx,web',
           'fleet_ssh_keys': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOZtest ops@example.org\n'}
# the job templates of docs/awx/README.md: the roles' playbooks, with extra variables and a survey each
JOBS = {'provision': 'playbooks/provision_cluster.yml', 'teardown': 'playbooks/teardown.yml'}


def load(name):
    with open(os.path.join(AWX_DOCS, name)) as f:
        return yaml.safe_load(f)


INPUTS = load('credential-type-inputs.yml')
INJECTORS = load('credential-type-injectors.yml')
SANDBOX = ImmutableSandboxedEnvironment()
# for reading (never rendering) the job templates' Ansible templates: Jinja2 and the Ansible filters they use
ANSIBLE_TEMPLATES = ImmutableSandboxedEnvironment()
ANSIBLE_TEMPLATES.filters['combine'] = dict


def check_credential_type():
    """What AWX validates when the type is created: known field types, required fields exist, and the
    injectors use only the fields and tower.filename."""
    ids = [f['id'] for f in INPUTS['fields']]
    assert len(ids) == len(set(ids)), ids
    assert all(f['type'] in ('string', 'boolean') for f in INPUTS['fields'])
    assert set(INPUTS['required']) <= set(ids)
    assert set(INJECTORS) <= {'env', 'file', 'extra_vars'}
    assert all(k == 'template' or k.startswith('template.') for k in INJECTORS.get('file', {}))
    for tmpl in list(INJECTORS['env'].values()) + list(INJECTORS.get('file', {}).values()):
        unknown = meta.find_undeclared_variables(SANDBOX.parse(tmpl)) - set(ids) - {'tower'}
        assert not unknown, (tmpl, unknown)
    assert all(name.startswith('PROXMOX_') for name in INJECTORS['env'])


def check_guide():
    """The privilege table of the guide says what docs/awx/pve-privileges.yml says (which awx_privileges tests)."""
    spec = load('pve-privileges.yml')['modules']
    with open(os.path.join(AWX_DOCS, 'README.md')) as f:
        lines = f.read().split('\n')
    start = lines.index('| module | ACL path | privileges |') + 2
    table, module = {}, None
    for line in lines[start:]:
        if not line.startswith('|'):
            break
        cells = [c.strip() for c in line.strip('|').split('|')]
        if cells[0]:
            module = re.search(r'`pve\.cloud\.([a-z_]+)`', cells[0]).group(1)
        path = re.search(r'`([^`]+)`', cells[1]).group(1)
        privileges = set(re.findall(r'`([A-Z][A-Za-z]+\.[A-Za-z.]+)`', cells[2]))
        table[(module, path)] = frozenset(privileges)
    documented = dict(((module, entry["path"]), frozenset(entry["privileges"]))
                      for module, value in spec.items() for entry in value['acls'])
    assert table == documented, 'docs/awx/README.md and pve-privileges.yml disagree: %s' % sorted(
        set(table.items()) ^ set(documented.items()), key=str)


def template_variables(value):
    """The variables the Jinja templates in a YAML value use."""
    if isinstance(value, dict):
        return set().union(*[template_variables(v) for v in value.values()]) if value else set()
    if isinstance(value, list):
        return set().union(*[template_variables(v) for v in value]) if value else set()
    if isinstance(value, str) and '{{' in value:
        return meta.find_undeclared_variables(ANSIBLE_TEMPLATES.parse(value))
    return set()


def job_vars(job):
    """The extra vars AWX passes to a job: the job template's own extra variables, and for each survey question
    its answer or default (integers as integers). Every question feeds the extra variables, and they use no
    variable the survey does not ask for."""
    extra = load('extra-vars-%s.yml' % job)
    spec = load('survey-%s.yml' % job)['spec']
    asked = set(q['variable'] for q in spec)
    used = template_variables(extra)
    assert used == asked, 'extra-vars-%s.yml uses %s, survey-%s.yml asks for %s' % (job, sorted(used), job,
                                                                                    sorted(asked))
    out = dict(extra)
    for question in spec:
        var = question['variable']
        assert question['type'] in ('text', 'textarea', 'password', 'integer', 'float', 'multiplechoice',
                                    'multiselect'), question
        if question['type'] == 'multiplechoice':
            assert question['default'] in question['choices'], question
        value = ANSWERS.get(var, question.get('default'))
        out[var] = int(value) if question['type'] == 'integer' else value
    return out


def inject(inputs, private_data_dir):
    """The environment AWX gives a job for one credential of this type (as its inject_credential does:
    empty inputs are left out of the namespace, a missing boolean is false, each file template becomes a
    0600 file under env/ that tower.filename.<name> points at)."""
    namespace = dict((k, v) for k, v in inputs.items() if v or isinstance(v, bool))
    for field in INPUTS['fields']:
        if field['type'] == 'boolean':
            namespace.setdefault(field['id'], False)
    files = {}
    for label, tmpl in INJECTORS.get('file', {}).items():
        fd, path = tempfile.mkstemp(dir=os.path.join(private_data_dir, 'env'))
        with os.fdopen(fd, 'w') as f:
            f.write(SANDBOX.from_string(tmpl).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        files[label.partition('.')[2]] = path
    namespace['tower'] = {'filename': files}
    return dict((k, SANDBOX.from_string(v).render(**namespace)) for k, v in INJECTORS['env'].items())


def pve(method, url_path, **data):
    answer = requests.request(method, API + url_path, headers=ROOT_AUTH, verify=CA, timeout=30,
                              **({'params': data} if method == 'GET' else {'data': data}))
    assert answer.ok, (method, url_path, answer.status_code, answer.text)
    return answer.json()['data']


def grant(userid, modules, password=None, token=False):
    """User (and token) with the ACLs the guide gives for these modules, one role per path."""
    spec = load('pve-privileges.yml')['modules']
    pve('POST', '/access/users', userid=userid, **({'password': password} if password else {}))
    secret = pve('POST', '/access/users/%s/token/awx' % userid, privsep=1)['value'] if token else None
    paths = {}
    for module in modules:
        for entry in spec[module]['acls']:
            paths.setdefault(entry['path'], set()).update(entry['privileges'])
    for i, (path, privs) in enumerate(sorted(paths.items())):
        role = '%s_%d' % (userid.split('@')[0], i)
        pve('POST', '/access/roles', roleid=role, privs=','.join(sorted(privs)))
        pve('PUT', '/access/acl', path=path, roles=role, users=userid,
            **({'tokens': userid + '!awx'} if token else {}))
    return secret


def private_data_dir(name):
    """A job's directory as AWX lays it out: the project (this collection's playbooks), env/, inventory/."""
    pdd = os.path.join(OUTPUT, 'awx', name)
    shutil.rmtree(pdd, ignore_errors=True)
    os.makedirs(os.path.join(pdd, 'env'))
    os.makedirs(os.path.join(pdd, 'inventory'))
    shutil.copytree(os.path.join(ROOT, 'playbooks'), os.path.join(pdd, 'project', 'playbooks'))
    with open(os.path.join(pdd, 'inventory', 'hosts'), 'w') as f:
        f.write('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    return pdd


def run_job(job, credential, secrets):
    playbook = JOBS[job]
    pdd = private_data_dir(job)
    env = inject(credential, pdd)
    result = ansible_runner.run(private_data_dir=pdd, playbook=playbook, extravars=job_vars(job), envvars=env,
                                quiet=True)
    stdout = result.stdout.read()
    assert result.status == 'successful' and result.rc == 0, (playbook, result.status, stdout[-4000:])
    leak_check(pdd, secrets)
    stats = [e for e in result.events if e['event'] == 'playbook_on_stats'][-1]['event_data']
    return stats, stdout


def inventory_update(credential, secrets):
    pdd = private_data_dir('inventory')
    env = inject(credential, pdd)
    source = os.path.join(pdd, 'project', 'playbooks', 'awx', 'inventory', 'pve.proxmox.yml')
    out, err = ansible_runner.get_inventory('list', [source], response_format='json', export=True,
                                            private_data_dir=pdd, envvars=env, quiet=True)
    leak_check(pdd, secrets)
    assert isinstance(out, dict), (out, err)
    return out


def leak_check(pdd, secrets):
    """Nothing kept of a job (stdout, events, artifacts) carries a secret. env/ and the runner's `command`
    record are the job's input (AWX stores that environment with secrets masked)."""
    for base, _dirs, names in os.walk(pdd):
        if os.path.relpath(base, pdd).split(os.sep)[0] == 'env':
            continue
        for name in names:
            if name == 'command':
                continue
            with open(os.path.join(base, name), errors='replace') as f:
                text = f.read()
            for secret in secrets:
                assert secret not in text, 'a secret is in %s' % os.path.join(base, name)


def unwrap(value):
    """ansible-inventory (ansible-core 2.19+) writes untrusted strings as {"__ansible_unsafe": ...}."""
    if isinstance(value, dict):
        if set(value) == {'__ansible_unsafe'}:
            return value['__ansible_unsafe']
        return dict((k, unwrap(v)) for k, v in value.items())
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def main():
    check_credential_type()
    check_guide()
    with open(CA) as f:
        ca_pem = f.read()
    port = str(json.load(open(os.path.join(os.environ['PVESIM_STATE'], 'connection.json')))['port'])
    job_secret = grant('awx-jobs@pve', ['qemu', 'qemu_info', 'placement'], token=True)
    inventory_password = 'inventory-only-%d' % os.getpid()
    grant('awx-inventory@pve', ['proxmox'], password=inventory_password)
    job_credential = {'host': '127.0.0.1', 'port': port, 'token_id': 'awx-jobs@pve!awx', 'token_secret': job_secret,
                      'ca_cert': ca_pem}
    inventory_credential = {'host': '127.0.0.1', 'port': port, 'username': 'awx-inventory@pve',
                            'password': inventory_password, 'ca_cert': ca_pem}
    secrets = [job_secret, inventory_password, os.environ['PROXMOX_TOKEN_SECRET']]
    # AWX's job environment has no connection settings but the credential's; REQUESTS_CA_BUNDLE stays an
    # unrelated bundle, so only the injected CA file can make TLS verification pass.
    for name in [n for n in os.environ if n.startswith(('PROXMOX_', 'PVESIM_'))]:
        del os.environ[name]

    stats, _out = run_job('provision', job_credential, secrets)
    assert stats['changed'].get('localhost'), stats
    fleet = dict((g['name'], g) for g in pve('GET', '/cluster/resources', type='vm') if g.get('pool') == 'cloud')
    assert sorted(fleet) == ['web-01', 'web-02'], sorted(fleet)
    for name, guest in fleet.items():
        assert guest['status'] == 'running', guest
        assert set(guest['tags'].split(';')) == {'fleet-web', 'awx', 'web'}, guest
        assert pve('GET', '/nodes/%s/qemu/%s/config' % (guest['node'], guest['vmid']))['cores'] == 2, guest
    print('provision: fleet web of %s cloned and started' % dict((n, g['node']) for n, g in fleet.items()))

    stats, _out = run_job('provision', job_credential, secrets)
    assert not stats['changed'], stats
    print('provision again: changed=0')

    inventory = unwrap(inventory_update(inventory_credential, secrets))
    hostvars = inventory['_meta']['hostvars']
    assert sorted(hostvars) == ['web-01', 'web-02'], sorted(hostvars)
    for name, guest in fleet.items():
        agent = pve('GET', '/nodes/%s/qemu/%s/agent/network-get-interfaces' % (guest['node'], guest['vmid']))
        addresses = [a['ip-address'] for i in agent['result'] for a in i.get('ip-addresses', [])]
        assert hostvars[name]['ansible_host'] in addresses, (hostvars[name], addresses)
        assert hostvars[name]['proxmox_vmid'] == guest['vmid'], hostvars[name]
    assert sorted(inventory['proxmox_tag_awx']['hosts']) == ['web-01', 'web-02'], inventory.get('proxmox_tag_awx')
    print('inventory update (password login): %s' % dict((h, v['ansible_host']) for h, v in hostvars.items()))

    run_job('teardown', job_credential, secrets)
    stats, _out = run_job('teardown', job_credential, secrets)
    assert not stats['changed'], stats
    inventory = unwrap(inventory_update(inventory_credential, secrets))
    assert not inventory['_meta']['hostvars'], inventory['_meta']['hostvars']
    left = sorted(g['vmid'] for g in pve('GET', '/cluster/resources', type='vm'))
    assert left == [500, 9000], left
    print('teardown: both destroyed, again changed=0, inventory empty; the golden image and not-ours are untouched')


if __name__ == '__main__':
    main()
