"""Offline stand-in for ansible-test's get-pip-<ver>.py bootstrap script.

ansible-test creates its sanity and units virtual environments without pip and then downloads
get-pip from a host that our machines cannot reach. It first looks in
~/.ansible/test/cache/get_pip_<version>.py, so .ci/env.sh puts this file there. It runs as
__main__ inside the new venv with arguments like `pip==25.2 --no-setuptools --no-wheel`.
"""
import subprocess
import sys

argv = sys.argv[1:]
no_setuptools = '--no-setuptools' in argv
no_wheel = '--no-wheel' in argv
args = [a for a in argv if a not in ('--no-setuptools', '--no-wheel')]

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '-q', '--upgrade', *args])
drop = [name for name, flag in (('setuptools', no_setuptools), ('wheel', no_wheel)) if flag]
if drop:
    subprocess.call([sys.executable, '-m', 'pip', 'uninstall', '-q', '-y', *drop],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
